using Schedulers.Core;
using Schedulers.Hub;

namespace Schedulers.Tests;

/// <summary>Config loading and saving through the scheduler classes, with diffusers' semantics.</summary>
public class SchedulerConfigTests
{
    private static string GoldenConfig(string className) =>
        File.ReadAllText(Path.Combine(TestData.GoldenDir, "configs", className + ".scheduler_config.json"));

    [Fact]
    public void Default_configs_save_byte_identical_to_diffusers()
    {
        Assert.Equal(GoldenConfig("ScoreSdeVeScheduler"), new ScoreSdeVeScheduler().ConfigText());
        Assert.Equal(GoldenConfig("KarrasVeScheduler"), new KarrasVeScheduler().ConfigText());
        Assert.Equal(GoldenConfig("DPMSolverMultistepScheduler"), new DPMSolverMultistepScheduler().ConfigText());
    }

    [Fact]
    public void Dpm_solver_uses_sigma_bounds_carried_from_an_euler_config_and_saves_them_again()
    {
        var path = Path.Combine(TestData.GoldenDir, "real-configs", "HMPDM__EulerDiscreteScheduler.json");
        var scheduler = DPMSolverMultistepScheduler.FromPretrained(path);
        Assert.Equal(124.8983, scheduler.Config.SigmaMax!.Value);
        scheduler.SetTimesteps(5);
        Assert.Equal(124.8983f, scheduler.State.Sigmas[0], 4);
        var saved = scheduler.ConfigText();
        Assert.Contains("\"sigma_max\": 124.8983,", saved);
        Assert.Contains("\"interpolation_type\": \"linear\",", saved);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(saved, "\"sigma_max\""));
        Assert.Equal(saved, DPMSolverMultistepScheduler.FromConfig(ConfigFile.parse(saved)).ConfigText());
    }

    [Theory]
    [InlineData("{\"beta_schedule\": \"cubic\"}", "beta_schedule")]
    [InlineData("{\"algorithm_type\": \"dpm\"}", "algorithm_type")]
    [InlineData("{\"solver_type\": \"rk4\"}", "solver_type")]
    [InlineData("{\"prediction_type\": \"noise\"}", "prediction_type")]
    [InlineData("{\"timestep_spacing\": \"uniform\"}", "timestep_spacing")]
    [InlineData("{\"final_sigmas_type\": \"one\"}", "final_sigmas_type")]
    [InlineData("{\"use_karras_sigmas\": true, \"use_beta_sigmas\": true}", "use_karras_sigmas")]
    [InlineData("{\"solver_order\": 0}", "solver_order")]
    [InlineData("{\"num_train_timesteps\": -5}", "num_train_timesteps")]
    [InlineData("{\"trained_betas\": [0.1, -0.2]}", "trained_betas")]
    [InlineData("{\"thresholding\": \"yes\"}", "thresholding")]
    [InlineData("{\"algorithm_type\": \"sde-dpmsolver\", \"solver_order\": 3, \"final_sigmas_type\": \"sigma_min\"}", "solver_order")]
    public void Invalid_dpm_configs_are_rejected_naming_the_key(string text, string key)
    {
        var e = Assert.Throws<SchedulerConfigException>(() => DPMSolverMultistepScheduler.FromConfig(ConfigFile.parse(text)));
        Assert.Equal(key, e.Key);
    }

    [Fact]
    public void Load_then_save_is_the_identity_on_the_golden_configs()
    {
        foreach (var name in new[] { "ScoreSdeVeScheduler", "KarrasVeScheduler" })
        {
            var dir = Directory.CreateTempSubdirectory();
            try
            {
                var source = Path.Combine(TestData.GoldenDir, "configs", name + ".scheduler_config.json");
                var path = name == "KarrasVeScheduler"
                    ? KarrasVeScheduler.FromPretrained(source).SaveConfig(dir.FullName)
                    : ScoreSdeVeScheduler.FromPretrained(source).SaveConfig(dir.FullName);
                Assert.Equal(File.ReadAllBytes(source), File.ReadAllBytes(path));
            }
            finally
            {
                dir.Delete(true);
            }
        }
    }

    [Fact]
    public void Old_layouts_load_and_numbers_keep_their_text_and_other_keys_are_kept()
    {
        // Four-space indent, unsorted keys, no trailing newline, an integer where the default is a float,
        // a key of no known class, and a key listed in _use_default_values.
        var text = "{\n    \"sigma_max\": 200,\n    \"_class_name\": \"ScoreSdeVeScheduler\",\n    \"_diffusers_version\": \"0.10.0\",\n    \"extra_key\": [1, 2],\n    \"snr\": 0.2,\n    \"sigma_min\": 0.5,\n    \"_use_default_values\": [\"sigma_min\"]\n}";
        var scheduler = ScoreSdeVeScheduler.FromConfig(ConfigFile.parse(text));
        Assert.Equal(200.0, scheduler.Config.SigmaMax);
        Assert.Equal(0.2, scheduler.Config.Snr);
        Assert.Equal(0.01, scheduler.Config.SigmaMin); // dropped: the class's own default applies
        var saved = scheduler.ConfigText();
        Assert.Contains("\"sigma_max\": 200,\n", saved);
        Assert.Contains("\"extra_key\": [\n    1,\n    2\n  ],\n", saved);
        Assert.Contains("\"_diffusers_version\": \"0.39.0\"", saved);
        Assert.DoesNotContain("_use_default_values", saved);
    }

    [Theory]
    [InlineData("{\"sigma_min\": -1}", "sigma_min")]
    [InlineData("{\"sigma_min\": 2000}", "sigma_min")]
    [InlineData("{\"num_train_timesteps\": 0}", "num_train_timesteps")]
    [InlineData("{\"snr\": \"high\"}", "snr")]
    [InlineData("{\"_class_name\": \"UNet2DModel\"}", "_class_name")]
    public void Invalid_score_sde_ve_configs_are_rejected_naming_the_key(string text, string key)
    {
        var e = Assert.Throws<SchedulerConfigException>(() => ScoreSdeVeScheduler.FromConfig(ConfigFile.parse(text)));
        Assert.Equal(key, e.Key);
        Assert.Contains(key, e.Message);
    }

    [Theory]
    [InlineData("{\"s_max\": 0.01}", "s_max")]
    [InlineData("{\"sigma_max\": 0.001}", "sigma_max")]
    [InlineData("{\"s_churn\": -1}", "s_churn")]
    public void Invalid_karras_configs_are_rejected_naming_the_key(string text, string key)
    {
        var e = Assert.Throws<SchedulerConfigException>(() => KarrasVeScheduler.FromConfig(ConfigFile.parse(text)));
        Assert.Equal(key, e.Key);
    }

    [Fact]
    public void Flax_class_names_load_into_the_torch_class()
    {
        var s = KarrasVeScheduler.FromConfig(ConfigFile.parse("{\"_class_name\": \"FlaxKarrasVeScheduler\", \"s_noise\": 1.0}"));
        Assert.Equal(1.0, s.Config.SNoise);
        Assert.Equal(new[] { "ScoreSdeVeScheduler" }, ScoreSdeVeScheduler.Compatibles);
        Assert.Equal(new[] { "KarrasVeScheduler" }, KarrasVeScheduler.Compatibles);
        Assert.Equal(15, DPMSolverMultistepScheduler.Compatibles.Count);
        Assert.Contains("EulerDiscreteScheduler", DPMSolverMultistepScheduler.Compatibles);
    }

    [Fact]
    public void Push_to_hub_then_from_pretrained_round_trips_through_the_local_hub()
    {
        using var hub = new FakeHub();
        var cache = Directory.CreateTempSubdirectory();
        try
        {
            var settings = new HubSettings(hub.Endpoint, "tok", false, cache.FullName);
            var scheduler = new KarrasVeScheduler(sChurn: 40);
            scheduler.PushToHub("me/karras", hub: settings);
            var commit = Assert.Single(hub.Requests, r => r.Path == "/api/models/me/karras/commit/main");
            var file = System.Text.Json.JsonDocument.Parse(commit.Body.Split('\n')[1]).RootElement.GetProperty("value");
            var pushed = Convert.FromBase64String(file.GetProperty("content").GetString()!);
            Assert.Equal(scheduler.ConfigText(), System.Text.Encoding.UTF8.GetString(pushed));
            hub.Files["me/karras|main|scheduler_config.json"] = (pushed, "89abcdef0123456789abcdef0123456789abcdef");
            var loaded = KarrasVeScheduler.FromPretrained("me/karras", hub: settings);
            Assert.Equal(40.0, loaded.Config.SChurn);
        }
        finally
        {
            cache.Delete(true);
        }
    }
}

/// <summary>Values diffusers accepts without acting on them.</summary>
public class DpmSolverVarianceTypeTests
{
    [Fact]
    public void A_ddpm_variance_type_is_kept_and_acts_as_none()
    {
        var plain = new DPMSolverMultistepScheduler();
        var ddpm = new DPMSolverMultistepScheduler(new Dictionary<string, object?> { ["variance_type"] = "fixed_small" });
        Assert.False(ddpm.Config.VarianceType.PredictsVariance);
        Assert.Equal(VarianceType.NewOther("fixed_small"), ddpm.Config.VarianceType);
        plain.SetTimesteps(5);
        ddpm.SetTimesteps(5);
        using var x = TorchSharp.torch.full(new long[] { 1, 3, 4, 4 }, 0.5f);
        var a = plain.Step(x * 0.1f, plain.State.Timesteps[0], x).PrevSample.data<float>().ToArray();
        var b = ddpm.Step(x * 0.1f, ddpm.State.Timesteps[0], x).PrevSample.data<float>().ToArray();
        Assert.Equal(a, b);
        Assert.Contains("\"variance_type\": \"fixed_small\"", ddpm.ConfigText());
    }
}
