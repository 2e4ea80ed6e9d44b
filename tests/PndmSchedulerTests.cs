using Schedulers.Core;
using static TorchSharp.torch;

namespace Schedulers.Tests;

/// <summary>The torch PNDM class's API beyond the golden loops: its stages, errors, history and config round trip.</summary>
public sealed class PndmSchedulerTests
{
    [Fact]
    public void Step_needs_timesteps_and_rejects_prediction_types_the_class_lacks()
    {
        using var scope = NewDisposeScope();
        var scheduler = new PNDMScheduler();
        var x = zeros(2, 3, 4);
        Assert.Contains("SetTimesteps", Assert.Throws<InvalidOperationException>(() => scheduler.Step(x, 999, x)).Message);
        var sample = Assert.Throws<SchedulerConfigException>(() => PNDMScheduler.FromConfig(ConfigFile.parse("{\"prediction_type\": \"sample\"}")));
        Assert.Contains("prediction_type", sample.Message);
        Assert.Contains("num_train_timesteps", Assert.Throws<ArgumentException>(() => scheduler.SetTimesteps(1001)).Message);
    }

    [Fact]
    public void The_runge_kutta_stage_takes_twelve_steps_then_the_multistep_stage_follows()
    {
        var scheduler = new PNDMScheduler();
        scheduler.SetTimesteps(10);
        Assert.Equal(new long[] { 900, 850, 850, 800, 800, 750, 750, 700, 700, 650, 650, 600 }, scheduler.PrkTimesteps);
        Assert.Equal(new long[] { 600, 500, 400, 300, 200, 100, 0 }, scheduler.PlmsTimesteps);
        Assert.Equal(scheduler.PrkTimesteps.Concat(scheduler.PlmsTimesteps), scheduler.Timesteps);
        var skipping = PNDMScheduler.FromConfig(ConfigFile.parse("{\"skip_prk_steps\": true}"));
        skipping.SetTimesteps(10);
        Assert.Empty(skipping.PrkTimesteps);
        Assert.Equal(new long[] { 900, 800, 800, 700, 600, 500, 400, 300, 200, 100, 0 }, skipping.Timesteps);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Fewer_than_four_steps_with_the_runge_kutta_stage_run_as_skip_prk_steps(int n)
    {
        using var scope = NewDisposeScope();
        var prk = new PNDMScheduler();
        var skip = PNDMScheduler.FromConfig(ConfigFile.parse("{\"skip_prk_steps\": true}"));
        prk.SetTimesteps(n);
        skip.SetTimesteps(n);
        Assert.Equal(skip.Timesteps, prk.Timesteps);
        var a = arange(24, ScalarType.Float32).reshape(2, 3, 4).div(24f);
        var b = a;
        foreach (var t in prk.Timesteps)
        {
            a = prk.Step(a.mul(0.5f), t, a).PrevSample;
            b = skip.Step(b.mul(0.5f), t, b).PrevSample;
        }
        Assert.Equal(b.data<float>().ToArray(), a.data<float>().ToArray());
        Assert.All(a.data<float>().ToArray(), v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void The_history_survives_the_callers_disposing_its_tensors()
    {
        var scheduler = new PNDMScheduler();
        scheduler.SetTimesteps(5);
        var x = ones(2, 3, 4);
        foreach (var t in scheduler.Timesteps)
        {
            Tensor next;
            using (var scope = NewDisposeScope())
            {
                var output = x.mul(0.1f);
                next = scheduler.Step(output, t, x).PrevSample.MoveToOuterDisposeScope();
            }
            x = next;
        }
        Assert.Equal(scheduler.Timesteps.Length, scheduler.Counter);
        Assert.All(x.data<float>().ToArray(), v => Assert.True(float.IsFinite(v)));
        // set_timesteps clears the history.
        scheduler.SetTimesteps(5);
        Assert.Equal(0, scheduler.Counter);
        Assert.Empty(scheduler.State.Ets);
    }

    [Fact]
    public void A_ddim_config_loads_into_pndm_and_saves_its_keys_again()
    {
        var ddim = new DDIMScheduler().ConfigText();
        var pndm = PNDMScheduler.FromConfig(ConfigFile.parse(ddim));
        Assert.Contains("\"_class_name\": \"PNDMScheduler\"", pndm.ConfigText());
        Assert.True(pndm.Config.SetAlphaToOne);
        Assert.Contains("\"clip_sample\": true", pndm.ConfigText());
        Assert.Contains("DDIMScheduler", PNDMScheduler.Compatibles);
        var back = DDIMScheduler.FromConfig(ConfigFile.parse(pndm.ConfigText()));
        Assert.Equal(new DDIMScheduler().Config, back.Config);
        Assert.Contains("\"skip_prk_steps\": false", back.ConfigText());
    }
}
