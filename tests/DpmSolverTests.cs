using Schedulers.Core;
using Schedulers.Pipelines;
using TorchSharp;
using static Schedulers.Tests.DpmSolverTestKit;
using static TorchSharp.torch;

namespace Schedulers.Tests;

/// <summary>diffusers' DPMSolverMultistepScheduler unit-test values (spec §7.3) and shell behaviour.</summary>
public class DpmSolverTests
{
    [Fact]
    public void Full_loop_no_noise_mean_is_0_3301() =>
        Assert.Equal(0.3301, MeanAbs(FullLoop(Scheduler())), 3);

    [Fact]
    public void Full_loop_with_noise_from_add_noise_at_timestep_500()
    {
        var scheduler = Scheduler();
        scheduler.SetTimesteps(10);
        var timesteps = scheduler.State.Timesteps[5..];
        Assert.Equal(new long[] { 500, 400, 300, 200, 100 }, timesteps);
        var x = scheduler.AddNoise(Deter(), Deter(reversed: true), tensor(new[] { timesteps[0] }));
        foreach (var t in timesteps) x = scheduler.Step(Model(x, t), t, x).PrevSample;
        Assert.True(Math.Abs(SumAbs(x) - 318.4111) < 1e-2, $"sum {SumAbs(x)}");
        Assert.True(Math.Abs(MeanAbs(x) - 0.4146) < 1e-3, $"mean {MeanAbs(x)}");
    }

    [Fact]
    public void Full_loop_with_thresholding_clamps_to_sample_max_value() =>
        Assert.True(Math.Abs(MeanAbs(FullLoop(Scheduler(("thresholding", true), ("dynamic_thresholding_ratio", 0.87), ("sample_max_value", 0.5)))) - 1.1364) < 1e-3);

    [Fact]
    public void Full_loop_with_v_prediction() =>
        Assert.True(Math.Abs(MeanAbs(FullLoop(Scheduler(("prediction_type", "v_prediction")))) - 0.2251) < 1e-3);

    [Fact]
    public void Full_loop_with_karras_and_v_prediction() =>
        Assert.True(Math.Abs(MeanAbs(FullLoop(Scheduler(("prediction_type", "v_prediction"), ("use_karras_sigmas", true)))) - 0.2096) < 1e-3);

    [Fact]
    public void Full_loop_with_lu_and_v_prediction() =>
        Assert.True(Math.Abs(MeanAbs(FullLoop(Scheduler(("prediction_type", "v_prediction"), ("use_lu_lambdas", true)))) - 0.1554) < 1e-3);

    [Fact]
    public void Default_ending_gives_the_spec_value()
    {
        // final_sigmas_type zero + lower_order_final (the constructor defaults) on the test config: spec §7.4.
        var x = FullLoop(Scheduler(("final_sigmas_type", "zero"), ("lower_order_final", true)));
        Assert.True(Math.Abs(MeanAbs(x) - 0.24090020) < 1e-5, $"mean {MeanAbs(x)}");
    }

    [Theory]
    [InlineData("dpmsolver++", "epsilon", "sigma_min")]
    [InlineData("dpmsolver++", "v_prediction", "zero")]
    [InlineData("sde-dpmsolver++", "sample", "zero")]
    [InlineData("sde-dpmsolver++", "epsilon", "sigma_min")]
    public void Custom_timesteps_reproduce_the_computed_schedule(string algorithm, string prediction, string finalSigmas)
    {
        (string, object?)[] cfg = { ("algorithm_type", algorithm), ("prediction_type", prediction), ("final_sigmas_type", finalSigmas) };
        var a = FullLoop(Scheduler(cfg));
        var reference = Scheduler(cfg);
        reference.SetTimesteps(10);
        var custom = Scheduler(cfg);
        custom.SetTimesteps(reference.State.Timesteps);
        var generator = new torch.Generator(0);
        var x = Deter();
        foreach (var t in custom.State.Timesteps) x = custom.Step(Model(x, t), t, x, generator).PrevSample;
        Assert.True(SumAbs(a - x) < 1e-5);
    }

    [Fact]
    public void Reference_schedule_values()
    {
        var s = new DPMSolverMultistepScheduler(new Dictionary<string, object?> { ["final_sigmas_type"] = "sigma_min" });
        s.SetTimesteps(10);
        Assert.Equal(new long[] { 999, 899, 799, 699, 599, 500, 400, 300, 200, 100 }, s.State.Timesteps);
        Assert.Equal(0.010001f, s.State.Sigmas[^1], 5);
        var karras = new DPMSolverMultistepScheduler(new Dictionary<string, object?> { ["use_karras_sigmas"] = true });
        karras.SetTimesteps(10);
        Assert.Equal(new long[] { 999, 937, 864, 775, 663, 511, 301, 102, 18, 0 }, karras.State.Timesteps);
        var lu = new DPMSolverMultistepScheduler(new Dictionary<string, object?> { ["use_lu_lambdas"] = true });
        lu.SetTimesteps(10);
        Assert.Equal(new long[] { 999, 886, 757, 603, 410, 202, 73, 22, 5, 0 }, lu.State.Timesteps);
    }

    [Theory]
    [InlineData("dpmsolver++")]
    [InlineData("dpmsolver")]
    public void Zero_length_last_step_of_karras_with_sigma_min_keeps_the_sample(string algorithm)
    {
        // Karras + sigma_min repeats the last sigma (h = 0); with 20 steps and heun diffusers computes 0/0 there.
        var s = new DPMSolverMultistepScheduler(new Dictionary<string, object?>
        {
            ["use_karras_sigmas"] = true, ["final_sigmas_type"] = "sigma_min", ["solver_type"] = "heun", ["algorithm_type"] = algorithm,
        });
        s.SetTimesteps(20);
        Assert.Equal(s.State.Sigmas[^2], s.State.Sigmas[^1]);
        var x = Deter();
        Tensor before = x;
        foreach (var t in s.State.Timesteps)
        {
            before = x;
            x = s.Step(Model(x, t), t, x).PrevSample;
        }
        Assert.True(x.isfinite().all().item<bool>());
        Assert.Equal(0.0, SumAbs(x - before));
    }

    [Fact]
    public void Half_precision_inputs_give_half_precision_outputs()
    {
        // diffusers' test_fp16_support: thresholding with ratio 0 (s ≡ 1), fp16 sample, output dtype float16.
        var s = Scheduler(("thresholding", true), ("dynamic_thresholding_ratio", 0.0), ("lower_order_final", true));
        s.SetTimesteps(10);
        var x = Deter().to(ScalarType.Float16);
        foreach (var t in s.State.Timesteps) x = s.Step(Model(x, t), t, x).PrevSample;
        Assert.Equal(ScalarType.Float16, x.dtype);
        Assert.True(x.isfinite().all().item<bool>());
    }

    [Fact]
    public void Dynamic_shifting_mu_sets_flow_shift_to_e_to_the_mu()
    {
        var shifted = new DPMSolverMultistepScheduler(new Dictionary<string, object?>
        {
            ["use_flow_sigmas"] = true, ["prediction_type"] = "flow_prediction", ["use_dynamic_shifting"] = true,
        });
        shifted.SetTimesteps(10, mu: Math.Log(3.0));
        var fixedShift = new DPMSolverMultistepScheduler(new Dictionary<string, object?>
        {
            ["use_flow_sigmas"] = true, ["prediction_type"] = "flow_prediction", ["flow_shift"] = 3.0,
        });
        fixedShift.SetTimesteps(10);
        Assert.Equal(3.0, shifted.Config.FlowShift, 12);
        Assert.Equal(fixedShift.State.Timesteps, shifted.State.Timesteps);
        for (int i = 0; i < fixedShift.State.Sigmas.Length; i++)
            Assert.Equal(fixedShift.State.Sigmas[i], shifted.State.Sigmas[i], 6);
    }

    [Fact]
    public void Steps_up_to_the_last_distinct_schedule_keep_every_timestep_and_a_repeating_one_is_refused()
    {
        var s = new DPMSolverMultistepScheduler();
        s.SetTimesteps(999);
        Assert.Equal(999, s.NumInferenceSteps);
        Assert.Equal(999, s.State.Timesteps.Distinct().Count());
        // linspace(0, 999, 1001) rounds two points to 500: a zero-length step.
        Assert.Equal("num_inference_steps", Assert.Throws<ArgumentException>(() => s.SetTimesteps(1000)).ParamName);
    }

    [Fact]
    public void Variance_noise_replaces_the_generator_draw()
    {
        var withGenerator = new DPMSolverMultistepScheduler(new Dictionary<string, object?> { ["algorithm_type"] = "sde-dpmsolver++" });
        var withNoise = new DPMSolverMultistepScheduler(new Dictionary<string, object?> { ["algorithm_type"] = "sde-dpmsolver++" });
        withGenerator.SetTimesteps(5);
        withNoise.SetTimesteps(5);
        var generator = new torch.Generator(3);
        var replay = new torch.Generator(3);
        Tensor x = Deter(), y = Deter();
        foreach (var t in withGenerator.State.Timesteps)
        {
            x = withGenerator.Step(Model(x, t), t, x, generator).PrevSample;
            var z = randn(new long[] { 4, 3, 8, 8 }, generator: replay);
            y = withNoise.Step(Model(y, t), t, y, varianceNoise: z).PrevSample;
        }
        Assert.Equal(0.0, SumAbs(x - y));
    }

    [Fact]
    public void Begin_index_and_step_index_follow_diffusers()
    {
        var s = new DPMSolverMultistepScheduler();
        s.SetTimesteps(10);
        Assert.Null(s.StepIndex);
        s.SetBeginIndex(3);
        Assert.Equal(3, s.BeginIndex);
        var x = Deter();
        s.Step(Model(x, 999), 999, x);
        Assert.Equal(4, s.StepIndex);
        Assert.Equal(1.0f, s.InitNoiseSigma);
        Assert.Same(x, s.ScaleModelInput(x, 999));
        Assert.Equal(1000, s.Length);
        Assert.Equal(new long[] { 11 }, s.Sigmas.shape);
    }

    [Fact]
    public void Add_noise_before_set_timesteps_uses_the_reversed_training_order()
    {
        // diffusers looks the timestep up in [N−1 … 0] and reads the ascending training sigmas there, so timestep 0
        // is noised with the sigma of timestep 999 (golden add_noise case).
        var s = new DPMSolverMultistepScheduler();
        var noisy = s.AddNoise(zeros(1, 1), ones(1, 1), tensor(new long[] { 0 }));
        var sigma999 = s.State.Tables.TrainSigmas[999];
        var expected = sigma999 / MathF.Sqrt(sigma999 * sigma999 + 1);
        Assert.Equal(expected, noisy.item<float>(), 5);
    }

    [Fact]
    public void Pipeline_matches_a_hand_written_loop_and_reports_progress()
    {
        var steps = new List<int>();
        var pipeline = new DpmSolverPipeline(Model, new DPMSolverMultistepScheduler(new Dictionary<string, object?> { ["algorithm_type"] = "sde-dpmsolver++" }));
        var result = pipeline.Call(new long[] { 2, 3, 4, 4 }, 6, new torch.Generator(5), progress: p => steps.Add(p.Step));
        Assert.Equal(Enumerable.Range(0, 6), steps);

        var scheduler = new DPMSolverMultistepScheduler(new Dictionary<string, object?> { ["algorithm_type"] = "sde-dpmsolver++" });
        scheduler.SetTimesteps(6);
        var generator = new torch.Generator(5);
        var x = randn(new long[] { 2, 3, 4, 4 }, generator: generator);
        foreach (var t in scheduler.State.Timesteps) x = scheduler.Step(Model(x, t), t, x, generator).PrevSample;
        Assert.Equal(0.0, SumAbs(result - x));
    }

    [Fact]
    public void History_survives_a_caller_that_disposes_its_model_outputs()
    {
        // With prediction "sample" the history holds the model output itself; the pipeline disposes each output.
        var config = new Dictionary<string, object?> { ["prediction_type"] = "sample", ["solver_order"] = 3 };
        var pipeline = new DpmSolverPipeline((x, t) => x.mul(0.5f), new DPMSolverMultistepScheduler(config));
        var result = pipeline.Call(new long[] { 1, 3, 2, 2 }, 8, new torch.Generator(1));
        var scheduler = new DPMSolverMultistepScheduler(config);
        scheduler.SetTimesteps(8);
        var y = randn(new long[] { 1, 3, 2, 2 }, generator: new torch.Generator(1));
        foreach (var t in scheduler.State.Timesteps) y = scheduler.Step(y.mul(0.5f), t, y).PrevSample;
        Assert.Equal(0.0, SumAbs(result - y));
    }

    [Fact]
    public void Shell_and_core_loops_agree_on_the_same_maths()
    {
        var scheduler = new DPMSolverMultistepScheduler(new Dictionary<string, object?> { ["solver_order"] = 3 });
        var shell = FullLoop(scheduler).data<float>().ToArray();
        var state = DpmSolverMultistep.setTimesteps(10, DpmSolverMultistep.create<NdArray>(scheduler.Config));
        var sample = NdArrayModule.create(new[] { 4, 3, 8, 8 }, Deter().data<float>().ToArray());
        var ops = NdArrayBackend.Default;
        var x = sample;
        foreach (var t in state.Timesteps)
        {
            var m = NdArrayModule.create(x.Shape, x.ToArray().Select(v => v * t / (float)(t + 1)).ToArray());
            var (prev, next) = DpmSolverMultistep.step(ops, m, t, x, state).ToValueTuple();
            x = prev;
            state = next;
        }
        Assert.Equal(shell, x.ToArray());
    }
}
