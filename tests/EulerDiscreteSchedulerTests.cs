using Schedulers.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Schedulers.Tests;

/// <summary>The torch Euler class's API beyond the golden loops: step and begin indices, churn noise, custom
/// schedules, errors and the config round trip.</summary>
public sealed class EulerDiscreteSchedulerTests
{
    private static EulerDiscreteScheduler With(string json) => EulerDiscreteScheduler.FromConfig(ConfigFile.parse(json));

    [Fact]
    public void Scale_model_input_and_step_track_the_step_index()
    {
        using var scope = NewDisposeScope();
        var scheduler = new EulerDiscreteScheduler();
        scheduler.SetTimesteps(10);
        Assert.Null(scheduler.StepIndex);
        var ts = scheduler.Timesteps;
        var sigmas = scheduler.Sigmas;
        var x = ones(2, 3, 4);
        var scaled = scheduler.ScaleModelInput(x, ts[0]);
        Assert.Equal(0, scheduler.StepIndex);
        Assert.Equal(1 / MathF.Sqrt(sigmas[0] * sigmas[0] + 1), scaled.data<float>()[0], 6);
        scheduler.Step(scaled, ts[0], x);
        Assert.Equal(1, scheduler.StepIndex);
        // A new schedule resets both indices; a begin index starts the run part-way.
        scheduler.SetTimesteps(10);
        scheduler.SetBeginIndex(3);
        Assert.Null(scheduler.StepIndex);
        scheduler.ScaleModelInput(x, ts[3]);
        Assert.Equal(3, scheduler.StepIndex);
    }

    [Fact]
    public void Churn_noise_comes_from_the_generator()
    {
        using var scope = NewDisposeScope();
        Tensor Run(double churn, ulong seed)
        {
            var scheduler = new EulerDiscreteScheduler();
            scheduler.SetTimesteps(10);
            var x = randn(new long[] { 2, 3, 4 }, generator: new Generator(1));
            var m = randn(new long[] { 2, 3, 4 }, generator: new Generator(2));
            return scheduler.Step(m, scheduler.Timesteps[0], x, sChurn: churn, generator: new Generator(seed)).PrevSample;
        }
        Assert.Equal(Run(1.0, 5).data<float>().ToArray(), Run(1.0, 5).data<float>().ToArray());
        Assert.NotEqual(Run(1.0, 5).data<float>().ToArray(), Run(1.0, 6).data<float>().ToArray());
        Assert.NotEqual(Run(0.0, 5).data<float>().ToArray(), Run(1.0, 5).data<float>().ToArray());
        // Without churn the generator is not used.
        Assert.Equal(Run(0.0, 5).data<float>().ToArray(), Run(0.0, 6).data<float>().ToArray());
    }

    [Fact]
    public void Custom_sigmas_and_timesteps_set_the_schedule()
    {
        var scheduler = new EulerDiscreteScheduler();
        scheduler.SetSigmas([14.6, 8.0, 3.0, 1.0, 0.3, 0.05]);
        Assert.Equal(5, scheduler.NumInferenceSteps);
        Assert.Equal(6, scheduler.Sigmas.Length);
        Assert.Equal(0.05f, scheduler.Sigmas[5]);
        Assert.Equal(14.6f, (float)scheduler.InitNoiseSigma);
        scheduler.SetTimesteps([900f, 500.5f, 100f]);
        Assert.Equal([900f, 500.5f, 100f], scheduler.Timesteps);
        Assert.Equal(0f, scheduler.Sigmas[3]);
        var karras = With("""{"use_karras_sigmas": true}""");
        Assert.Contains("use_karras_sigmas", Assert.Throws<ArgumentException>(() => karras.SetTimesteps([900f, 100f])).Message);
    }

    [Fact]
    public void Invalid_configs_and_calls_are_refused()
    {
        Assert.Contains("only one of", Assert.Throws<SchedulerConfigException>(() =>
            With("""{"use_karras_sigmas": true, "use_beta_sigmas": true}""")).Message);
        var scheduler = new EulerDiscreteScheduler();
        var x = zeros(1, 2);
        Assert.Contains("SetTimesteps", Assert.Throws<InvalidOperationException>(() => scheduler.Step(x, 999f, x)).Message);
        scheduler.SetTimesteps(4);
        Assert.Contains("not one of", Assert.Throws<ArgumentException>(() => scheduler.Step(x, 998.5f, x)).Message);
    }

    [Fact]
    public void Init_noise_sigma_follows_the_spacing()
    {
        var linspace = new EulerDiscreteScheduler();
        linspace.SetTimesteps(10);
        Assert.Equal(linspace.Sigmas.Max(), (float)linspace.InitNoiseSigma);
        var leading = With("""{"timestep_spacing": "leading"}""");
        leading.SetTimesteps(10);
        var max = leading.Sigmas.Max();
        Assert.Equal(MathF.Sqrt(max * max + 1), (float)leading.InitNoiseSigma);
    }

    [Fact]
    public void A_ddim_config_loads_into_euler_and_back()
    {
        var ddim = new DDIMScheduler().ConfigText();
        var euler = EulerDiscreteScheduler.FromConfig(ConfigFile.parse(ddim));
        Assert.Contains("\"_class_name\": \"EulerDiscreteScheduler\"", euler.ConfigText());
        Assert.Contains("\"set_alpha_to_one\": true", euler.ConfigText());
        Assert.Contains("DDIMScheduler", EulerDiscreteScheduler.Compatibles);
        var back = DDIMScheduler.FromConfig(ConfigFile.parse(euler.ConfigText()));
        Assert.Equal(new DDIMScheduler().Config, back.Config);
        Assert.Contains("\"interpolation_type\": \"linear\"", back.ConfigText());
    }
}
