using Schedulers.Conformance.Checkers;
using Schedulers.Core;
using Schedulers.Pipelines;
using TorchSharp;
using static TorchSharp.torch;

namespace Schedulers.Tests;

/// <summary>The shell scheduler against diffusers' own unit test and the documented behaviour of the torch class.</summary>
public class ScoreSdeVeSchedulerTests
{
    private static Tensor DummySampleDeter()
    {
        var a = SdeVeGolden.DummySampleDeter();
        return tensor(a.ToArray(), new long[] { 4, 3, 8, 8 }, ScalarType.Float32);
    }

    private static bool IsClose(double actual, double expected) => Math.Abs(actual - expected) <= 1e-8 + 1e-5 * Math.Abs(expected);

    [Fact]
    public void Diffusers_full_loop_with_manual_seed_0_gives_the_upstream_sum_and_mean()
    {
        // test_full_loop_no_noise: set_sigmas(3) then set_timesteps(3), torch.manual_seed(0) shared by all calls.
        using var scope = NewDisposeScope();
        var x = SdeVeTorchChecker.UnitTestLoopSample(ScoreSdeVe.defaults, 3, 0, DummySampleDeter());
        double sum = x.abs().sum().item<float>();
        double mean = x.abs().mean().item<float>();
        Assert.True(IsClose(sum, 14372758528.0), $"sum |x| = {sum:R}");
        Assert.True(IsClose(mean, 18714530.0), $"mean |x| = {mean:R}");
    }

    [Fact]
    public void Unit_test_order_keeps_the_2000_entry_sigmas_and_pipeline_order_does_not()
    {
        var test = new ScoreSdeVeScheduler();
        test.SetSigmas(3);
        test.SetTimesteps(3);
        Assert.Equal(2000, test.State.Sigmas!.Value.Length);
        Assert.Equal(3, test.State.DiscreteSigmas!.Value.Length);
        Assert.Equal(new[] { 1348.0f, 1340.0582f, 1332.1643f }, test.State.Sigmas.Value.Take(3).ToArray());

        var pipeline = new ScoreSdeVeScheduler();
        pipeline.SetTimesteps(3);
        pipeline.SetSigmas(3);
        Assert.Equal(3, pipeline.State.Sigmas!.Value.Length);
        Assert.Equal(new[] { 0.01f, 3.6715114f, 1348.0002f }, pipeline.State.DiscreteSigmas!.Value);
    }

    [Fact]
    public void Predictor_index_truncates_t_times_len_timesteps_minus_one_in_float32()
    {
        var scheduler = new ScoreSdeVeScheduler();
        scheduler.SetTimesteps(3);
        scheduler.SetSigmas(3);
        var timesteps = scheduler.State.Timesteps!.Value;
        Assert.Equal(0.500005f, timesteps[1]);
        Assert.Equal(new[] { 2, 1, 0 }, timesteps.Select(t => ScoreSdeVe.sigmaIndex(scheduler.State, t)).ToArray());
    }

    [Fact]
    public void Properties_mirror_the_torch_class()
    {
        var scheduler = new ScoreSdeVeScheduler();
        Assert.Equal(1348.0, scheduler.InitNoiseSigma);
        Assert.Equal(2000, scheduler.Length);
        using var t = scheduler.Timesteps!;
        using var d = scheduler.DiscreteSigmas!;
        Assert.Equal(new long[] { 2000 }, t.shape);
        Assert.Equal(ScalarType.Float32, d.dtype);
        using var x = DummySampleDeter();
        Assert.Same(x, scheduler.ScaleModelInput(x));
        using var idx = tensor(new long[] { 0, 1, 1999 });
        using var adjacent = scheduler.GetAdjacentSigma(idx, zeros(3));
        var ds = scheduler.State.DiscreteSigmas!.Value;
        Assert.Equal(new[] { 0f, ds[0], ds[1998] }, adjacent.data<float>().ToArray());
    }

    [Fact]
    public void Add_noise_is_x_plus_discrete_sigma_of_each_index_times_noise()
    {
        using var scope = NewDisposeScope();
        var scheduler = new ScoreSdeVeScheduler();
        var x = DummySampleDeter();
        var noise = ones(4, 3, 8, 8);
        var noisy = scheduler.AddNoise(x, noise, tensor(new long[] { 0, 10, 100, 1999 }));
        var ds = scheduler.State.DiscreteSigmas!.Value;
        var expected = x.add(tensor(new[] { ds[0], ds[10], ds[100], ds[1999] }).reshape(4, 1, 1, 1));
        Assert.True(noisy.eq(expected).all().item<bool>());
    }

    [Fact]
    public void Generator_and_key_overloads_draw_their_own_streams_on_the_sample_device()
    {
        using var scope = NewDisposeScope();
        var scheduler = new ScoreSdeVeScheduler();
        var x = DummySampleDeter();
        var m = x.mul(0.1f);
        var a = scheduler.StepPred(m, 0.5, x, new Generator(0)).PrevSample;
        var b = scheduler.StepPred(m, 0.5, x, new Generator(0)).PrevSample;
        var c = scheduler.StepPred(m, 0.5, x, Prng.key(0)).PrevSample;
        var d = scheduler.StepPred(m, 0.5, x, Prng.key(1)).PrevSample;
        Assert.True(a.eq(b).all().item<bool>());
        Assert.False(a.eq(c).all().item<bool>());
        Assert.False(c.eq(d).all().item<bool>());
        Assert.Equal(x.device_type, c.device_type);
        // The key overload is the Flax scheduler: noise normal(split(key, 1)[0]).
        var core = ScoreSdeVe.stepPredOn(NdArrayBackend.Default, scheduler.State, SdeVeGolden.DummySampleDeter().Let(s => NdArrayModule.scale(0.1f, s)), 0.5f, SdeVeGolden.DummySampleDeter(), ScoreSdeVe.flaxNoiseKey(Prng.key(0)));
        Assert.Equal(core.PrevSample.ToArray(), c.data<float>().ToArray());
    }

    [Fact]
    public void Pipeline_returns_the_last_mean_clamped_and_leaves_the_pipeline_schedule_on_the_scheduler()
    {
        using var scope = NewDisposeScope();
        var scheduler = new ScoreSdeVeScheduler(sigmaMax: 10.0);
        var pipeline = new ScoreSdeVePipeline((x, sigma) => x.neg().div(sigma.reshape(-1, 1, 1, 1).square().add(1f)), scheduler);
        int reported = 0;
        var output = pipeline.Call(new long[] { 2, 3, 4, 4 }, 5, new Generator(0), progress: p => reported = p.Step + 1);
        Assert.Equal(5, reported);
        Assert.Equal(new long[] { 2, 3, 4, 4 }, output.Images.shape);
        Assert.True(output.Images.ge(0f).all().item<bool>() && output.Images.le(1f).all().item<bool>());
        Assert.True(output.Images.eq(output.Sample.clamp(0f, 1f)).all().item<bool>());
        Assert.Equal(5, scheduler.State.Sigmas!.Value.Length);
        var again = pipeline.Call(new long[] { 2, 3, 4, 4 }, 5, new Generator(0));
        Assert.True(again.Sample.eq(output.Sample).all().item<bool>());
    }
}

internal static class FunctionalExtensions
{
    /// <summary>Applies <paramref name="f"/> to the value (for building arguments inline).</summary>
    public static TResult Let<T, TResult>(this T value, Func<T, TResult> f) => f(value);
}
