using Schedulers.Cli;
using Schedulers.Core;
using Schedulers.Evaluation;

namespace Schedulers.Tests;

/// <summary>DDIM from the command line: `--scheduler ddim` builds the sampler with the target-sized defaults, and a
/// short run samples every mode of ring8.</summary>
public sealed class DdimCommandTests
{
    [Fact]
    public void Ddim_is_a_scheduler_of_sample_and_compare_with_clipping_off_by_default_on_targets()
    {
        var sampler = Assert.IsType<TargetSampler.DdimSampler>(SamplerConfigs.Build(SamplerConfigs.ParseKind("ddim"), null, [], Targets.ring8));
        Assert.False(sampler.ddim.ClipSample);
        var v = Assert.IsType<TargetSampler.DdimSampler>(SamplerConfigs.Build(SchedulerKind.Ddim, null, ["prediction_type=v_prediction", "clip_sample=true"], Targets.ring8));
        Assert.Equal(PredictionType.VPrediction, v.ddim.PredictionType);
        Assert.True(v.ddim.ClipSample);
        Assert.Equal(20, TargetSampling.nfe(sampler, 20));
        var bad = Assert.Throws<UsageException>(() => SamplerConfigs.Build(SchedulerKind.Ddim, null, ["timestep_spacing=sideways"], Targets.ring8));
        Assert.Contains("timestep_spacing", bad.Message);
    }

    [Fact]
    public void A_twenty_step_run_covers_every_mode_of_ring8()
    {
        var sampler = SamplerConfigs.Build(SchedulerKind.Ddim, null, [], Targets.ring8);
        var samples = TargetSampling.run(sampler, Targets.ring8, 20, Prng.key(0), 0, 512, Microsoft.FSharp.Core.FuncConvert.FromAction<int>(_ => { }));
        var coverage = Metrics.modeCoverage(Targets.ring8, samples);
        Assert.Equal(8, coverage.ModesCovered);
        Assert.True(coverage.TotalVariation < 0.1, $"mode shares differ from the weights by {coverage.TotalVariation}");
    }

    [Theory]
    [InlineData("ddpm")]
    [InlineData("pndm")]
    [InlineData("lms")]
    [InlineData("euler")]
    public void Every_family_class_samples_ring8_from_the_command_line(string name)
    {
        var kind = SamplerConfigs.ParseKind(name);
        var sampler = SamplerConfigs.Build(kind, null, [], Targets.ring8);
        Assert.Equal(name, SamplerConfigs.Name(kind));
        Assert.True(TargetSampling.nfe(sampler, 20) >= 20);
        var samples = TargetSampling.run(sampler, Targets.ring8, 20, Prng.key(0), 0, 256, Microsoft.FSharp.Core.FuncConvert.FromAction<int>(_ => { }));
        Assert.True(NdArrayModule.isFinite(samples));
        Assert.Equal(8, Metrics.modeCoverage(Targets.ring8, samples).ModesCovered);
    }
}

