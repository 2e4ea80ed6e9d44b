using Schedulers.Core;
using static Schedulers.Tests.DpmSolverTestKit;
using static TorchSharp.torch;

namespace Schedulers.Tests;

/// <summary>Wrong DPM-Solver calls fail at once with messages that name the argument, the value and what was expected.</summary>
public class DpmSolverErrorTests
{
    [Theory]
    [InlineData("algorithm_type", "dpm", "algorithm_type")]
    [InlineData("solver_type", "rk4", "solver_type")]
    [InlineData("beta_schedule", "cubic", "beta_schedule")]
    [InlineData("prediction_type", "score", "prediction_type")]
    [InlineData("timestep_spacing", "random", "timestep_spacing")]
    [InlineData("final_sigmas_type", "one", "final_sigmas_type")]
    public void Bad_options_name_the_diffusers_key(string key, string value, string expectedParam)
    {
        var e = Assert.Throws<ArgumentException>(() => new DPMSolverMultistepScheduler(new Dictionary<string, object?> { [key] = value }));
        Assert.Equal(expectedParam, e.ParamName);
        Assert.Contains(value, e.Message);
    }

    [Fact]
    public void Bad_numbers_and_combinations_are_refused()
    {
        Assert.Equal("solver_order", Assert.Throws<ArgumentException>(() => new DPMSolverMultistepScheduler(new Dictionary<string, object?> { ["solver_order"] = 4 })).ParamName);
        Assert.Equal("final_sigmas_type", Assert.Throws<ArgumentException>(() => new DPMSolverMultistepScheduler(new Dictionary<string, object?> { ["algorithm_type"] = "dpmsolver" })).ParamName);
        Assert.Equal("use_karras_sigmas", Assert.Throws<ArgumentException>(() => new DPMSolverMultistepScheduler(new Dictionary<string, object?> { ["use_karras_sigmas"] = true, ["use_beta_sigmas"] = true })).ParamName);
        Assert.Equal("prediction_type", Assert.Throws<ArgumentException>(() => new DPMSolverMultistepScheduler(new Dictionary<string, object?> { ["algorithm_type"] = "dpmsolver", ["final_sigmas_type"] = "sigma_min", ["prediction_type"] = "flow_prediction" })).ParamName);
        Assert.Equal("key", Assert.Throws<ArgumentException>(() => new DPMSolverMultistepScheduler(new Dictionary<string, object?> { ["solver_ordr"] = 2 })).ParamName);
        Assert.Equal("thresholding", Assert.Throws<ArgumentException>(() => new DPMSolverMultistepScheduler(new Dictionary<string, object?> { ["thresholding"] = "yes" })).ParamName);
    }

    [Fact]
    public void Sde_dpmsolver_at_order_3_is_refused_at_construction()
    {
        var e = Assert.Throws<ArgumentException>(() => new DPMSolverMultistepScheduler(new Dictionary<string, object?>
        {
            ["algorithm_type"] = "sde-dpmsolver", ["solver_order"] = 3, ["final_sigmas_type"] = "sigma_min",
        }));
        Assert.Equal("solver_order", e.ParamName);
        Assert.Contains("sde-dpmsolver", e.Message);
    }

    [Fact]
    public void Deprecated_aliases_resolve_as_diffusers_does()
    {
        var s = new DPMSolverMultistepScheduler(new Dictionary<string, object?> { ["algorithm_type"] = "deis", ["solver_type"] = "bh2" });
        Assert.Equal(AlgorithmType.DpmSolverPlusPlus, s.Config.AlgorithmType);
        Assert.Equal(SolverType.Midpoint, s.Config.SolverType);
    }

    [Fact]
    public void Step_before_set_timesteps_says_what_to_call()
    {
        var s = new DPMSolverMultistepScheduler();
        var x = Deter();
        var e = Assert.Throws<InvalidOperationException>(() => s.Step(x, 999, x));
        Assert.Contains("SetTimesteps", e.Message);
        var core = Assert.Throws<InvalidOperationException>(() => DpmSolverMultistep.step(NdArrayBackend.Default, NdArrayModule.zeros(new[] { 1, 2 }), 999L, NdArrayModule.zeros(new[] { 1, 2 }), DpmSolverMultistep.create<NdArray>(DpmSolverConfig.Schema.Defaults)));
        Assert.Contains("set_timesteps", core.Message);
    }

    [Fact]
    public void Shape_mismatch_names_both_shapes()
    {
        var s = new DPMSolverMultistepScheduler();
        s.SetTimesteps(10);
        var e = Assert.Throws<ArgumentException>(() => s.Step(zeros(4, 3, 8, 9), 999, zeros(4, 3, 8, 8)));
        Assert.Contains("sample has shape [4,3,8,8] but model_output has [4,3,8,9]", e.Message);
    }

    [Fact]
    public void Set_timesteps_arguments_are_checked()
    {
        var s = new DPMSolverMultistepScheduler();
        Assert.Equal("num_inference_steps", Assert.Throws<ArgumentException>(() => s.SetTimesteps(0)).ParamName);
        Assert.Equal("timesteps", Assert.Throws<ArgumentException>(() => s.SetTimesteps(new long[] { 1000 })).ParamName);
        Assert.Equal("mu", Assert.Throws<ArgumentException>(() => s.SetTimesteps(10, mu: 0.5)).ParamName);
        var karras = new DPMSolverMultistepScheduler(new Dictionary<string, object?> { ["use_karras_sigmas"] = true });
        Assert.Equal("timesteps", Assert.Throws<ArgumentException>(() => karras.SetTimesteps(new long[] { 999, 500 })).ParamName);
    }

    [Fact]
    public void Stepping_past_the_last_timestep_says_to_reset()
    {
        var s = new DPMSolverMultistepScheduler();
        s.SetTimesteps(2);
        var x = zeros(1, 3, 2, 2);
        foreach (var t in s.State.Timesteps) x = s.Step(x, t, x).PrevSample;
        var e = Assert.Throws<InvalidOperationException>(() => s.Step(x, 0, x));
        Assert.Contains("set_timesteps", e.Message);
    }

    [Fact]
    public void Flax_flavour_refuses_what_the_flax_scheduler_lacks()
    {
        var sde = DpmSolverConfig.Schema.SetValue("algorithm_type", "sde-dpmsolver++", DpmSolverConfig.Schema.Defaults);
        Assert.Equal("algorithm_type", Assert.Throws<ArgumentException>(() => DpmSolverMultistepFlax.createState(sde)).ParamName);
        var state = DpmSolverMultistepFlax.createState(DpmSolverConfig.Schema.Defaults);
        Assert.Throws<InvalidOperationException>(() => DpmSolverMultistepFlax.step(state, NdArrayModule.zeros(new[] { 1, 2 }), 999, NdArrayModule.zeros(new[] { 1, 2 })));
        state = DpmSolverMultistepFlax.setTimesteps(state, 5, new[] { 1, 2 });
        var e = Assert.Throws<ArgumentException>(() => DpmSolverMultistepFlax.step(state, NdArrayModule.zeros(new[] { 1, 3 }), 999, NdArrayModule.zeros(new[] { 1, 2 })));
        Assert.Contains("model_output has [1,3]", e.Message);
    }
}
