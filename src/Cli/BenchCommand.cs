using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Schedulers.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Schedulers.Cli;

/// <summary>
/// <c>schedulers bench --quick</c>: a run of well under a minute that times the step kernels against plain TorchSharp
/// ops and the memory baseline, and prints one <c>metric NAME VALUE UNIT</c> line per figure (medians after warm-up).
/// docs/performance.md explains every figure.
/// </summary>
internal sealed class BenchCommand : ToolSubcommand<BenchCommand>, IToolSubcommand
{
    /// <inheritdoc/>
    public static Command Create(TextWriter? output = null, TextWriter? error = null)
    {
        var quick = new Option<bool>("--quick") { Description = "The short run (the only one; the full suite is bench/, BenchmarkDotNet)." };
        var threads = new Option<int>("--threads") { Description = "Threads for the default-thread figures (0: all processors).", DefaultValueFactory = _ => 0 };
        var command = new Command("bench", "Time scheduler steps, JAX-exact noise and the memory baseline; print `metric name value unit` lines.")
        {
            quick,
            threads,
        };
        return WithAction(command, output, error, NoFailures, run =>
        {
            if (!run.Parse.GetValue(quick))
                throw new UsageException("only --quick is available here; run the BenchmarkDotNet suite in bench/ for the full tables");
            var all = run.Parse.GetValue(threads) is > 0 and var t ? t : Environment.ProcessorCount;
            new QuickBench(run.Output, all).Run();
            return 0;
        });
    }
}

/// <summary>The measurements of <c>bench --quick</c>.</summary>
internal sealed class QuickBench
{
    private static readonly int[] Large = { 16, 3, 256, 256 };
    private static readonly int[] Small = { 4, 3, 8, 8 };
    private readonly TextWriter _out;
    private readonly int _allThreads;

    public QuickBench(TextWriter output, int allThreads)
    {
        _out = output;
        _allThreads = allThreads;
    }

    private void Metric(string name, double value, string unit) =>
        _out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"metric {name} {value:G4} {unit}"));

    /// <summary>The median time of one call in nanoseconds: <paramref name="warmup"/> calls, then
    /// <paramref name="reps"/> timed batches of <paramref name="inner"/> calls each.</summary>
    internal static double MedianNs(Action action, int inner, int reps, int warmup)
    {
        for (int i = 0; i < warmup; i++) action();
        var samples = new double[reps];
        for (int r = 0; r < reps; r++)
        {
            var start = Stopwatch.GetTimestamp();
            for (int i = 0; i < inner; i++) action();
            samples[r] = Stopwatch.GetElapsedTime(start).TotalNanoseconds / inner;
        }
        Array.Sort(samples);
        return samples[reps / 2];
    }

    public void Run()
    {
        var previousThreads = KernelSettings.MaxThreads;
        torch.set_num_threads(1);
        KernelSettings.MaxThreads = 1;
        try
        {
            // The core's small-shape figures first: once TorchSharp has run, its native threads keep competing for the
            // cores for a while after each op, which would be charged to the core's microsecond-scale calls.
            RunSmallCore();
            RunLarge();
            RunRandn();
            RunSmallTorch();
            KernelSettings.MaxThreads = _allThreads;
            torch.set_num_threads(_allThreads);
            RunDefaultThreads();
        }
        finally
        {
            KernelSettings.MaxThreads = previousThreads;
        }
    }

    private static (ScoreSdeVeState State, float Timestep) SdeState(Flavour flavour)
    {
        var config = ScoreSdeVe.defaults;
        var state = ScoreSdeVe.setTimestepsWith(config, 10, null, ScoreSdeVe.createStateWith(flavour, config));
        state = ScoreSdeVe.setSigmasWith(config, 10, null, null, null, state);
        return (state, state.Timesteps!.Value[3]);
    }

    /// <summary>The core's Flax-flavour step_pred on random inputs of one shape (the same inputs for every figure).</summary>
    private sealed class CoreStep
    {
        public CoreStep(int[] shape)
        {
            Count = Prng.elementCount(shape);
            Sample = NdArrayModule.normal(shape, Prng.key(1));
            Model = NdArrayModule.normal(shape, Prng.key(2));
            (State, Timestep) = SdeState(Flavour.Flax);
        }

        public int Count { get; }
        public NdArray Sample { get; }
        public NdArray Model { get; }
        public ScoreSdeVeState State { get; }
        public float Timestep { get; }
        public PrngKey Key { get; } = Prng.key(7);

        /// <summary>The median time of one step_pred call in nanoseconds (<see cref="MedianNs"/>).</summary>
        public double PredNs(int inner, int reps, int warmup) =>
            MedianNs(() => ScoreSdeVe.stepPred(State, Model, Timestep, Sample, Key), inner, reps, warmup);
    }

    private void RunLarge()
    {
        var step = new CoreStep(Large);
        var (n, sample, model, key) = (step.Count, step.Sample, step.Model, step.Key);

        // Core step_pred (Flax flavour: JAX-exact noise drawn inside the fused pass).
        var core = step.PredNs(3, 9, 3);
        Metric("sde_step_pred_core_ns_per_elem", core / n, "ns");

        // The same step as plain TorchSharp ops, as a direct port of diffusers' step_pred would write it.
        var torchNs = PlainTorchStepNs(Large, 3, 9);
        Metric("sde_step_pred_torch_ns_per_elem", torchNs / n, "ns");
        Metric("sde_step_pred_core_vs_torch_ratio", core / torchNs, "x");

        // The shell's StepPred on TorchSharp CPU tensors (torch flavour, torch.Generator noise).
        Metric("sde_step_pred_shell_ns_per_elem", ShellStepNs(Large, 3, 9) / n, "ns");

        // JAX-exact normal generation into an existing buffer: table path, and the computed path for reference.
        var buffer = new float[n];
        var normal = MedianNs(() => Prng.normalBlockInto(ThreefryMode.Partitionable, key, n, 0, buffer), 3, 9, 2);
        Metric("normal_jax_ns_per_elem", normal / n, "ns");
        var useTable = KernelSettings.UseNormalTable;
        KernelSettings.UseNormalTable = true;
        var table = MedianNs(() => Prng.normalBlockInto(ThreefryMode.Partitionable, key, n, 0, buffer), 3, 9, 2);
        KernelSettings.UseNormalTable = useTable;
        Metric("normal_jax_table_ns_per_elem", table / n, "ns");
        var computed = MedianNs(() => Prng.normalBlockIntoComputed(ThreefryMode.Partitionable, key, n, 0, buffer), 3, 9, 2);
        Metric("normal_jax_computed_ns_per_elem", computed / n, "ns");
        var bits = new uint[n];
        var bitsNs = MedianNs(() => Prng.bitsBlockInto(ThreefryMode.Partitionable, key, n, 0, bits), 3, 9, 2);
        Metric("bits_jax_ns_per_elem", bitsNs / n, "ns");

        // The noise-free fused update (3 reads, 2 writes) against a plain 3-read/2-write pass over the same arrays.
        var x0 = sample.ToArray();
        var x1 = model.ToArray();
        var z = Prng.normal(Large, Prng.key(3));
        var mean = new float[n];
        var prev = new float[n];
        var fused = MedianNs(() => FusedKernels.combineThenAdd(1f, x0, 0.25f, x1, 0.5f, z, mean, prev), 5, 15, 3);
        var copy = MedianNs(() => MemoryBaseline.Copy3Read2Write(x0, x1, z, mean, prev), 5, 15, 3);
        Metric("fused_update_ns_per_elem", fused / n, "ns");
        Metric("copy_3r2w_ns_per_elem", copy / n, "ns");
        Metric("fused_update_vs_copy_ratio", fused / copy, "x");
        RunDpm(n, sample, model);
        var family = new FamilyStepBench(Large, Metric);
        family.Run();
        family.RunCrossover();
    }

    /// <summary>DPM-Solver++ (solver_order 3, 20 steps) on the core: one update of each order from the states
    /// before steps 0, 1 and 2, and the whole loop with the trivial model ε = x.</summary>
    private void RunDpm(int n, NdArray sample, NdArray model)
    {
        var config = DpmSolverConfig.Schema.SetValue("solver_order", 3, DpmSolverConfig.Schema.Defaults);
        IBackend<NdArray, PrngKey> ops = NdArrayBackend.Default;
        var start = DpmSolverMultistep.setTimesteps(20, DpmSolverMultistep.create<NdArray>(config));
        var s = DpmSolverMultistep.setBeginIndex(0, start);
        for (int k = 0; k < 3; k++)
        {
            var state = s;
            var t = state.Timesteps[k];
            var ns = MedianNs(() => DpmSolverMultistep.step(ops, model, t, sample, state), 3, 7, 2);
            Metric(k == 1 ? "dpm_step_core_ns_per_elem" : $"dpm_step_order{k + 1}_core_ns_per_elem", ns / n, "ns");
            s = DpmSolverMultistep.step(ops, model, t, sample, state).Item2;
        }
        var identity = Microsoft.FSharp.Core.FuncConvert.FromFunc<NdArray, long, NdArray>((x, _) => x);
        var ignore = Microsoft.FSharp.Core.FuncConvert.FromAction<StepProgress<DpmStepResult<NdArray>>>(_ => { });
        var loop = MedianNs(() => MultistepSampling.run(ops, Prng.key(9), identity, ignore, sample, start), 1, 3, 1);
        Metric("dpm_loop20_core_ms", loop / 1e6, "ms");
    }

    private void RunSmallCore()
    {
        var step = new CoreStep(Small);
        // Per-call cost at 4×3×8×8 (768 elements): the fixed overhead of a step.
        var core = step.PredNs(2000, 15, 2000);
        Metric("step_overhead_small_us", core / 1000, "us");
        // The same step with the noise given: the fixed cost without the 768 normals.
        var z = NdArrayModule.normal(Small, Prng.key(3));
        var ops = NdArrayBackend.Default;
        var given = MedianNs(() => ScoreSdeVe.stepPredWithNoise(ops, step.State, step.Model, step.Timestep, step.Sample, z), 2000, 15, 2000);
        Metric("step_overhead_small_given_noise_us", given / 1000, "us");
    }

    private void RunSmallTorch()
    {
        Metric("step_overhead_small_shell_us", ShellStepNs(Small, 300, 15) / 1000, "us");
        Metric("step_overhead_small_torch_us", PlainTorchStepNs(Small, 300, 15) / 1000, "us");
    }

    private void RunDefaultThreads()
    {
        var step = new CoreStep(Large);
        Metric($"sde_step_pred_core_{_allThreads}threads_ns_per_elem", step.PredNs(3, 9, 3) / step.Count, "ns");
        Metric($"sde_step_pred_torch_{_allThreads}threads_ns_per_elem", PlainTorchStepNs(Large, 3, 9) / step.Count, "ns");

    }

    /// <summary>torch's CPU <c>randn</c> stream on the large shape, one thread each: the core's managed generator
    /// against TorchSharp's <c>torch.randn</c> (a new array or tensor per draw), then both filling a buffer they reuse
    /// (<c>TorchCpu.randnInto</c> against <c>Tensor.normal_</c>); and the managed CUDA (Philox) stream.</summary>
    private void RunRandn()
    {
        var n = Large.Aggregate(1, (a, d) => a * d);
        var longShape = Large.Select(d => (long)d).ToArray();
        var cpu = TorchCpu.manualSeed(0);
        // Small draws first, so the managed code is measured at its optimised tier, not its first compilation.
        for (int i = 0; i < 200; i++) TorchCpu.randn(4096, cpu);
        Metric("torch_cpu_randn_managed_ns_per_elem", MedianNs(() => TorchCpu.randn(n, cpu), 1, 9, 2) / n, "ns");
        using (var generator = new Generator(0))
            Metric("torch_cpu_randn_torchsharp_ns_per_elem", MedianNs(() => randn(longShape, generator: generator).Dispose(), 1, 9, 2) / n, "ns");
        var buffer = new float[n];
        Metric("torch_cpu_randn_into_managed_ns_per_elem", MedianNs(() => TorchCpu.randnInto(buffer, cpu), 1, 9, 2) / n, "ns");
        using (var generator = new Generator(0))
        using (var target = empty(longShape))
            Metric("torch_cpu_normal_inplace_torchsharp_ns_per_elem", MedianNs(() => target.normal_(generator: generator), 1, 9, 2) / n, "ns");
        var cuda = TorchCuda.manualSeed(CudaDevices.H100Sxm, 0);
        Metric("torch_cuda_randn_managed_ns_per_elem", MedianNs(() => TorchCuda.randn(n, cuda), 1, 5, 1) / n, "ns");
    }

    /// <summary>diffusers' <c>ScoreSdeVeScheduler.step_pred</c> transcribed op for op into TorchSharp.</summary>
    internal static double PlainTorchStepNs(int[] shape, int inner, int reps)
    {
        var longShape = shape.Select(d => (long)d).ToArray();
        using var sample = randn(longShape);
        using var model = randn(longShape);
        var (state, t) = SdeState(Flavour.Torch);
        using var discreteSigmas = tensor(state.DiscreteSigmas!.Value);
        using var generator = new Generator(0);
        var length = state.Timesteps!.Value.Length;
        return MedianNs(() =>
        {
            using var scope = NewDisposeScope();
            var timesteps = t * ones(shape[0]);
            var idx = (timesteps * (length - 1)).@long();
            var sigma = discreteSigmas[idx];
            var adjacent = where(timesteps == 0, zeros_like(timesteps), discreteSigmas[idx - 1].to(timesteps.device));
            var drift = zeros_like(sample);
            var diffusion = (sigma.pow(2) - adjacent.pow(2)).pow(0.5).flatten();
            while (diffusion.dim() < sample.dim()) diffusion = diffusion.unsqueeze(-1);
            drift = drift - diffusion.pow(2) * model;
            var noise = randn(longShape, generator: generator);
            var prevMean = sample - drift;
            var prev = prevMean + diffusion * noise;
            prev.MoveToOuterDisposeScope().Dispose();
        }, inner, reps, Math.Max(2, inner));
    }

    /// <summary>The shell's <see cref="ScoreSdeVeScheduler.StepPred(Tensor, double, Tensor, Generator?)"/>.</summary>
    internal static double ShellStepNs(int[] shape, int inner, int reps)
    {
        var longShape = shape.Select(d => (long)d).ToArray();
        using var sample = randn(longShape);
        using var model = randn(longShape);
        var scheduler = new ScoreSdeVeScheduler();
        scheduler.SetTimesteps(10);
        scheduler.SetSigmas(10);
        var t = scheduler.State.Timesteps!.Value[3];
        using var generator = new Generator(0);
        return MedianNs(() =>
        {
            var output = scheduler.StepPred(model, t, sample, generator);
            output.PrevSample.Dispose();
            output.PrevSampleMean.Dispose();
        }, inner, reps, Math.Max(2, inner));
    }
}

/// <summary>The memory baseline: a pass reading three float32 arrays and writing two, vectorised.</summary>
internal static class MemoryBaseline
{
    /// <summary>
    /// Reads every array of <paramref name="inputs"/> (1–6) and writes every array of <paramref name="outputs"/> (1–3),
    /// all of one length: output j = the sum of the inputs plus j, vector by vector, each array addressed directly (no
    /// bounds checks, no inner loops over the arrays) — the least work a pass with these reads and writes can do, so
    /// its time is the memory traffic.
    /// </summary>
    public static void Pass(float[][] inputs, float[][] outputs)
    {
        if (inputs.Length is < 1 or > 6 || outputs.Length is < 1 or > 3)
            throw new ArgumentException("the baseline pass reads 1-6 arrays and writes 1-3");
        var n = inputs[0].Length;
        var reads = inputs.Length;
        var writes = outputs.Length;
        ref var i0 = ref MemoryMarshal.GetArrayDataReference(inputs[0]);
        ref var i1 = ref MemoryMarshal.GetArrayDataReference(inputs[Math.Min(1, reads - 1)]);
        ref var i2 = ref MemoryMarshal.GetArrayDataReference(inputs[Math.Min(2, reads - 1)]);
        ref var i3 = ref MemoryMarshal.GetArrayDataReference(inputs[Math.Min(3, reads - 1)]);
        ref var i4 = ref MemoryMarshal.GetArrayDataReference(inputs[Math.Min(4, reads - 1)]);
        ref var i5 = ref MemoryMarshal.GetArrayDataReference(inputs[Math.Min(5, reads - 1)]);
        ref var o0 = ref MemoryMarshal.GetArrayDataReference(outputs[0]);
        ref var o1 = ref MemoryMarshal.GetArrayDataReference(outputs[Math.Min(1, writes - 1)]);
        ref var o2 = ref MemoryMarshal.GetArrayDataReference(outputs[Math.Min(2, writes - 1)]);
        var one = System.Numerics.Vector<float>.One;
        var two = one + one;
        var w = (nuint)System.Numerics.Vector<float>.Count;
        nuint i = 0;
        for (; i + w <= (nuint)n; i += w)
        {
            var s = System.Numerics.Vector.LoadUnsafe(ref i0, i);
            if (reads > 1) s += System.Numerics.Vector.LoadUnsafe(ref i1, i);
            if (reads > 2) s += System.Numerics.Vector.LoadUnsafe(ref i2, i);
            if (reads > 3) s += System.Numerics.Vector.LoadUnsafe(ref i3, i);
            if (reads > 4) s += System.Numerics.Vector.LoadUnsafe(ref i4, i);
            if (reads > 5) s += System.Numerics.Vector.LoadUnsafe(ref i5, i);
            System.Numerics.Vector.StoreUnsafe(s, ref o0, i);
            if (writes > 1) System.Numerics.Vector.StoreUnsafe(s + one, ref o1, i);
            if (writes > 2) System.Numerics.Vector.StoreUnsafe(s + two, ref o2, i);
        }
        for (var k = (int)i; k < n; k++)
        {
            var s = 0f;
            foreach (var x in inputs) s += x[k];
            for (var j = 0; j < writes; j++) outputs[j][k] = s + j;
        }
    }

    /// <summary>o1 = a + b, o2 = o1 + c: the least work a 3-read/2-write pass can do.</summary>
    public static void Copy3Read2Write(float[] a, float[] b, float[] c, float[] o1, float[] o2)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i <= a.Length - 16; i += 16)
            {
                var s = Vector512.LoadUnsafe(ref a[0], (nuint)i) + Vector512.LoadUnsafe(ref b[0], (nuint)i);
                s.StoreUnsafe(ref o1[0], (nuint)i);
                (s + Vector512.LoadUnsafe(ref c[0], (nuint)i)).StoreUnsafe(ref o2[0], (nuint)i);
            }
        }
        for (; i < a.Length; i++)
        {
            o1[i] = a[i] + b[i];
            o2[i] = o1[i] + c[i];
        }
    }
}
