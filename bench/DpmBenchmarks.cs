using System.Reflection;
using BenchmarkDotNet.Attributes;
using Microsoft.FSharp.Core;
using Schedulers.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Schedulers.Bench;

/// <summary>DPM-Solver++ (solver_order 3, 20 steps): one update of order 1, 2 and 3 through the core and through the
/// shell on TorchSharp CPU, and a whole 20-step loop with a trivial model (ε = x) through the core.</summary>
[MemoryDiagnoser]
public class DpmBenchmarks
{
    private static readonly DpmSolverConfig Config = DpmSolverConfig.Schema.SetValue("solver_order", 3, DpmSolverConfig.Schema.Defaults);
    private static readonly IBackend<NdArray, PrngKey> Ops = NdArrayBackend.Default;
    private NdArray _sample = NdArrayModule.zeros(new[] { 1 }), _model = NdArrayModule.zeros(new[] { 1 });
    private Tensor _tSample = zeros(1), _tModel = zeros(1);
    private DpmSolverState<NdArray> _start = DpmSolverMultistep.create<NdArray>(Config);
    private readonly DpmSolverState<NdArray>[] _core = new DpmSolverState<NdArray>[3];
    private readonly DpmSolverState<Tensor>[] _shellStates = new DpmSolverState<Tensor>[3];
    private DPMSolverMultistepScheduler _shell = new(Config);
    private Action<DPMSolverMultistepScheduler, DpmSolverState<Tensor>> _restore = (_, _) => { };

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

    /// <summary>The order of the measured update.</summary>
    [Params(1, 2, 3)]
    public int Order { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        BenchShapes.UseThreads(Threads);
        var shape = BenchShapes.Of(Shape);
        var longShape = shape.Select(d => (long)d).ToArray();
        _sample = NdArrayModule.normal(shape, Prng.key(1));
        _model = NdArrayModule.normal(shape, Prng.key(2));
        _tSample = tensor(_sample.ToArray(), longShape);
        _tModel = tensor(_model.ToArray(), longShape);
        // States before steps 0, 1 and 2: their updates have order 1, 2 and 3 (the history fills up).
        _start = DpmSolverMultistep.setTimesteps(20, DpmSolverMultistep.create<NdArray>(Config));
        var s = DpmSolverMultistep.setBeginIndex(0, _start);
        _shell = new DPMSolverMultistepScheduler(Config);
        _shell.SetTimesteps(20);
        _shell.SetBeginIndex(0);
        for (int k = 0; k < 3; k++)
        {
            _core[k] = s;
            _shellStates[k] = _shell.State;
            s = DpmSolverMultistep.step(Ops, _model, s.Timesteps[k], _sample, s).Item2;
            _shell.Step(_tModel, _shell.State.Timesteps[k], _tSample);
        }
        var setter = typeof(DPMSolverMultistepScheduler).GetProperty(nameof(DPMSolverMultistepScheduler.State))!.GetSetMethod(nonPublic: true)!;
        _restore = setter.CreateDelegate<Action<DPMSolverMultistepScheduler, DpmSolverState<Tensor>>>();
    }

    /// <summary>Core: one update of the given order.</summary>
    [Benchmark]
    public NdArray StepCore()
    {
        var s = _core[Order - 1];
        return DpmSolverMultistep.step(Ops, _model, s.Timesteps[Order - 1], _sample, s).Item1;
    }

    /// <summary>Shell: one update of the given order on TorchSharp CPU tensors.</summary>
    [Benchmark]
    public void StepShell()
    {
        _restore(_shell, _shellStates[Order - 1]);
        _shell.Step(_tModel, _shellStates[Order - 1].Timesteps[Order - 1], _tSample).PrevSample.Dispose();
    }

    /// <summary>Core: the whole 20-step loop with the trivial model ε = x (measured once per Order value).</summary>
    [Benchmark]
    public NdArray Loop20Core() =>
        MultistepSampling.run(Ops, Prng.key(9), FuncConvert.FromFunc<NdArray, long, NdArray>((x, _) => x), FuncConvert.FromAction<StepProgress<DpmStepResult<NdArray>>>(_ => { }), _sample, _start).Item1;
}
