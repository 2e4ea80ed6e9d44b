using Schedulers.Core;
using Schedulers.Pipelines;
using TorchSharp;
using static TorchSharp.torch;

namespace Schedulers.Tests;

/// <summary>Every wrong KarrasVe call throws at once with a message naming the argument, its value and what was expected.</summary>
public class KarrasVeErrorTests
{
    private static Tensor Zeros(params long[] shape) => zeros(shape, ScalarType.Float32);

    private static KarrasVeScheduler Ready(int n = 10)
    {
        var s = new KarrasVeScheduler();
        s.SetTimesteps(n);
        return s;
    }

    [Fact]
    public void Calls_before_set_timesteps_say_to_call_set_timesteps()
    {
        var s = new KarrasVeScheduler();
        var x = Zeros(1, 3, 4, 4);
        foreach (var call in new Action[]
        {
            () => s.AddNoiseToInput(x, 1f, new torch.Generator(0)),
            () => s.AddNoiseToInput(x, 1f, Prng.key(0)),
            () => s.Step(x, 1f, 0.5f, x),
            () => s.StepCorrect(x, 1f, 0.5f, x, x, x),
            () => s.SigmasAt(0),
            () => s.ScheduleValues(),
            () => KarrasVePipeline.Run(s, x, (y, _) => y, NoiseSource.Of(new torch.Generator(0))),
        })
        {
            var e = Assert.Throws<InvalidOperationException>(call);
            Assert.Contains("call SetTimesteps first", e.Message);
        }
    }

    [Fact]
    public void The_core_says_to_call_set_timesteps_too()
    {
        var state = KarrasVe.createState(Flavour.Flax, KarrasVe.defaults);
        var x = NdArrayModule.zeros(new[] { 2, 2 });
        var e = Assert.Throws<InvalidOperationException>(() => KarrasVe.addNoiseToInput(state, x, 1.0, Prng.key(0)));
        Assert.Contains("call setTimesteps (set_timesteps) first", e.Message);
        Assert.Throws<InvalidOperationException>(() => KarrasVe.step(state, x, 1.0, 0.5, x));
        Assert.Throws<InvalidOperationException>(() => KarrasVe.stepCorrect(state, x, 1.0, 0.5, x, x, x));
        Assert.Throws<InvalidOperationException>(() => KarrasVe.schedule(state));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(0)]
    [InlineData(-3)]
    public void Fewer_than_two_steps_is_an_error_not_a_division_by_zero(int n)
    {
        var e = Assert.Throws<ArgumentException>(() => new KarrasVeScheduler().SetTimesteps(n));
        Assert.Equal("num_inference_steps", e.ParamName);
        Assert.Contains($"num_inference_steps is {n} but must be at least 2", e.Message);
    }

    [Fact]
    public void Step_rejects_a_model_output_of_another_shape()
    {
        var e = Assert.Throws<ArgumentException>(() => Ready().Step(Zeros(4, 3, 8, 9), 1f, 0.5f, Zeros(4, 3, 8, 8)));
        Assert.Equal("model_output", e.ParamName);
        Assert.Contains("sample_hat has shape [4,3,8,8] but model_output has [4,3,8,9]", e.Message);
    }

    [Theory]
    [InlineData("model_output")]
    [InlineData("sample_prev")]
    [InlineData("derivative")]
    public void Step_correct_rejects_any_tensor_of_another_shape(string which)
    {
        var good = Zeros(2, 3, 4, 4);
        var bad = Zeros(2, 3, 4, 5);
        var e = Assert.Throws<ArgumentException>(() => Ready().StepCorrect(
            which == "model_output" ? bad : good, 1f, 0.5f, good, which == "sample_prev" ? bad : good, which == "derivative" ? bad : good));
        Assert.Equal(which, e.ParamName);
        Assert.Contains($"sample_hat has shape [2,3,4,4] but {which} has [2,3,4,5]", e.Message);
    }

    [Fact]
    public void Step_correct_with_sigma_prev_zero_is_an_error()
    {
        var x = Zeros(1, 3, 4, 4);
        var e = Assert.Throws<ArgumentException>(() => Ready().StepCorrect(x, 1f, 0f, x, x, x));
        Assert.Equal("sigma_prev", e.ParamName);
        Assert.Contains("sigma_prev is 0", e.Message);
    }

    [Fact]
    public void Step_with_sigma_hat_zero_or_negative_sigmas_is_an_error()
    {
        var x = Zeros(1, 3, 4, 4);
        Assert.Equal("sigma_hat", Assert.Throws<ArgumentException>(() => Ready().Step(x, 0f, 0f, x)).ParamName);
        Assert.Equal("sigma_prev", Assert.Throws<ArgumentException>(() => Ready().Step(x, 1f, -1f, x)).ParamName);
        Assert.Equal("sigma", Assert.Throws<ArgumentException>(() => Ready().AddNoiseToInput(x, float.NaN, new torch.Generator(0))).ParamName);
    }

    [Fact]
    public void Tensors_must_be_float32()
    {
        var x = zeros(new long[] { 1, 3, 4, 4 }, ScalarType.Float64);
        var e = Assert.Throws<ArgumentException>(() => Ready().AddNoiseToInput(x, 1f, new torch.Generator(0)));
        Assert.Contains("sample has dtype Float64 but float32 is expected", e.Message);
        Assert.Throws<ArgumentException>(() => Ready().Step(x, 1f, 0.5f, Zeros(1, 3, 4, 4)));
    }

    [Theory]
    [InlineData("sigma_min", -1.0, "sigma_min is -1 but it must be a finite number > 0")]
    [InlineData("sigma_max", 0.01, "sigma_max is 0.01 but it must be finite and greater than sigma_min (0.02)")]
    [InlineData("s_noise", double.NaN, "s_noise is NaN but it must be a finite number >= 0")]
    [InlineData("s_churn", -5.0, "s_churn is -5 but it must be a finite number >= 0")]
    [InlineData("s_min", -0.5, "s_min is -0.5 but it must be a number >= 0")]
    [InlineData("s_max", 0.01, "s_max is 0.01 but it must be a number >= s_min (0.05)")]
    public void Invalid_config_names_the_diffusers_key_and_value(string key, double value, string message)
    {
        var e = Assert.Throws<ArgumentException>(() => new KarrasVeScheduler(
            sigmaMin: key == "sigma_min" ? value : 0.02,
            sigmaMax: key == "sigma_max" ? value : 100,
            sNoise: key == "s_noise" ? value : 1.007,
            sChurn: key == "s_churn" ? value : 80,
            sMin: key == "s_min" ? value : 0.05,
            sMax: key == "s_max" ? value : 50));
        Assert.Equal(key, e.ParamName);
        Assert.StartsWith(message, e.Message);
    }

    [Fact]
    public void A_schedule_that_would_overflow_or_underflow_float32_is_rejected()
    {
        Assert.Equal("sigma_max", Assert.Throws<ArgumentException>(() => new KarrasVeScheduler(sigmaMax: 1e20)).ParamName);
        Assert.Equal("sigma_min", Assert.Throws<ArgumentException>(() => new KarrasVeScheduler(sigmaMin: 1e-30, sigmaMax: 1e10)).ParamName);
    }

    [Fact]
    public void An_infinite_s_max_is_valid()
    {
        var s = new KarrasVeScheduler(sMax: double.PositiveInfinity);
        Assert.Equal(double.PositiveInfinity, s.Config.SMax);
    }
}
