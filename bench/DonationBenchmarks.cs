using BenchmarkDotNet.Attributes;
using Microsoft.FSharp.Core;
using Schedulers.Core;

namespace Schedulers.Bench;

/// <summary>
/// A loop of each one-program scheduler (DDIM, Euler, LMS, DPM-Solver++ 2M) with a trivial model, on the core backend
/// and on the donating backend (<see cref="DonatingBackend"/>): the memory diagnoser's bytes allocated per loop — the
/// step's output arrays (megabytes at 16×3×256×256) every step without donation, a fixed set with it
/// (<see cref="FullLoop"/> from a fresh backend, <see cref="LoopWarm"/> in steady state).
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

    /// <summary>The loop's steps: the difference between two step counts, divided by their difference, is what one more
    /// step allocates.</summary>
    [Params(50, 200)]
    public int Steps { get; set; } = 50;

    /// <summary>Whether the loop donates its released buffers.</summary>
    [Params(false, true)]
    public bool Donate { get; set; }

    private DonatingBackend _warm = new();

    /// <summary>The sample, one thread, and a donating backend whose pool one loop has filled.</summary>
    [GlobalSetup]
    public void Setup()
    {
        BenchShapes.UseThreads(1);
        _sample = NdArrayModule.normal(BenchShapes.Of(Shape), Prng.key(1));
        _warm = new DonatingBackend();
        LoopWarm();
    }

    private NdArray Run<TState, TOutput>(IScheduler<TState, NdArray, TOutput> scheduler, IBackend<NdArray, PrngKey> ops, NdArray sample)
    {
        var state = scheduler.SetTimesteps(Steps, sample.Shape, scheduler.Create(Flavour.Torch));
        var model = FuncConvert.FromFunc<NdArray, ModelQuery, NdArray>((x, _) => ops.Combine(new[] { (Coef.NewScalar(0.5f), x) }));
        var stream = FuncConvert.FromFunc<PrngKey, ValueTuple<PrngKey, PrngKey>>(k => (k, k));
        var ignore = FuncConvert.FromAction<StepProgress<TOutput>>(_ => { });
        return Loop.run(scheduler, ops, model, stream, Prng.key(2), ignore, state, sample).Sample;
    }

    /// <summary>The loop of <see cref="Steps"/> steps.</summary>
    [Benchmark]
    public NdArray FullLoop()
    {
        IBackend<NdArray, PrngKey> ops = Donate ? new DonatingBackend() : NdArrayBackend.Default;
        return RunOn(ops);
    }

    /// <summary>
    /// The loop in steady state: on one donating backend kept across calls, its result handed back after each loop, so
    /// every array a step makes comes from the pool. What remains per call is the arrays that leave the loop with its
    /// final state (the last x0, a multistep history) and each step's plans, programs and records: run with
    /// <c>Steps</c> 50 and 200, the difference divided by 150 is what one step allocates.
    /// </summary>
    [Benchmark]
    public NdArray LoopWarm()
    {
        if (!Donate) return FullLoop();
        var result = RunOn(_warm);
        ((IBackend<NdArray, PrngKey>)_warm).Release(result);
        return result;
    }

    private NdArray RunOn(IBackend<NdArray, PrngKey> ops) =>
        Scheduler switch
        {
            "ddim" => Run(Ddim.scheduler<NdArray>(Ddim.defaults), ops, _sample),
            "euler" => Run(Euler.scheduler<NdArray>(Euler.defaults), ops, _sample),
            "lms" => Run(Lms.scheduler<NdArray>(Lms.defaults), ops, _sample),
            _ => Run(DpmSolverMultistep.scheduler<NdArray>(DpmSolverConfig.Schema.Defaults), ops, _sample),
        };
}
