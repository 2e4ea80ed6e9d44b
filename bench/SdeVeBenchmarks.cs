using BenchmarkDotNet.Attributes;
using Schedulers.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Schedulers.Bench;

/// <summary>ScoreSdeVe <c>step_pred</c> and <c>step_correct</c>: the core (Flax flavour, JAX-exact noise), the shell on
/// TorchSharp CPU (torch flavour, torch.Generator), and diffusers' step written as plain TorchSharp ops.</summary>
[MemoryDiagnoser]
public class SdeVeBenchmarks
{
    private NdArray _sample = NdArrayModule.zeros(new[] { 1 }), _model = NdArrayModule.zeros(new[] { 1 });
    private Tensor _tSample = zeros(1), _tModel = zeros(1), _discreteSigmas = zeros(1);
    private ScoreSdeVeState _state = ScoreSdeVe.emptyWith(Flavour.Flax);
    private ScoreSdeVeScheduler _shell = new();
    private Generator _generator = new(0);
    private float _t;
    private int _length;
    private long[] _shape = Array.Empty<long>();

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
        _shape = shape.Select(d => (long)d).ToArray();
        _sample = NdArrayModule.normal(shape, Prng.key(1));
        _model = NdArrayModule.normal(shape, Prng.key(2));
        var config = ScoreSdeVe.defaults;
        _state = ScoreSdeVe.setSigmas(config, 10, ScoreSdeVe.setTimesteps(config, 10, ScoreSdeVe.createState(config)));
        _t = _state.Timesteps!.Value[3];
        _tSample = tensor(_sample.ToArray(), _shape);
        _tModel = tensor(_model.ToArray(), _shape);
        _shell = new ScoreSdeVeScheduler();
        _shell.SetTimesteps(10);
        _shell.SetSigmas(10);
        _discreteSigmas = tensor(_shell.State.DiscreteSigmas!.Value);
        _length = _shell.State.Timesteps!.Value.Length;
        _generator = new Generator(0);
    }

    /// <summary>Core <c>step_pred</c>: one fused pass drawing the JAX noise block by block.</summary>
    [Benchmark]
    public NdArray PredCore() => ScoreSdeVe.stepPred(_state, _model, _t, _sample, Prng.key(5)).PrevSample;

    /// <summary>Core <c>step_correct</c> (Flax norms).</summary>
    [Benchmark]
    public NdArray CorrectCore() => ScoreSdeVe.stepCorrect(ScoreSdeVe.defaults, _state, _model, _sample, Prng.key(5)).PrevSample;

    /// <summary>Shell <c>StepPred</c> on TorchSharp CPU tensors.</summary>
    [Benchmark]
    public void PredShell()
    {
        var o = _shell.StepPred(_tModel, _t, _tSample, _generator);
        o.PrevSample.Dispose();
        o.PrevSampleMean.Dispose();
    }

    /// <summary>Shell <c>StepCorrect</c> on TorchSharp CPU tensors.</summary>
    [Benchmark]
    public void CorrectShell() => _shell.StepCorrect(_tModel, _tSample, _generator).PrevSample.Dispose();

    /// <summary>diffusers' <c>step_pred</c> transcribed op for op into TorchSharp (what a direct port does).</summary>
    [Benchmark(Baseline = true)]
    public void PredPlainTorch()
    {
        using var scope = NewDisposeScope();
        var timesteps = _t * ones(_shape[0]);
        var idx = (timesteps * (_length - 1)).@long();
        var sigma = _discreteSigmas[idx];
        var adjacent = where(timesteps == 0, zeros_like(timesteps), _discreteSigmas[idx - 1]);
        var drift = zeros_like(_tSample);
        var diffusion = (sigma.pow(2) - adjacent.pow(2)).pow(0.5).flatten();
        while (diffusion.dim() < _tSample.dim()) diffusion = diffusion.unsqueeze(-1);
        drift = drift - diffusion.pow(2) * _tModel;
        var noise = randn(_shape, generator: _generator);
        var prevMean = _tSample - drift;
        _ = prevMean + diffusion * noise;
    }
}
