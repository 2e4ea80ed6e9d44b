using BenchmarkDotNet.Attributes;
using Schedulers.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Schedulers.Bench;

/// <summary>One KarrasVe iteration (churn, Euler step, Heun correction) through the core and through the shell.</summary>
[MemoryDiagnoser]
public class KarrasVeBenchmarks
{
    private NdArray _sample = NdArrayModule.zeros(new[] { 1 }), _model = NdArrayModule.zeros(new[] { 1 });
    private Tensor _tSample = zeros(1), _tModel = zeros(1);
    private KarrasVeState _state = KarrasVe.createState(Flavour.Flax, KarrasVe.defaults);
    private KarrasVeScheduler _shell = new();
    private Generator _generator = new(0);

    /// <summary>The sample shape.</summary>
    [ParamsSource(nameof(ShapeNames))]
    public string Shape { get; set; } = "4x3x8x8";

    /// <summary>The shape names.</summary>
    public static IEnumerable<string> ShapeNames => BenchShapes.Names;

    /// <summary>Threads: 1, or 0 for every processor.</summary>
    [ParamsSource(nameof(ThreadSettings))]
    public int Threads { get; set; }

    /// <summary>The thread settings.</summary>
    public static IEnumerable<int> ThreadSettings => BenchShapes.ThreadSettings;

    [GlobalSetup]
    public void Setup()
    {
        BenchShapes.UseThreads(Threads);
        var shape = BenchShapes.Of(Shape);
        var longShape = shape.Select(d => (long)d).ToArray();
        _sample = NdArrayModule.normal(shape, Prng.key(1));
        _model = NdArrayModule.normal(shape, Prng.key(2));
        _state = KarrasVe.setTimesteps(50, KarrasVe.createState(Flavour.Flax, KarrasVe.defaults));
        _tSample = tensor(_sample.ToArray(), longShape);
        _tModel = tensor(_model.ToArray(), longShape);
        _shell = new KarrasVeScheduler();
        _shell.SetTimesteps(50);
        _generator = new Generator(0);
    }

    /// <summary>Core: add_noise_to_input, step, step_correct at a σ inside the churn range.</summary>
    [Benchmark]
    public NdArray ChurnStepCorrectCore()
    {
        var (sigma, sigmaPrev) = KarrasVe.sigmasAt(_state, 20).ToTuple();
        var noised = KarrasVe.addNoiseToInput(_state, _sample, sigma, Prng.key(3));
        var step = KarrasVe.step(_state, _model, noised.SigmaHat, sigmaPrev, noised.SampleHat);
        return KarrasVe.stepCorrect(_state, _model, noised.SigmaHat, sigmaPrev, noised.SampleHat, step.PrevSample, step.Derivative).PrevSample;
    }

    /// <summary>Shell: the same iteration on TorchSharp CPU tensors with a torch.Generator.</summary>
    [Benchmark]
    public void ChurnStepCorrectShell()
    {
        using var scope = NewDisposeScope();
        var (sigma, sigmaPrev) = _shell.SigmasAt(20);
        var noised = _shell.AddNoiseToInput(_tSample, sigma, _generator);
        var step = _shell.Step(_tModel, noised.SigmaHat, sigmaPrev, noised.SampleHat);
        _shell.StepCorrect(_tModel, noised.SigmaHat, sigmaPrev, noised.SampleHat, step.PrevSample, step.Derivative);
    }
}
