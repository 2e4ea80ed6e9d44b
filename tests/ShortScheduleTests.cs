using Schedulers.Core;
using Schedulers.Pipelines;
using TorchSharp;
using static Schedulers.Tests.DpmSolverTestKit;
using static TorchSharp.torch;

namespace Schedulers.Tests;

/// <summary>One and two inference steps, the shortest schedules a user can ask for, for the three schedulers in both
/// flavours: the timesteps diffusers returns and a whole loop with finite values of the right shape.</summary>
public class ShortScheduleTests
{
    /// <summary>The configs one- and two-step DPM-Solver runs are checked with (diffusers keys).</summary>
    public static TheoryData<string, int> DpmConfigs()
    {
        var data = new TheoryData<string, int>();
        foreach (var config in new[]
                 {
                     "{}", "{\"beta_schedule\": \"scaled_linear\", \"beta_start\": 0.00085, \"beta_end\": 0.012}",
                     "{\"beta_schedule\": \"squaredcos_cap_v2\"}", "{\"timestep_spacing\": \"trailing\"}",
                     "{\"lower_order_final\": false, \"solver_order\": 3}", "{\"thresholding\": true}",
                 })
            foreach (var n in new[] { 1, 2 })
                data.Add(config, n);
        return data;
    }

    private static DpmSolverConfig DpmConfig(string json) =>
        DPMSolverMultistepScheduler.FromConfig(ConfigFile.parse(json)).State.Config;

    private static long[] ExpectedDpmTimesteps(string json, int n) =>
        (n, json.Contains("trailing")) switch
        {
            (1, _) => new long[] { 999 },
            (_, true) => new long[] { 999, 499 },
            _ => new long[] { 999, 500 },
        };

    private static void AssertFinite(IEnumerable<float> values, string what) =>
        Assert.True(values.All(float.IsFinite), $"{what} has a value that is not finite");

    [Theory]
    [MemberData(nameof(DpmConfigs))]
    public void Flax_dpm_solver_runs_one_and_two_steps(string json, int n)
    {
        var state = DpmSolverMultistepFlax.createState(DpmConfig(json));
        var sample = NdArrayModule.create(new[] { 4, 3, 8, 8 }, Deter().data<float>().ToArray());
        var timesteps = new List<int>();
        var (final, _) = MultistepSampling.runFlax(
            Microsoft.FSharp.Core.FuncConvert.FromFunc<NdArray, int, NdArray>((x, t) =>
                NdArrayModule.create(x.Shape, x.ToArray().Select(v => v * t / (float)(t + 1)).ToArray())),
            Microsoft.FSharp.Core.FuncConvert.FromAction<StepProgress<FlaxDpmStepOutput>>(p => timesteps.Add((int)p.Timestep)),
            n, sample, state).ToValueTuple();
        Assert.Equal(ExpectedDpmTimesteps(json, n), timesteps.Select(t => (long)t));
        Assert.Equal(new[] { 4, 3, 8, 8 }, final.Shape);
        AssertFinite(final.ToArray(), "the final sample");
    }

    [Theory]
    [MemberData(nameof(DpmConfigs))]
    public void Torch_dpm_solver_runs_one_and_two_steps(string json, int n)
    {
        var scheduler = DPMSolverMultistepScheduler.FromConfig(ConfigFile.parse(json));
        scheduler.SetTimesteps(n);
        Assert.Equal(ExpectedDpmTimesteps(json, n), scheduler.State.Timesteps);
        var sample = Deter();
        foreach (var t in scheduler.State.Timesteps)
            sample = scheduler.Step(sample * (t / (t + 1f)), t, sample).PrevSample;
        Assert.Equal(new long[] { 4, 3, 8, 8 }, sample.shape);
        AssertFinite(sample.data<float>().ToArray(), "the final sample");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Score_sde_ve_runs_one_and_two_steps_in_both_flavours(int n)
    {
        // Flax: the predictor–corrector loop on the core with a JAX key; timesteps linspace(1, eps, n).
        var model = Microsoft.FSharp.Core.FuncConvert.FromFunc<NdArray, NdArray, NdArray>((x, sigma) =>
        {
            var inner = x.Length / x.BatchSize;
            return NdArrayModule.init(x.Shape, Microsoft.FSharp.Core.FuncConvert.FromFunc<int, float>(i => x[i] * sigma[i / inner] / (sigma[i / inner] + 1f)));
        });
        var flax = PredictorCorrector.run(ScoreSdeVe.defaults, model, new[] { 2, 3, 4, 4 }, n, Microsoft.FSharp.Core.FuncConvert.FromAction<StepProgress<ScoreSdeVeOutput<NdArray>>>(_ => { }), Prng.key(0));
        Assert.Equal(n == 1 ? new[] { 1f } : new[] { 1f, 1e-5f }, flax.State.Timesteps!.Value);
        AssertFinite(flax.Sample.ToArray(), "the Flax sample");

        // torch: the pipeline on TorchSharp with a torch.Generator.
        var pipeline = new ScoreSdeVePipeline((x, sigma) =>
        {
            var s = sigma.view(-1, 1, 1, 1); // one σ per batch element
            return x * s / (s + 1);
        }, new ScoreSdeVeScheduler());
        var torch = pipeline.Call(new long[] { 2, 3, 4, 4 }, n, new Generator(0));
        Assert.Equal(n, pipeline.Scheduler.State.Timesteps!.Value.Length);
        Assert.Equal(new long[] { 2, 3, 4, 4 }, torch.Sample.shape);
        AssertFinite(torch.Sample.data<float>().ToArray(), "the torch sample");
    }

    [Fact]
    public void Karras_ve_runs_two_steps_in_both_flavours_and_refuses_one()
    {
        // diffusers divides by n − 1 (a NaN schedule at n = 1); both flavours refuse it by name instead.
        Assert.Equal("num_inference_steps", Assert.Throws<ArgumentException>(() => new KarrasVeScheduler().SetTimesteps(1)).ParamName);
        Assert.Equal("num_inference_steps", Assert.Throws<ArgumentException>(() =>
            KarrasVe.setTimesteps(1, KarrasVe.createState(Flavour.Flax, KarrasVe.defaults))).ParamName);

        var scheduler = new KarrasVeScheduler();
        scheduler.SetTimesteps(2);
        var data = Enumerable.Range(0, 2 * 3 * 4 * 4).Select(i => MathF.Sin(i) * 50f).ToArray();
        using var sample = tensor(data, new long[] { 2, 3, 4, 4 });
        using var shell = KarrasVePipeline.Run(scheduler, sample, (x, s) => x.mul(-s / (s * s + 1f)), NoiseSource.Of(new Generator(1)));
        AssertFinite(shell.data<float>().ToArray(), "the torch sample");

        var flaxState = KarrasVe.setTimesteps(2, KarrasVe.createState(Flavour.Flax, KarrasVe.defaults));
        var core = KarrasVePipelineTests.CoreLoop(flaxState, Prng.key(0), NdArrayModule.create(new[] { 2, 3, 4, 4 }, data));
        AssertFinite(core.ToArray(), "the Flax sample");
    }
}
