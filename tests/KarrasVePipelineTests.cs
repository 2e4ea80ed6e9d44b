using Schedulers.Conformance;
using Schedulers.Core;
using Schedulers.Pipelines;
using TorchSharp;
using static TorchSharp.torch;

namespace Schedulers.Tests;

/// <summary>The stochastic Karras pipeline and its loop on torch tensors.</summary>
public class KarrasVePipelineTests
{
    /// <summary>The golden files' model −x·s/(s² + 1), with torch's float32 scalar arithmetic.</summary>
    private static Tensor GoldenModel(Tensor x, float s) => x.neg().mul(s).div(s * s + 1f);

    private static float[] Host(Tensor t) => t.contiguous().data<float>().ToArray();

    /// <summary>The stochastic Karras loop on the core with the golden model −x·s/(s² + 1) and the Flax key chain.</summary>
    internal static NdArray CoreLoop(KarrasVeState state, PrngKey key, NdArray sample)
    {
        var ops = NdArrayBackend.Default;
        var hooks = new KarrasStochasticHooks<NdArray, PrngKey>(
            Microsoft.FSharp.Core.FuncConvert.FromFunc<NdArray, double, NdArray>((x, s) =>
                ((IBackend<NdArray, PrngKey>)ops).Combine(new[] { (Coef.NewScalar(-(float)s / ((float)s * (float)s + 1f)), x) })),
            Microsoft.FSharp.Core.FuncConvert.FromFunc<PrngKey, ValueTuple<PrngKey, PrngKey>>(KarrasStochastic.flaxKeyChain),
            Microsoft.FSharp.Core.FuncConvert.FromAction<StepProgress<KarrasStochasticStep<NdArray>>>(_ => { }));
        return KarrasStochastic.run(ops, hooks, state, key, sample);
    }

    [Fact]
    public void The_loop_reproduces_the_torch_golden_final_sample()
    {
        var root = Golden.Load(TestData.Golden("karras_ve_torch"));
        var run = Golden.Items(Golden.Require(Golden.Items(Golden.Require(root, "cases", "root"), "cases")[0], "runs", "case"), "runs")[1];
        Assert.Equal(10, (int)Golden.Number(Golden.Require(run, "num_inference_steps", "run"), "run"));
        var expected = Golden.Array(Golden.Require(run, "loop", "run"), "final", "loop");

        var scheduler = new KarrasVeScheduler();
        scheduler.SetTimesteps(10);
        // dummy_sample_deter · σ_max
        var x0 = Enumerable.Range(0, 768).Select(i =>
        {
            int b = i / 192, c = i / 64 % 3, h = i / 8 % 8, w = i % 8;
            return (float)(((c * 8 + h) * 8 + w) * 4 + b) / 768 * 100f;
        }).ToArray();
        using var sample = tensor(x0, new long[] { 4, 3, 8, 8 });
        var steps = new List<(int Timestep, bool Corrected)>();
        using var final = KarrasVePipeline.Run(scheduler, sample, GoldenModel, NoiseSource.Of(new torch.Generator(1)),
            s => steps.Add((s.Output.Timestep, s.Output.Corrected is not null)));
        Assert.Equal(-1, Tolerance.Loop.FirstMismatch(expected.Data, Host(final).Select(v => (double)v).ToArray()));
        Assert.Equal(Enumerable.Range(0, 10).Reverse(), steps.Select(s => s.Timestep));
        Assert.Equal(Enumerable.Repeat(true, 9).Append(false), steps.Select(s => s.Corrected));
        Assert.Equal(x0, Host(sample));
    }

    [Fact]
    public void A_key_source_follows_the_flax_loop_discipline()
    {
        // The same loop on NdArray with the torch flavour and the Flax key chain gives the same numbers.
        var scheduler = new KarrasVeScheduler();
        scheduler.SetTimesteps(6);
        var data = Enumerable.Range(0, 2 * 3 * 4 * 4).Select(i => MathF.Sin(i) * 50f).ToArray();
        using var sample = tensor(data, new long[] { 2, 3, 4, 4 });
        using var shell = KarrasVePipeline.Run(scheduler, sample, (x, s) => x.mul(-s / (s * s + 1f)), NoiseSource.Of(Prng.key(7)));

        var core = CoreLoop(scheduler.State, Prng.key(7), NdArrayModule.create(new[] { 2, 3, 4, 4 }, data));
        Assert.Equal(core.ToArray(), Host(shell));
    }

    [Fact]
    public void The_pipeline_returns_nhwc_images_in_unit_range_reproducibly()
    {
        // A UNet that predicts a scaled copy of its input: smooth, finite, and enough to exercise the adaptation.
        KarrasVeUnet unet = (x, sigma) => x.mul(-1f / (sigma + 1f));
        var pipeline = new KarrasVePipeline(unet, new KarrasVeScheduler(), channels: 3, sampleSize: 8);
        var calls = 0;
        var a = pipeline.Call(batchSize: 2, numInferenceSteps: 5, generator: new torch.Generator(0), progress: _ => calls++);
        var b = pipeline.Call(batchSize: 2, numInferenceSteps: 5, generator: new torch.Generator(0));
        Assert.Equal(new long[] { 2, 8, 8, 3 }, a.Images.shape);
        Assert.Equal(CPU.type, a.Images.device.type);
        var values = Host(a.Images);
        Assert.All(values, v => Assert.InRange(v, 0f, 1f));
        Assert.Equal(values, Host(b.Images));
        Assert.Equal(5, calls);
        Assert.Equal(5, pipeline.Scheduler.NumInferenceSteps);
        // The scheduler's tables outlive the call's dispose scope.
        Assert.Equal(10000f, Host(pipeline.Scheduler.Schedule!)[4]);
        Assert.Equal(new long[] { 4, 3, 2, 1, 0 }, pipeline.Scheduler.Timesteps!.data<long>().ToArray());
    }

    [Fact]
    public void The_pipeline_scales_the_unet_as_diffusers_does()
    {
        // The UNet sees ((x + 1)/2, σ/2) and its output is multiplied by σ/2.
        var seen = new List<float>();
        var inputs = new List<float[]>();
        KarrasVeUnet unet = (x, sigma) =>
        {
            seen.Add(sigma);
            inputs.Add(Host(x));
            return zeros_like(x);
        };
        var pipeline = new KarrasVePipeline(unet, new KarrasVeScheduler(), channels: 1, sampleSize: 2);
        pipeline.Call(numInferenceSteps: 2, generator: new torch.Generator(3));
        // n = 2: σ̂ = 10000 (no churn) then σ_prev = 0.0004 for the correction, then σ̂ = 0.0004 at the last step.
        Assert.Equal(new[] { 5000f, 0.0002f, 0.0002f }, seen);
        var initial = Host(randn(new long[] { 1, 1, 2, 2 }, generator: new torch.Generator(3)).mul(100f));
        Assert.Equal(initial.Select(v => (v + 1) / 2).ToArray(), inputs[0]);
    }

    [Fact]
    public void Invalid_pipeline_arguments_are_rejected()
    {
        KarrasVeUnet unet = (x, _) => x.clone();
        Assert.Throws<ArgumentOutOfRangeException>(() => new KarrasVePipeline(unet, new KarrasVeScheduler(), channels: 0));
        var pipeline = new KarrasVePipeline(unet, new KarrasVeScheduler());
        Assert.Equal("batchSize", Assert.Throws<ArgumentOutOfRangeException>(() => pipeline.Call(batchSize: 0)).ParamName);
        Assert.Equal("num_inference_steps", Assert.Throws<ArgumentException>(() => pipeline.Call(numInferenceSteps: 1)).ParamName);
    }
}
