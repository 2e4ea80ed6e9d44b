using Schedulers.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Schedulers.Tests;

/// <summary>The torch DDIM class's API beyond the golden loops: errors, noise sources, and the config round trip.</summary>
public sealed class DdimSchedulerTests
{
    [Fact]
    public void Step_needs_timesteps_and_one_noise_source()
    {
        using var scope = NewDisposeScope();
        var scheduler = new DDIMScheduler();
        var x = zeros(2, 3, 4);
        Assert.Contains("SetTimesteps", Assert.Throws<InvalidOperationException>(() => scheduler.Step(x, 999, x)).Message);
        scheduler.SetTimesteps(10);
        var both = Assert.Throws<ArgumentException>(() => scheduler.Step(x, 900, x, eta: 1.0, generator: new Generator(0), varianceNoise: x));
        Assert.Contains("variance_noise", both.Message);
        Assert.Contains("num_train_timesteps", Assert.Throws<ArgumentException>(() => scheduler.SetTimesteps(1001)).Message);
    }

    [Fact]
    public void Eta_noise_from_a_generator_equals_the_same_noise_given_as_variance_noise()
    {
        using var scope = NewDisposeScope();
        var scheduler = new DDIMScheduler();
        scheduler.SetTimesteps(10);
        var x = randn(new long[] { 2, 3, 4 }, generator: new Generator(1));
        var m = randn(new long[] { 2, 3, 4 }, generator: new Generator(2));
        var drawn = scheduler.Step(m, 900, x, eta: 1.0, generator: new Generator(3)).PrevSample;
        var noise = randn(new long[] { 2, 3, 4 }, generator: new Generator(3));
        var given = scheduler.Step(m, 900, x, eta: 1.0, varianceNoise: noise).PrevSample;
        Assert.Equal(drawn.data<float>().ToArray(), given.data<float>().ToArray());
        // The caller's variance noise is still usable after the step.
        Assert.Equal(24, noise.data<float>().ToArray().Length);
        var deterministic = scheduler.Step(m, 900, x).PrevSample;
        Assert.NotEqual(deterministic.data<float>().ToArray(), drawn.data<float>().ToArray());
    }

    [Fact]
    public void A_dpm_solver_config_loads_into_ddim_and_saves_its_keys_again()
    {
        var dpm = new DPMSolverMultistepScheduler().ConfigText();
        var ddim = DDIMScheduler.FromConfig(ConfigFile.parse(dpm));
        Assert.Contains("\"_class_name\": \"DDIMScheduler\"", ddim.ConfigText());
        Assert.Contains("\"algorithm_type\": \"dpmsolver++\"", ddim.ConfigText());
        Assert.Contains("DPMSolverMultistepScheduler", DDIMScheduler.Compatibles);
        // Back to DPM-Solver: its own values are unchanged, and DDIM's keys are now kept in its file (as diffusers does).
        var back = DPMSolverMultistepScheduler.FromConfig(ConfigFile.parse(ddim.ConfigText()));
        Assert.Equal(new DPMSolverMultistepScheduler().Config, back.Config);
        Assert.Contains("\"set_alpha_to_one\": true", back.ConfigText());
    }
}
