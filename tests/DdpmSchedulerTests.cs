using Schedulers.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Schedulers.Tests;

/// <summary>The torch DDPM class's API beyond the golden loops: custom timesteps, the noise draw, learned variances
/// and the config round trip.</summary>
public sealed class DdpmSchedulerTests
{
    [Fact]
    public void Custom_timesteps_must_descend_within_the_training_range_and_set_the_previous_timestep()
    {
        var scheduler = new DDPMScheduler();
        Assert.Equal(499, scheduler.PreviousTimestep(500));
        Assert.Contains("descending", Assert.Throws<ArgumentException>(() => scheduler.SetTimesteps(new long[] { 10, 10, 0 })).Message);
        Assert.Contains("num_train_timesteps", Assert.Throws<ArgumentException>(() => scheduler.SetTimesteps(new long[] { 1000, 0 })).Message);
        scheduler.SetTimesteps(new long[] { 900, 450, 3 });
        Assert.True(scheduler.CustomTimesteps);
        Assert.Null(scheduler.NumInferenceSteps);
        Assert.Equal(new long[] { 900, 450, 3 }, scheduler.Timesteps);
        Assert.Equal(450, scheduler.PreviousTimestep(900));
        Assert.Equal(-1, scheduler.PreviousTimestep(3));
        scheduler.SetTimesteps(10);
        Assert.False(scheduler.CustomTimesteps);
        Assert.Equal(800, scheduler.PreviousTimestep(900));
    }

    [Fact]
    public void A_step_draws_one_normal_from_the_generator_for_t_above_0_and_none_at_0()
    {
        using var scope = NewDisposeScope();
        var scheduler = new DDPMScheduler();
        scheduler.SetTimesteps(10);
        var x = randn(new long[] { 2, 3, 4 }, generator: new Generator(1));
        var m = randn(new long[] { 2, 3, 4 }, generator: new Generator(2));
        var g = new Generator(3);
        var first = scheduler.Step(m, 900, x, g);
        var same = new Generator(3);
        var noise = randn(new long[] { 2, 3, 4 }, generator: same);
        var mean = scheduler.Step(m, 0, x, new Generator(3)).PrevSample;
        Assert.Equal(randn(new long[] { 1 }, generator: same).item<float>(), randn(new long[] { 1 }, generator: g).item<float>());
        // At t = 0 the step is the posterior mean, whatever the generator.
        var again = scheduler.Step(m, 0, x, g).PrevSample;
        Assert.Equal(mean.data<float>().ToArray(), again.data<float>().ToArray());
        Assert.Equal(24, first.PrevSample.data<float>().ToArray().Length);
        Assert.Equal(24, noise.data<float>().ToArray().Length);
    }

    [Fact]
    public void A_learned_variance_splits_the_channels_and_needs_them_for_t_above_0()
    {
        using var scope = NewDisposeScope();
        var scheduler = DDPMScheduler.FromConfig(ConfigFile.parse("{\"variance_type\": \"learned_range\"}"));
        scheduler.SetTimesteps(10);
        var x = randn(new long[] { 2, 3, 4 }, generator: new Generator(1));
        var m = randn(new long[] { 2, 6, 4 }, generator: new Generator(2)).tanh();
        var r = scheduler.Step(m, 900, x, new Generator(3));
        Assert.Equal(new long[] { 2, 3, 4 }, r.PrevSample.shape);
        Assert.True(r.PrevSample.isfinite().all().item<bool>());
        Assert.Contains("twice", Assert.Throws<ArgumentException>(() => scheduler.Step(x, 900, x, new Generator(3))).Message);
        Assert.Equal(new long[] { 2, 3, 4 }, scheduler.Step(x, 0, x).PrevSample.shape);
    }

    [Fact]
    public void A_dpm_solver_config_loads_with_a_null_variance_type_that_acts_as_fixed_small_and_saves_as_null()
    {
        var ddpm = DDPMScheduler.FromConfig(ConfigFile.parse(new DPMSolverMultistepScheduler().ConfigText()));
        Assert.Equal(DdpmVarianceType.Unset, ddpm.Config.VarianceType);
        Assert.Contains("\"variance_type\": null", ddpm.ConfigText());
        Assert.Contains("\"_class_name\": \"DDPMScheduler\"", ddpm.ConfigText());
        var small = DDPMScheduler.FromConfig(ConfigFile.parse("{\"variance_type\": \"fixed_small\"}"));
        var unset = DDPMScheduler.FromConfig(ConfigFile.parse("{\"variance_type\": null}"));
        small.SetTimesteps(10);
        unset.SetTimesteps(10);
        Assert.Equal(Ddpm.plan(small.State, 500).StdDev, Ddpm.plan(unset.State, 500).StdDev);
        Assert.Contains("variance_type", Assert.Throws<SchedulerConfigException>(() =>
            DDPMScheduler.FromConfig(ConfigFile.parse("{\"variance_type\": \"wide\"}"))).Message);
    }
}
