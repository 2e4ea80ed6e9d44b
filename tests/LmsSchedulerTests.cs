using Schedulers.Core;
using static TorchSharp.torch;

namespace Schedulers.Tests;

/// <summary>The torch LMS class's API beyond the golden loops: the step index, errors, add_noise and the config round trip.</summary>
public sealed class LmsSchedulerTests
{
    [Fact]
    public void Scale_model_input_then_step_advance_the_step_index_and_keep_the_history()
    {
        using var scope = NewDisposeScope();
        var scheduler = new LMSDiscreteScheduler();
        scheduler.SetTimesteps(10);
        Assert.Null(scheduler.StepIndex);
        var x = randn(new long[] { 2, 3, 4 }, generator: new TorchSharp.torch.Generator(1));
        var t = scheduler.Timesteps;
        var scaled = scheduler.ScaleModelInput(x, t[0]);
        Assert.Equal(0, scheduler.StepIndex);
        var sigma = scheduler.Sigmas[0];
        Assert.Equal(x.div(MathF.Sqrt(sigma * sigma + 1)).data<float>().ToArray(), scaled.data<float>().ToArray());
        for (int i = 0; i < 6; i++)
        {
            var output = scheduler.Step(x.mul(0.5f), t[i], x);
            x = output.PrevSample;
        }
        Assert.Equal(6, scheduler.StepIndex);
        Assert.Equal(4, scheduler.State.Derivatives.Length);
        scheduler.SetTimesteps(10);
        Assert.Empty(scheduler.State.Derivatives);
        Assert.Null(scheduler.StepIndex);
    }

    [Fact]
    public void Begin_index_sets_where_add_noise_and_the_first_step_start()
    {
        using var scope = NewDisposeScope();
        var scheduler = new LMSDiscreteScheduler();
        scheduler.SetTimesteps(10);
        scheduler.SetBeginIndex(3);
        var x = ones(2, 3);
        var noise = ones(2, 3);
        var noisy = scheduler.AddNoise(x, noise, [scheduler.Timesteps[0], scheduler.Timesteps[0]]);
        Assert.Equal(1 + scheduler.Sigmas[3], noisy.data<float>()[0]);
        scheduler.Step(x, scheduler.Timesteps[3], x);
        Assert.Equal(4, scheduler.StepIndex);
    }

    [Fact]
    public void Invalid_configs_and_timesteps_are_refused()
    {
        var both = new LmsConfig(1000, 0.0001, 0.02, BetaSchedule.Linear, null, true, true, false, PredictionType.Epsilon, TimestepSpacing.Linspace, 0);
        Assert.Contains("use_karras_sigmas", Assert.Throws<ArgumentException>(() => new LMSDiscreteScheduler(both)).Message);
        using var scope = NewDisposeScope();
        var scheduler = new LMSDiscreteScheduler();
        scheduler.SetTimesteps(10);
        var x = zeros(2, 3);
        Assert.Contains("timestep", Assert.Throws<ArgumentException>(() => scheduler.Step(x, 123.5f, x)).Message);
        Assert.Contains("order", Assert.Throws<ArgumentException>(() => scheduler.Step(x, scheduler.Timesteps[0], x, order: 0)).Message);
    }

    [Fact]
    public void A_ddim_config_loads_into_lms_and_back()
    {
        var ddim = new DDIMScheduler().ConfigText();
        var lms = LMSDiscreteScheduler.FromConfig(ConfigFile.parse(ddim));
        Assert.Contains("\"_class_name\": \"LMSDiscreteScheduler\"", lms.ConfigText());
        Assert.Contains("\"set_alpha_to_one\": true", lms.ConfigText());
        Assert.Contains("DDIMScheduler", LMSDiscreteScheduler.Compatibles);
        var back = DDIMScheduler.FromConfig(ConfigFile.parse(lms.ConfigText()));
        Assert.Equal(new DDIMScheduler().Config, back.Config);
        Assert.Contains("\"use_karras_sigmas\": false", back.ConfigText());
    }
}
