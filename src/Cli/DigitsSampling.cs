using Microsoft.FSharp.Core;
using Schedulers.Cli.Models;
using Schedulers.Core;
using Schedulers.Evaluation;
using Schedulers.Models;

namespace Schedulers.Cli;

/// <summary>What <c>sample</c> and <c>compare</c> share for <c>--target digits</c>: the data, its stand-in target (the
/// shape and σ range the samplers read), the denoiser as every family's model output (through
/// <see cref="ModelConversion.fromNetwork"/>: the network's D(x; σ) is an x0 model conditioned on σ), the classifier
/// and the real-half floor of the quality measure.</summary>
public static class DigitsSampling
{
    /// <summary>The <c>--target</c> name.</summary>
    public const string TargetName = "digits";

    /// <summary>Images a <c>sample</c> run draws unless told otherwise (the Fréchet fit of 64 features wants several
    /// hundred).</summary>
    public const int DefaultSamples = 1000;

    private static readonly Lazy<GaussianMixture> LazyStandIn = new(() => Digits.standIn(Digits.load()));
    private static readonly Lazy<double> LazyFloor = new(() => DigitsQuality.realHalves(DigitsClassifiers.shippedClassifier(), Digits.load()));

    /// <summary>Whether a <c>--target</c> value names the digits.</summary>
    public static bool IsDigits(string? name) => string.Equals(name, TargetName, StringComparison.OrdinalIgnoreCase);

    /// <summary>The data's stand-in target (<see cref="Digits.standIn"/>).</summary>
    public static GaussianMixture StandIn => LazyStandIn.Value;

    /// <summary>The real-half-vs-real-half distance (<see cref="DigitsQuality.realHalves"/>) with the shipped classifier.</summary>
    public static double Floor => LazyFloor.Value;

    /// <summary>The shipped model, or the file <paramref name="path"/> of <c>schedulers train --target digits</c>; a
    /// file that does not load is a usage error naming <c>--model</c>.</summary>
    public static DigitsDenoiserModel LoadModel(string? path)
    {
        if (path is null) return DigitsDenoiserModel.Shipped();
        try { return DigitsDenoiserModel.Load(path); }
        catch (ModelException m) { throw new UsageException($"--model: {m.Message}"); }
    }

    /// <summary>The sampling model of a denoiser: its batch evaluated in one call (a conv net row by row would be
    /// slow), read as x0 at σ. A sample is then the same bits for a seed and batch size on one machine; another
    /// batch size may change the network's rounding (libtorch picks its kernels by shape), not the noise.</summary>
    public static SamplingModel ModelOf(IDenoiserModel network) =>
        ModelConversion.fromNetwork(FuncConvert.FromFunc<NdArray, float[], NdArray>(network.Forward), ModelOutputKind.X0, ModelInputKind.Sigma);

    /// <summary>Draws images <paramref name="count"/> with <paramref name="sampler"/> (global indices 0 … count − 1, so
    /// a larger run starts with the images of a smaller one). The network runs on one torch thread: its calls are
    /// serialised anyway, the batches' other work runs in parallel beside it, and libtorch's OpenMP threads spinning
    /// on a busy core made a run ten times slower.</summary>
    public static NdArray Sample(TargetSampler sampler, SamplingModel model, int steps, uint seed, int count, int batchSize, Action<long>? advance = null)
    {
        int previousThreads = TorchSharp.torch.get_num_threads();
        TorchSharp.torch.set_num_threads(1);
        try
        {
            return SampleRun.Run(sampler, StandIn, steps, seed, 0, count, batchSize, advance, model);
        }
        catch (AggregateException a) when (a.InnerException is ModelException inner)
        {
            throw inner;
        }
        catch (AggregateException a) when (a.InnerException is ArgumentException inner)
        {
            throw new UsageException(SamplerConfigs.Clean(inner));
        }
        finally
        {
            TorchSharp.torch.set_num_threads(previousThreads);
        }
    }

    /// <summary>The quality report of generated images against all real ones.</summary>
    public static DigitsReport Evaluate(NdArray images) =>
        DigitsQuality.evaluate(DigitsClassifiers.shippedClassifier(), Digits.load(), images);
}
