using Schedulers.Conformance;
using Schedulers.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Schedulers.Tests;

/// <summary>The torch-flavoured KarrasVeScheduler: configuration, schedule, churn, Euler and Heun stages.</summary>
public class KarrasVeSchedulerTests
{
    private static Tensor Sample(long seed = 3) => randn(new long[] { 2, 3, 4, 4 }, generator: new torch.Generator((ulong)seed));

    private static float[] Host(Tensor t) => t.contiguous().data<float>().ToArray();

    [Fact]
    public void Defaults_match_diffusers()
    {
        var s = new KarrasVeScheduler();
        Assert.Equal(new KarrasVeConfig(0.02, 100, 1.007, 80, 0.05, 50), s.Config);
        Assert.Equal(100.0, s.InitNoiseSigma);
        Assert.Equal(2, KarrasVeScheduler.Order);
        Assert.Null(s.NumInferenceSteps);
        Assert.Null(s.Timesteps);
        Assert.Null(s.Schedule);
    }

    [Fact]
    public void Defaults_match_the_config_file_diffusers_saves()
    {
        var root = Golden.Load(Path.Combine(TestData.GoldenDir, "configs", "KarrasVeScheduler.scheduler_config.json"));
        double Key(string key) => Golden.Number(Golden.Require(root, key, "config"), key);
        var d = KarrasVe.defaults;
        Assert.Equal(
            (Key("sigma_min"), Key("sigma_max"), Key("s_noise"), Key("s_churn"), Key("s_min"), Key("s_max")),
            (d.SigmaMin, d.SigmaMax, d.SNoise, d.SChurn, d.SMin, d.SMax));
    }

    [Fact]
    public void Set_timesteps_gives_descending_int64_timesteps_and_the_sigma_squared_schedule()
    {
        var s = new KarrasVeScheduler();
        s.SetTimesteps(10);
        Assert.Equal(10, s.NumInferenceSteps);
        Assert.Equal(ScalarType.Int64, s.Timesteps!.dtype);
        Assert.Equal(new long[] { 9, 8, 7, 6, 5, 4, 3, 2, 1, 0 }, s.Timesteps.data<long>().ToArray());
        // Spec §3.3: float32 values with the defaults, index order.
        var expected = new[] { 0.0004f, 0.00265493f, 0.0176216f, 0.116961f, 0.776306f, 5.1526f, 34.1995f, 226.993f, 1506.63f, 10000f };
        var actual = Host(s.Schedule!);
        for (int i = 0; i < expected.Length; i++) Assert.True(Math.Abs(actual[i] - expected[i]) <= 1e-5 * expected[i], $"schedule[{i}] = {actual[i]}");
        Assert.Equal(10000f, actual[9]);
        Assert.Equal(actual, s.ScheduleValues());
        Assert.Equal((10000f, 1506.63f), (s.SigmasAt(9).Sigma, MathF.Round(s.SigmasAt(9).SigmaPrev, 2)));
        Assert.Equal((0.0004f, 0f), s.SigmasAt(0));
    }

    [Fact]
    public void Set_timesteps_swaps_in_a_new_state_and_leaves_the_old_one_untouched()
    {
        var s = new KarrasVeScheduler();
        s.SetTimesteps(4);
        var before = s.State;
        var scheduleBefore = before.Schedule!.Value.ToArray();
        s.SetTimesteps(7);
        Assert.NotSame(before, s.State);
        Assert.Equal(4, before.NumInferenceSteps!.Value);
        Assert.Equal(scheduleBefore, before.Schedule!.Value);
        Assert.Equal(7, s.State.Schedule!.Value.Length);
    }

    [Fact]
    public void Scale_model_input_is_the_identity()
    {
        var x = Sample();
        Assert.Same(x, new KarrasVeScheduler().ScaleModelInput(x, 3));
    }

    [Fact]
    public void Without_churn_the_sample_is_unchanged_but_one_full_draw_is_consumed()
    {
        var s = new KarrasVeScheduler();
        s.SetTimesteps(10);
        var x = Sample();
        var generator = new torch.Generator(5);
        // σ = 10000 lies above s_max = 50: γ = 0.
        var (sampleHat, sigmaHat) = s.AddNoiseToInput(x, 10000f, generator);
        Assert.Equal(10000f, sigmaHat);
        Assert.Equal(Host(x), Host(sampleHat));
        // The generator advanced by exactly one draw of the sample's shape.
        var reference = new torch.Generator(5);
        randn(x.shape, generator: reference).Dispose();
        Assert.Equal(Host(randn(x.shape, generator: reference)), Host(randn(x.shape, generator: generator)));
    }

    [Fact]
    public void Churn_adds_s_noise_scaled_noise_at_the_float32_sigma_hat()
    {
        var s = new KarrasVeScheduler();
        s.SetTimesteps(10);
        var x = Sample();
        float sigma = s.SigmasAt(6).Sigma; // 34.1995, inside [0.05, 50]
        var (sampleHat, sigmaHat) = s.AddNoiseToInput(x, sigma, new torch.Generator(11));
        float gamma = (float)(Math.Sqrt(2) - 1); // min(80/10, √2 − 1)
        float expectedSigmaHat = sigma + gamma * sigma;
        Assert.Equal(expectedSigmaHat, sigmaHat);
        var z = Host(randn(x.shape, generator: new torch.Generator(11)));
        float scale = MathF.Sqrt(expectedSigmaHat * expectedSigmaHat - sigma * sigma);
        var xs = Host(x);
        var expected = xs.Select((v, i) => v + scale * (1.007f * z[i])).ToArray();
        Assert.Equal(expected, Host(sampleHat));
    }

    [Fact]
    public void A_key_draws_what_the_core_draws_for_that_key()
    {
        var s = new KarrasVeScheduler();
        s.SetTimesteps(10);
        var x = Sample();
        var key = Prng.key(42);
        float sigma = s.SigmasAt(5).Sigma;
        var (shell, shellSigmaHat) = s.AddNoiseToInput(x, sigma, key);
        var core = KarrasVe.addNoiseToInput(s.State, NdArrayModule.create(new[] { 2, 3, 4, 4 }, Host(x)), sigma, key);
        Assert.Equal(core.SampleHat.ToArray(), Host(shell));
        Assert.Equal((float)core.SigmaHat, shellSigmaHat);
        Assert.NotEqual(Host(x), Host(shell));
    }

    [Fact]
    public void Step_is_the_euler_update_and_step_correct_the_heun_average()
    {
        var s = new KarrasVeScheduler();
        s.SetTimesteps(10);
        var xHat = Sample(1);
        var m1 = Sample(2);
        var m2 = Sample(3);
        float sigmaHat = 2f, sigmaPrev = 0.5f;
        var euler = s.Step(m1, sigmaHat, sigmaPrev, xHat);
        var x = Host(xHat);
        var a = Host(m1);
        var x0 = x.Select((v, i) => v + sigmaHat * a[i]).ToArray();
        Assert.Equal(x0, Host(euler.PredOriginalSample));
        var d = x.Select((v, i) => (v - x0[i]) / sigmaHat).ToArray();
        Assert.Equal(d, Host(euler.Derivative));
        Assert.Equal(x.Select((v, i) => v + (sigmaPrev - sigmaHat) * d[i]).ToArray(), Host(euler.PrevSample));

        var heun = s.StepCorrect(m2, sigmaHat, sigmaPrev, xHat, euler.PrevSample, euler.Derivative);
        // diffusers returns the first-stage derivative from step_correct.
        Assert.Same(euler.Derivative, heun.Derivative);
        var xp = Host(euler.PrevSample);
        var b = Host(m2);
        var x0c = xp.Select((v, i) => v + sigmaPrev * b[i]).ToArray();
        Assert.Equal(x0c, Host(heun.PredOriginalSample));
        var dc = xp.Select((v, i) => (v - x0c[i]) / sigmaPrev).ToArray();
        Assert.Equal(x.Select((v, i) => v + (sigmaPrev - sigmaHat) * (0.5f * d[i] + 0.5f * dc[i])).ToArray(), Host(heun.PrevSample));
    }

    [Fact]
    public void Outputs_stay_on_the_sample_device_and_keep_the_shape()
    {
        var s = new KarrasVeScheduler();
        s.SetTimesteps(3, CPU);
        var x = Sample();
        var (xHat, sigmaHat) = s.AddNoiseToInput(x, 1f, new torch.Generator(0));
        var o = s.Step(x.neg(), sigmaHat, 0.2f, xHat);
        foreach (var t in new[] { xHat, o.PrevSample, o.Derivative, o.PredOriginalSample })
        {
            Assert.Equal((x.device.type, x.device_index), (t.device.type, t.device_index));
            Assert.Equal(x.shape, t.shape);
        }
        Assert.Equal(CPU.type, s.Schedule!.device.type);
    }

    [Fact]
    public void The_shell_loop_reproduces_the_torch_golden_file()
    {
        var result = ConformanceRunner.CreateDefault().CheckPath(TestData.Golden("karras_ve_torch"));
        Assert.Equal(3, result.Passed);
        Assert.Equal(0, result.Failed + result.Skipped);
    }

    [Fact]
    public void The_core_reproduces_the_flax_golden_file()
    {
        var result = ConformanceRunner.CreateDefault().CheckPath(TestData.Golden("karras_ve_flax"));
        Assert.Equal(3, result.Passed);
        Assert.Equal(0, result.Failed + result.Skipped);
    }
}
