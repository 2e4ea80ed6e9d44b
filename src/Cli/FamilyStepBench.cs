using Microsoft.FSharp.Core;
using Schedulers.Core;

namespace Schedulers.Cli;

/// <summary>
/// The steps of the compatible family, DPM-Solver and EDM Heun on the core backend at the large shape: each step's ns
/// per element, its ratio to a plain vectorised pass with the same reads and writes measured in the same run, and
/// the speed-up of two threads over one (<c>threads_speedup_&lt;name&gt;</c>). Both sides write into warm memory:
/// the steps run on a <see cref="DonatingBackend"/> and hand their outputs back after each call (as a donating loop
/// does), the pass writes into arrays made once, so the figures compare passes, not page faults of fresh arrays.
/// </summary>
internal sealed class FamilyStepBench
{
    private readonly Action<string, double, string> _metric;
    private readonly int[] _shape;
    private readonly int _n;
    private readonly NdArray _x;
    private readonly NdArray _m;
    private readonly IBackend<NdArray, PrngKey> Ops = new DonatingBackend();

    public FamilyStepBench(int[] shape, Action<string, double, string> metric)
    {
        _metric = metric;
        _shape = shape;
        _n = Prng.elementCount(shape);
        _x = NdArrayModule.normal(shape, Prng.key(11));
        _m = NdArrayModule.normal(shape, Prng.key(12));
    }

    /// <summary>Another input of the large shape: every array a step reads is its own, so the step's traffic is the
    /// traffic of the baseline pass it is compared with.</summary>
    private NdArray Fresh(int key) => NdArrayModule.normal(_shape, Prng.key(key));

    /// <summary>Each step with the reads and writes of its pass.</summary>
    private IEnumerable<(string Name, int Reads, int Writes, Action Step)> Steps()
    {
        foreach (var (name, reads, writes, step) in Made())
            yield return (name, reads, writes, () => Give(step()));
    }

    /// <summary>Hands a step's outputs back to the pool (never the inputs).</summary>
    private void Give(IEnumerable<NdArray> outputs)
    {
        foreach (var o in outputs.Distinct())
            if (!ReferenceEquals(o, _x) && !ReferenceEquals(o, _m)) Ops.Release(o);
    }

    /// <summary>Each step, returning what it made.</summary>
    private IEnumerable<(string Name, int Reads, int Writes, Func<IEnumerable<NdArray>> Step)> Made()
    {
        var ddim = Ddim.setTimesteps(20, Ddim.create(Ddim.defaults));
        var t = ddim.Timesteps[5];
        yield return ("ddim", 2, 2, () =>
        {
            var r = Ddim.stepOn(Ops, ddim, _m, t, _x, 0.0, false, FSharpValueOption<FSharpFunc<Unit, NdArray>>.None);
            return [r.PrevSample, r.PredOriginalSample];
        });

        var euler = Euler.setTimesteps(20, Euler.create(Euler.defaults));
        euler = Euler.setBeginIndex(5, euler);
        var te = euler.Timesteps[5];
        yield return ("euler", 2, 2, () =>
        {
            var r = Euler.stepOn(Ops, euler, _m, te, _x, Euler.noChurn, FSharpValueOption<FSharpFunc<Unit, NdArray>>.None).Item1;
            return [r.PrevSample, r.PredOriginalSample];
        });
        yield return ("euler_scale_model_input", 1, 1, () => [Euler.scaleModelInputOn(Ops, euler, _x, te).Item1]);

        // LMS at order 4 with three derivatives already kept: x, ε and three derivatives in; prev, x0 and d out.
        var lms = Lms.setTimesteps(20, Lms.create<NdArray>(Lms.defaults));
        for (var i = 0; i < 3; i++) lms = Lms.stepOn(Ops, lms, _m, lms.Timesteps[i], _x, 4).State;
        var tl = lms.Timesteps[3];
        yield return ("lms", 5, 3, () =>
        {
            var r = Lms.stepOn(Ops, lms, _m, tl, _x, 4);
            return [r.PrevSample, r.PredOriginalSample, r.State.Derivatives[^1]];
        });

        // PNDM's fourth-order PLMS step: x, three kept outputs and ε in; prev out.
        var pndmConfig = PndmConfig.Schema.SetValue("skip_prk_steps", true, PndmConfig.Schema.Defaults);
        var pndm = Pndm.setTimesteps(20, Pndm.create<NdArray>(pndmConfig));
        for (var i = 0; i < 5; i++) pndm = Pndm.stepOn(Ops, pndm, Fresh(40 + i), pndm.Timesteps[i], _x).Item1;
        var tp = pndm.Timesteps[5];
        yield return ("pndm_plms", 5, 1, () => [Pndm.stepOn(Ops, pndm, _m, tp, _x).Item2.PrevSample]);

        // DPM-Solver++ 2M: the conversion and the second-order update; x, ε and the kept output in, x0 and prev out.
        var dpm = DpmSolverMultistep.setBeginIndex(0, DpmSolverMultistep.setTimesteps(20, DpmSolverMultistep.create<NdArray>(DpmSolverConfig.Schema.Defaults)));
        dpm = DpmSolverMultistep.step(Ops, _m, dpm.Timesteps[0], _x, dpm).Item2;
        var td = dpm.Timesteps[1];
        yield return ("dpm2m", 3, 2, () =>
        {
            var (prev, next) = DpmSolverMultistep.step(Ops, _m, td, _x, dpm);
            return [prev, next.ModelOutputs[^1]!.Value];
        });

        // EDM Heun: the Euler stage (x, D in; x_next, d out) and the correction (x, d, x_euler, D' in; x_next out).
        var heun = EdmHeun.setTimesteps(20, EdmHeun.createState(EdmHeun.defaults));
        var eulerPlan = EdmHeun.eulerPlan(heun, 5);
        var heunPlan = EdmHeun.heunPlan(heun, 5)!.Value;
        yield return ("heun_euler", 2, 2, () =>
        {
            var (next, d) = EdmHeun.eulerStep(Ops, eulerPlan, _x, _m);
            return [next, d];
        });
        var (heunX, heunD) = (Fresh(50), Fresh(51));
        yield return ("heun_correction", 4, 1, () => [EdmHeun.heunStep(Ops, heunPlan, _x, heunD, heunX, _m)]);

        // The steps with noise, each drawn from a JAX key inside the step's pass (its cost includes the normal: see
        // <name>_noise_overhead_passes).
        foreach (var noisy in Noisy()) yield return noisy;
    }

    /// <summary>The steps that draw JAX normals inside their pass, with their reads and writes (the normal not counted).</summary>
    private IEnumerable<(string Name, int Reads, int Writes, Func<IEnumerable<NdArray>> Step)> Noisy()
    {
        var key = FuncConvert.FromFunc<Unit, PrngKey>(_ => Prng.key(5));
        var source = StepNoise<NdArray, PrngKey>.NewSource(key);
        var some = FSharpValueOption<StepNoise<NdArray, PrngKey>>.NewValueSome(source);

        var ddpm = Ddpm.setTimesteps(20, Ddpm.create(Ddpm.defaults));
        var tq = ddpm.Timesteps[5];
        yield return ("ddpm", 2, 2, () =>
        {
            var r = Ddpm.stepWith(Ops, ddpm, _m, tq, _x, source);
            return [r.PrevSample, r.PredOriginalSample];
        });

        var ddim = Ddim.setTimesteps(20, Ddim.create(Ddim.defaults));
        var t = ddim.Timesteps[5];
        yield return ("ddim_eta", 2, 2, () =>
        {
            var r = Ddim.stepWith(Ops, ddim, _m, t, _x, 1.0, false, some);
            return [r.PrevSample, r.PredOriginalSample];
        });

        var euler = Euler.setBeginIndex(5, Euler.setTimesteps(20, Euler.create(Euler.defaults)));
        var te = euler.Timesteps[5];
        var churn = new EulerChurn(40.0, 0.0, double.PositiveInfinity, 1.0);
        yield return ("euler_churn", 2, 2, () =>
        {
            var r = Euler.stepWith(Ops, euler, _m, te, _x, churn, some).Item1;
            return [r.PrevSample, r.PredOriginalSample];
        });

        // SDE-DPM-Solver++ 2M: x, ε and the kept output in, x0 and prev out, the noise drawn inside the pass.
        var config = DpmSolverConfig.Schema.SetValue("algorithm_type", "sde-dpmsolver++", DpmSolverConfig.Schema.Defaults);
        var sde = DpmSolverMultistep.setBeginIndex(0, DpmSolverMultistep.setTimesteps(20, DpmSolverMultistep.create<NdArray>(config)));
        sde = DpmSolverMultistep.stepOn(Ops, Prng.key(6), FSharpValueOption<NdArray>.None, _m, sde.Timesteps[0], _x, sde).State;
        var ts = sde.Timesteps[1];
        yield return ("dpm_sde2m", 3, 2, () =>
        {
            var r = DpmSolverMultistep.stepOn(Ops, Prng.key(7), FSharpValueOption<NdArray>.None, _m, ts, _x, sde);
            return [r.PrevSample, r.State.ModelOutputs[^1]!.Value];
        });
    }

    public void Run()
    {
        var previous = KernelSettings.MaxThreads;
        var noisy = Noisy().Select(n => n.Name).ToHashSet();
        try
        {
            KernelSettings.MaxThreads = 1;
            var (fresh, warm) = NormalNs();
            _metric("normal_fresh_ns_per_elem", fresh / _n, "ns");
            _metric("normal_fill_ns_per_elem", warm / _n, "ns");
            foreach (var (name, reads, writes, step) in Steps())
            {
                KernelSettings.MaxThreads = 1;
                var ns = QuickBench.MedianNs(step, 3, 9, 2);
                var pass = PassNs(reads, writes);
                _metric($"{name}_step_ns_per_elem", ns / _n, "ns");
                _metric($"{name}_step_vs_pass_ratio", ns / pass, "x");
                // A step with noise against the normal's own cost: what it adds, in passes (goal: at most 0.5), against
                // jax.random.normal's fresh array and against a fill of warm memory.
                if (noisy.Contains(name))
                {
                    _metric($"{name}_noise_overhead_passes", (ns - fresh) / pass, "x");
                    _metric($"{name}_noise_overhead_passes_warm", (ns - warm) / pass, "x");
                }
                KernelSettings.MaxThreads = 2;
                var two = QuickBench.MedianNs(step, 3, 9, 2);
                _metric($"threads_speedup_{name}", ns / two, "x");
            }
        }
        finally
        {
            KernelSettings.MaxThreads = previous;
        }
    }

    /// <summary>JAX's normal of the large shape, one thread: as <c>jax.random.normal</c> returns it (a new array), and
    /// filled into an array made once (without a fresh array's page faults, as a donated buffer is written).</summary>
    private (double Fresh, double Warm) NormalNs()
    {
        var into = new float[_n];
        var key = Prng.key(5);
        var fresh = QuickBench.MedianNs(() => Prng.normal(_shape, key), 3, 9, 2);
        var warm = QuickBench.MedianNs(() => Prng.normalBlockInto(ThreefryMode.Partitionable, key, _n, 0, into), 3, 9, 2);
        return (fresh, warm);
    }

    /// <summary>
    /// Where two threads start to pay: DDIM's step (one program pass) at sizes from 2^12 to 2^21 elements on one
    /// thread and on two with the parallel threshold lowered to the smallest (so two threads really split the pass);
    /// reports the smallest size from which two threads were never slower, and the threshold the kernels use.
    /// </summary>
    public void RunCrossover()
    {
        var previousThreads = KernelSettings.MaxThreads;
        var previousThreshold = KernelSettings.ParallelThreshold;
        var ddim = Ddim.setTimesteps(20, Ddim.create(Ddim.defaults));
        var t = ddim.Timesteps[5];
        int? crossover = null;
        try
        {
            KernelSettings.ParallelThreshold = 1024;
            for (var log = 21; log >= 12; log--)
            {
                var n = 1 << log;
                var x = NdArrayModule.normal([n], Prng.key(31));
                var m = NdArrayModule.normal([n], Prng.key(32));
                void Step() => Give(new[] { Ddim.stepOn(Ops, ddim, m, t, x, 0.0, false, FSharpValueOption<FSharpFunc<Unit, NdArray>>.None) }
                    .SelectMany(r => new[] { r.PrevSample, r.PredOriginalSample }));
                var inner = Math.Max(3, (1 << 22) / n);
                KernelSettings.MaxThreads = 1;
                var one = QuickBench.MedianNs(Step, inner, 7, 2);
                KernelSettings.MaxThreads = 2;
                var two = QuickBench.MedianNs(Step, inner, 7, 2);
                if (two > one) break;
                crossover = n;
            }
        }
        finally
        {
            KernelSettings.MaxThreads = previousThreads;
            KernelSettings.ParallelThreshold = previousThreshold;
        }
        _metric("threads_crossover_elems", crossover ?? double.PositiveInfinity, "elems");
        _metric("threads_parallel_threshold_elems", KernelSettings.ParallelThreshold, "elems");
    }

    /// <summary>A plain vectorised pass reading <paramref name="reads"/> arrays and writing <paramref name="writes"/>
    /// (made once): the memory cost a one-pass step cannot beat.</summary>
    private double PassNs(int reads, int writes)
    {
        var inputs = Enumerable.Range(0, reads).Select(k => NdArrayModule.normal(_shape, Prng.key(20 + k)).ToArray()).ToArray();
        var outputs = Enumerable.Range(0, writes).Select(_ => new float[_n]).ToArray();
        return QuickBench.MedianNs(() => MemoryBaseline.Pass(inputs, outputs), 3, 9, 2);
    }
}
