using Schedulers.Core;

namespace Schedulers.Tests;

/// <summary>Size-like config keys and step counts are bounded where configs are validated (ConfigLimits), and
/// DPM-Solver refuses step counts that diffusers refuses or that would repeat a timestep.</summary>
public class ConfigLimitsTests
{
    private static ConfigDict Dict(string json) => ConfigFile.parse(json);

    private static DpmSolverConfig Dpm(string key, object value) => DpmSolverConfig.Schema.SetValue(key, value, DpmSolverConfig.Schema.Defaults);

    [Theory]
    [InlineData("DPMSolverMultistepScheduler", "num_train_timesteps", "2000000000", "100000")]
    [InlineData("DPMSolverMultistepScheduler", "num_train_timesteps", "100000000", "100000")]
    [InlineData("DPMSolverMultistepScheduler", "num_train_timesteps", "100001", "100000")]
    [InlineData("ScoreSdeVeScheduler", "num_train_timesteps", "2000000000", "100000")]
    [InlineData("ScoreSdeVeScheduler", "correct_steps", "1000000", "1000")]
    public void Oversized_keys_are_refused_at_load_naming_the_key_the_value_and_the_limit(string className, string key, string value, string limit)
    {
        var dict = Dict($"{{\"_class_name\": \"{className}\", \"{key}\": {value}}}");
        var e = Assert.Throws<SchedulerConfigException>(() =>
        {
            if (className == ScoreSdeVeConfig.Schema.ClassName) ScoreSdeVeConfig.Schema.OfDict(dict);
            else DpmSolverConfig.Schema.OfDict(dict);
        });
        Assert.Equal(key, e.Key);
        Assert.Contains(value, e.Message);
        Assert.Contains(limit, e.Message);
        Assert.Contains("ConfigLimits.", e.Message);
        Assert.IsType<ArgumentException>(e.InnerException);
    }

    [Fact]
    public void The_record_validators_and_state_constructors_throw_ArgumentException_before_building_tables()
    {
        var dpm = Dpm("num_train_timesteps", 2_000_000_000);
        Assert.Equal("num_train_timesteps", Assert.Throws<ArgumentException>(() => DpmSolverConfig.Schema.Validate(dpm)).ParamName);
        Assert.Equal("num_train_timesteps", Assert.Throws<ArgumentException>(() => DpmSolverMultistepFlax.createState(dpm)).ParamName);
        Assert.Equal("num_train_timesteps", Assert.Throws<ArgumentException>(() => DpmSolverMultistep.create<NdArray>(dpm)).ParamName);
        var sde = new ScoreSdeVeConfig(2_000_000_000, 0.15, 0.01, 1348.0, 1e-5, 1);
        Assert.Equal("num_train_timesteps", Assert.Throws<ArgumentException>(() => ScoreSdeVe.createState(sde)).ParamName);
    }

    [Fact]
    public void The_limits_admit_what_diffusers_configs_use()
    {
        Assert.Equal(100_000, DpmSolverConfig.Schema.OfDict(Dict("{\"num_train_timesteps\": 100000}")).NumTrainTimesteps);
        Assert.Equal(ConfigLimits.MaxSolverOrder, DpmSolverConfig.Schema.OfDict(Dict("{\"solver_order\": 3}")).SolverOrder);
        Assert.Equal(2000, ScoreSdeVeConfig.Schema.OfDict(Dict("{}")).NumTrainTimesteps);
    }

    [Fact]
    public void Every_set_timesteps_bounds_num_inference_steps()
    {
        const int tooMany = ConfigLimits.MaxInferenceSteps + 1;
        var karras = KarrasVe.createState(Flavour.Flax, KarrasVe.defaults);
        Assert.Equal("num_inference_steps", Assert.Throws<ArgumentException>(() => KarrasVe.setTimesteps(tooMany, karras)).ParamName);
        var sde = ScoreSdeVe.createState(ScoreSdeVe.defaults);
        Assert.Equal("num_inference_steps", Assert.Throws<ArgumentException>(() => ScoreSdeVe.setTimesteps(ScoreSdeVe.defaults, tooMany, sde)).ParamName);
        Assert.Equal("num_inference_steps", Assert.Throws<ArgumentException>(() => ScoreSdeVe.setSigmas(ScoreSdeVe.defaults, tooMany, sde)).ParamName);
        var heun = EdmHeun.createState(EdmHeun.defaults);
        Assert.Equal("num_inference_steps", Assert.Throws<ArgumentException>(() => EdmHeun.setTimesteps(tooMany, heun)).ParamName);
        var e = Assert.Throws<ArgumentException>(() => KarrasVe.setTimesteps(int.MaxValue, karras));
        Assert.Contains("100000", e.Message);
    }

    private const string DiffusersMessage =
        "`num_inference_steps`: 2000 cannot be larger than `self.config.train_timesteps`: 1000 as the unet model trained with this scheduler can only handle maximal 1000 timesteps.";

    [Fact]
    public void Dpm_solver_refuses_more_steps_than_training_timesteps_with_diffusers_message_in_both_flavours()
    {
        var torch = DpmSolverMultistep.create<NdArray>(DpmSolverConfig.Schema.Defaults);
        var e = Assert.Throws<ArgumentException>(() => DpmSolverMultistep.setTimesteps(2000, torch));
        Assert.Equal("num_inference_steps", e.ParamName);
        Assert.StartsWith(DiffusersMessage, e.Message);
        var flax = DpmSolverMultistepFlax.createState(DpmSolverConfig.Schema.Defaults);
        var f = Assert.Throws<ArgumentException>(() => DpmSolverMultistepFlax.setTimesteps(flax, 2000, [1, 2]));
        Assert.Equal("num_inference_steps", f.ParamName);
        Assert.StartsWith(DiffusersMessage, f.Message);
    }

    [Theory]
    [InlineData("linspace")]
    [InlineData("leading")]
    public void Dpm_solver_refuses_a_schedule_that_repeats_a_timestep_in_both_flavours(string spacing)
    {
        var config = Dpm("timestep_spacing", spacing);
        var torch = DpmSolverMultistep.create<NdArray>(config);
        Assert.Contains("repeat", Assert.Throws<ArgumentException>(() => DpmSolverMultistep.setTimesteps(1000, torch)).Message);
        var flax = DpmSolverMultistepFlax.createState(config);
        Assert.Contains("repeat", Assert.Throws<ArgumentException>(() => DpmSolverMultistepFlax.setTimesteps(flax, 1000, [1, 2])).Message);
        // One step fewer gives distinct timesteps, and trailing spacing is distinct up to num_train_timesteps.
        Assert.Equal(999, DpmSolverMultistep.setTimesteps(999, torch).Timesteps.Distinct().Count());
        Assert.Equal(999, DpmSolverMultistepFlax.setTimesteps(flax, 999, [1, 2]).Timesteps.Distinct().Count());
        var trailing = DpmSolverMultistep.create<NdArray>(Dpm("timestep_spacing", "trailing"));
        Assert.Equal(1000, DpmSolverMultistep.setTimesteps(1000, trailing).Timesteps.Distinct().Count());
    }

    [Fact]
    public void Sigma_options_keep_diffusers_schedule_even_when_rounding_repeats_a_timestep()
    {
        var karras = DpmSolverMultistep.create<NdArray>(Dpm("use_karras_sigmas", true));
        var state = DpmSolverMultistep.setTimesteps(1000, karras);
        Assert.Equal(1001, state.Sigmas.Length);
    }

    [Theory]
    [InlineData("beta_start", "NaN")]
    [InlineData("beta_end", "Infinity")]
    [InlineData("beta_start", "-0.1")]
    public void Unusable_beta_bounds_are_named_by_their_key(string key, string value)
    {
        var e = Assert.Throws<SchedulerConfigException>(() => DpmSolverConfig.Schema.OfDict(Dict($"{{\"{key}\": {value}}}")));
        Assert.Equal(key, e.Key);
        Assert.StartsWith(key, e.Message);
    }
}
