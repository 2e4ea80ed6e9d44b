using System.Diagnostics;
using Schedulers.Evaluation;
using TorchSharp;
using static TorchSharp.torch;

namespace Schedulers.Cli.Training;

/// <summary>What <c>schedulers train --target digits</c> was asked to do.</summary>
public sealed record DigitsTrainRequest
{
    /// <summary>Optimiser steps.</summary>
    public int Steps { get; init; } = 5000;
    /// <summary>Images per step (drawn with replacement from the 1797).</summary>
    public int BatchSize { get; init; } = 64;
    /// <summary>Seed of the initialisation, the batches, σ and the noise.</summary>
    public uint Seed { get; init; }
    /// <summary>Convolution channels.</summary>
    public int Channels { get; init; } = 32;
    /// <summary>Residual blocks.</summary>
    public int Blocks { get; init; } = 2;
    /// <summary>Peak learning rate of Adam (cosine-annealed to 1% of it).</summary>
    public double LearningRate { get; init; } = 2e-3;
    /// <summary>Decay of the exponential moving average of the weights that is saved.</summary>
    public double EmaDecay { get; init; } = 0.999;
    /// <summary>torch intra-op threads (1: the weights are the same bits for a seed).</summary>
    public int Threads { get; init; } = 1;
}

/// <summary>The trained network (its weights the moving average) and how the loss went.</summary>
public sealed record DigitsTrainResult(DigitsDenoiser Model, double InitialLoss, double FinalLoss, TimeSpan Elapsed);

/// <summary>EDM training of a <see cref="DigitsDenoiser"/> on the digits (Karras et al. 2022, §5 and Table 1): per
/// step a batch of real images x0, σ per image, z ~ N(0, I), and the loss λ(σ)·‖D(x0 + σz; σ) − x0‖² with
/// λ = 1/c_out², i.e. ‖F − (x0 − c_skip·x)/c_out‖², whose target has unit variance at every σ. σ is EDM's log-normal
/// (ln σ ~ N(−1.2, 1.2²)) for four images in five and log-uniform on [0.002, 200] for the fifth: the samplers ask
/// for σ up to 157 (the VP schedule's σ at t = 999) and down to 0.002 (EDM's σ_min), which the log-normal alone
/// rarely shows the network. Adam with a cosine learning rate; the saved weights are an exponential moving average
/// of the iterates (EDM's EMA), which samples better than the last iterate.</summary>
public static class DigitsTraining
{
    /// <summary>Images of the fixed held-out loss set (each real image at one σ and one z).</summary>
    public const int HeldOutImages = 1797;

    private const double LogNormalMean = -1.2, LogNormalStd = 1.2, UniformShare = 0.2;
    private static readonly double LogMin = Math.Log(0.002), LogMax = Math.Log(200);

    /// <summary>σ for a batch: log-normal or, with probability <see cref="UniformShare"/>, log-uniform.</summary>
    private static Tensor DrawSigma(int n, Generator generator)
    {
        var u = rand([n], generator: generator);
        var g = randn([n], generator: generator);
        var pick = rand([n], generator: generator);
        var logNormal = g * LogNormalStd + LogNormalMean;
        var logUniform = u * (LogMax - LogMin) + LogMin;
        return where(pick < UniformShare, logUniform, logNormal).exp();
    }

    private static Tensor Loss(DigitsDenoiser model, Tensor x0, Tensor sigma, Tensor z)
    {
        var x = x0 + sigma.unsqueeze(1) * z;
        var (skip, output) = model.Scalings(sigma);
        return (model.Raw(x, sigma) - (x0 - skip * x) / output).square().mean();
    }

    /// <summary>The loss on every real image once, at σ and z drawn from generator seed + 2³² (apart from the
    /// training stream), so losses before and after training are measured on the same points.</summary>
    public static double HeldOutLoss(DigitsDenoiser model, Tensor images, uint seed)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var generator = new Generator((ulong)seed + (1UL << 32));
        var sigma = DrawSigma((int)images.shape[0], generator);
        var z = randn(images.shape, generator: generator);
        return Loss(model, images, sigma, z).item<float>();
    }

    /// <summary>All real images as a float32 tensor [1797, 64].</summary>
    public static Tensor ImagesTensor(DigitsData data) =>
        tensor(data.Images.ToArray(), [data.Count, Digits.Pixels], ScalarType.Float32).clone();

    /// <summary>Trains a network. One torch CPU generator seeded with the seed draws the initialisation, then per step
    /// the batch indices, σ and z; with one thread the weights are the same bits for the same request on the same
    /// libtorch build. <paramref name="onStep"/> gets (step, loss).</summary>
    public static DigitsTrainResult Train(DigitsTrainRequest r, Action<int, double>? onStep = null)
    {
        var clock = Stopwatch.StartNew();
        int previousThreads = torch.get_num_threads();
        torch.set_num_threads(r.Threads);
        try
        {
            var data = Digits.load();
            using var images = ImagesTensor(data);
            var architecture = new DigitsArchitecture
            {
                Channels = r.Channels, Blocks = r.Blocks, SigmaData = Math.Round(Digits.sigmaData(data), 6),
                Steps = r.Steps, BatchSize = r.BatchSize, Seed = r.Seed,
            };
            using var generator = new Generator((ulong)r.Seed);
            var model = new DigitsDenoiser(architecture);
            model.Initialise(generator);
            var average = new DigitsDenoiser(architecture);
            CopyInto(average, model, 0.0);
            double initial = HeldOutLoss(model, images, r.Seed);
            model.train();
            using var optimizer = optim.Adam(model.parameters(), r.LearningRate);
            var schedule = optim.lr_scheduler.CosineAnnealingLR(optimizer, r.Steps, r.LearningRate / 100);
            for (int step = 0; step < r.Steps; step++)
            {
                Tensor loss;
                using (var scope = NewDisposeScope())
                {
                    var rows = randint(0, data.Count, [r.BatchSize], generator: generator);
                    var x0 = images.index_select(0, rows);
                    var sigma = DrawSigma(r.BatchSize, generator);
                    var z = randn([r.BatchSize, Digits.Pixels], generator: generator);
                    loss = Loss(model, x0, sigma, z).MoveToOuterDisposeScope();
                }
                // The optimiser's step runs outside the scope: its state tensors live across steps.
                optimizer.zero_grad();
                loss.backward();
                optimizer.step();
                schedule.step();
                // The average starts slow (decay min(d, (1 + step)/(10 + step))) so early iterates do not dominate it.
                CopyInto(average, model, Math.Min(r.EmaDecay, (1.0 + step) / (10.0 + step)));
                double value = loss.item<float>();
                loss.Dispose();
                if (!double.IsFinite(value))
                    throw new InvalidOperationException($"the loss became {value} at step {step}; lower the learning rate");
                onStep?.Invoke(step, value);
            }
            model.Dispose();
            average.eval();
            return new DigitsTrainResult(average, initial, HeldOutLoss(average, images, r.Seed), clock.Elapsed);
        }
        finally
        {
            torch.set_num_threads(previousThreads);
        }
    }

    /// <summary>target ← decay·target + (1 − decay)·source, parameter by parameter.</summary>
    private static void CopyInto(DigitsDenoiser target, DigitsDenoiser source, double decay)
    {
        using var noGrad = no_grad();
        foreach (var (t, s) in target.parameters().Zip(source.parameters()))
            t.mul_(decay).add_(s, alpha: 1 - decay);
    }

    /// <summary>The weights' bytes (TorchSharp <c>module.save</c>).</summary>
    public static byte[] WeightsBytes(DigitsDenoiser model)
    {
        var stream = new MemoryStream();
        model.save(stream);
        return stream.ToArray();
    }

    /// <summary>Writes the weights to <paramref name="path"/> and the architecture with the final loss, the weights'
    /// size and SHA-256 to <c>&lt;path&gt;.json</c>, the sidecar last (it is the pair's manifest: the old one is
    /// removed first, so a run killed midway leaves weights without a sidecar, which the loader refuses).</summary>
    public static DigitsArchitecture Save(DigitsTrainResult result, string path)
    {
        File.Delete(DigitsArchitecture.SidecarOf(path));
        var bytes = WeightsBytes(result.Model);
        AtomicFile.WriteAllBytes(path, bytes);
        var sidecar = result.Model.Architecture with
        {
            FinalLoss = Math.Round(result.FinalLoss, 6),
            WeightsBytes = bytes.LongLength,
            WeightsSha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes)),
        };
        AtomicFile.WriteAllBytes(DigitsArchitecture.SidecarOf(path), sidecar.ToBytes());
        return sidecar;
    }
}
