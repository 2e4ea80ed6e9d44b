using BenchmarkDotNet.Attributes;
using Microsoft.FSharp.Core;
using Schedulers.Core;

namespace Schedulers.Bench;

/// <summary>
/// A 50-step loop of each one-program scheduler (DDIM, Euler, LMS, DPM-Solver++ 2M) with a trivial model, on the core
/// backend and on the donating backend (<see cref="DonatingBackend"/>): the memory diagnoser's bytes allocated per
/// loop, divided by 50, are the bytes per step — a few kilobytes of plans and records with donation, against the
/// step's output arrays (megabytes at 16×3×256×256) without it.
/// </summary>
[MemoryDiagnoser]
public class DonationBenchmarks
{
    private NdArray _sample = NdArrayModule.zeros(new[] { 1 });

    /// <summary>The sample shape.</summary>
    [ParamsSource(nameof(ShapeNames))]
    public string Shape { get; set; } = "4x3x8x8";

    /// <summary>The shape names.</summary>
    public static IEnumerable<string> ShapeNames => BenchShapes.Names;

    /// <summary>The scheduler.</summary>
    [Params("ddim", "euler", "lms", "dpm")]
    public string Scheduler { get; set; } = "ddim";

    /// <summary>Whether the loop donates its released buffers.</summary>
    [Params(false, true)]
    public bool Donate { get; set; }

    /// <summary>The sample, one thread.</summary>
    [GlobalSetup]
    public void Setup()
    {
        BenchShapes.UseThreads(1);
        _sample = NdArrayModule.normal(BenchShapes.Of(Shape), Prng.key(1));
    }

    private static NdArray Run<TState, TOutput>(IScheduler<TState, NdArray, TOutput> scheduler, IBackend<NdArray, PrngKey> ops, NdArray sample)
    {
        var state = scheduler.SetTimesteps(50, sample.Shape, scheduler.Create(Flavour.Torch));
        var model = FuncConvert.FromFunc<NdArray, ModelQuery, NdArray>((x, _) => ops.Combine(new[] { (Coef.NewScalar(0.5f), x) }));
        var stream = FuncConvert.FromFunc<PrngKey, ValueTuple<PrngKey, PrngKey>>(k => (k, k));
        var ignore = FuncConvert.FromAction<StepProgress<TOutput>>(_ => { });
        return Loop.run(scheduler, ops, model, stream, Prng.key(2), ignore, state, sample).Sample;
    }

    /// <summary>The 50-step loop.</summary>
    [Benchmark]
    public NdArray Loop50()
    {
        IBackend<NdArray, PrngKey> ops = Donate ? new DonatingBackend() : NdArrayBackend.Default;
        return Scheduler switch
        {
            "ddim" => Run(Ddim.scheduler<NdArray>(Ddim.defaults), ops, _sample),
            "euler" => Run(Euler.scheduler<NdArray>(Euler.defaults), ops, _sample),
            "lms" => Run(Lms.scheduler<NdArray>(Lms.defaults), ops, _sample),
            _ => Run(DpmSolverMultistep.scheduler<NdArray>(DpmSolverConfig.Schema.Defaults), ops, _sample),
        };
    }
}
