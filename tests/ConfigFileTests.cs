using Schedulers.Core;

namespace Schedulers.Tests;

/// <summary>The config-file layer: parsing diffusers' files (including old and non-standard ones) and typed values
/// with errors that name the key (the core's <see cref="ConfigFile"/>), reading and atomic saving
/// (<see cref="SchedulerConfigs"/>).</summary>
public class ConfigFileTests
{
    private const string Karras = "{\n  \"_class_name\": \"KarrasVeScheduler\",\n  \"_diffusers_version\": \"0.39.0\",\n  \"s_churn\": 80,\n  \"s_max\": 50,\n  \"s_min\": 0.05,\n  \"s_noise\": 1.007,\n  \"sigma_max\": 100,\n  \"sigma_min\": 0.02\n}\n";

    [Fact]
    public void Default_karras_config_text_round_trips_byte_for_byte()
    {
        var dict = ConfigFile.parse(Karras);
        Assert.Equal("KarrasVeScheduler", dict.ClassNameOrNull!);
        var members = dict.Members.Select(m => Tuple.Create(m.Item1, m.Item2));
        Assert.Equal(Karras, ConfigFile.toText("KarrasVeScheduler", members));
    }

    [Fact]
    public void Golden_default_configs_round_trip_byte_for_byte()
    {
        foreach (var file in Directory.GetFiles(Path.Combine(TestData.GoldenDir, "configs")))
        {
            var text = File.ReadAllText(file);
            var dict = ConfigFile.parse(text);
            Assert.Equal(text, ConfigFile.toText(dict.ClassNameOrNull!, dict.Members.Select(m => Tuple.Create(m.Item1, m.Item2))));
        }
    }

    [Fact]
    public void Every_real_config_parses_including_negative_infinity_and_old_layouts()
    {
        var files = Directory.GetFiles(Path.Combine(TestData.GoldenDir, "real-configs"), "*.json").Where(f => !f.EndsWith("expected.json")).ToList();
        Assert.NotEmpty(files);
        foreach (var file in files)
        {
            var dict = SchedulerConfigs.ReadFile(file);
            Assert.NotNull(dict.ClassNameOrNull);
        }
    }

    [Fact]
    public void Schema_fields_read_integers_floats_infinity_choices_nulls_and_defaults()
    {
        var schema = DpmSolverConfig.Schema;
        var config = schema.Read(ConfigFile.parse(
            "{\"num_train_timesteps\": 100.0, \"lambda_min_clipped\": -Infinity, \"beta_end\": 3, \"thresholding\": true, " +
            "\"beta_schedule\": \"scaled_linear\", \"variance_type\": null, \"algorithm_type\": \"deis\"}"));
        Assert.Equal(100, config.NumTrainTimesteps);
        Assert.Equal(double.NegativeInfinity, config.LambdaMinClipped);
        Assert.Equal(3.0, config.BetaEnd);
        Assert.True(config.Thresholding);
        Assert.Equal(BetaSchedule.ScaledLinear, config.BetaSchedule);
        Assert.Equal(VarianceType.None, config.VarianceType);
        Assert.Equal(AlgorithmType.DpmSolverPlusPlus, config.AlgorithmType); // diffusers' alias
        Assert.Equal(schema.Defaults.BetaStart, config.BetaStart);          // missing: the default
    }

    [Theory]
    [InlineData("{\"beta_schedule\": \"cubic\"}", "beta_schedule", "\"cubic\"")]
    [InlineData("{\"num_train_timesteps\": 2.5}", "num_train_timesteps", "2.5")]
    [InlineData("{\"num_train_timesteps\": \"1000\"}", "num_train_timesteps", "\"1000\"")]
    [InlineData("{\"thresholding\": 1}", "thresholding", "1")]
    [InlineData("{\"beta_start\": [1]}", "beta_start", "an array")]
    [InlineData("{\"trained_betas\": [0.1, \"a\"]}", "trained_betas", "\"a\"")]
    public void A_wrong_value_is_rejected_naming_the_key_and_value(string text, string key, string shown)
    {
        var e = Assert.Throws<SchedulerConfigException>(() => DpmSolverConfig.Schema.Read(ConfigFile.parse(text)));
        Assert.Equal(key, e.Key);
        Assert.Contains(shown, e.Message);
        Assert.StartsWith(key, e.Message);
    }

    [Fact]
    public void An_unknown_choice_is_one_error_naming_the_key_the_value_and_the_allowed_values()
    {
        var e = Assert.Throws<SchedulerConfigException>(() => DPMSolverMultistepScheduler.FromConfig(ConfigFile.parse("{\"algorithm_type\": \"dpm\"}")));
        Assert.Equal("algorithm_type", e.Key);
        Assert.Equal("algorithm_type is \"dpm\" but must be one of \"dpmsolver\", \"dpmsolver++\", \"sde-dpmsolver\", \"sde-dpmsolver++\"", e.Message);
        var set = Assert.Throws<ArgumentException>(() => DpmSolverConfig.Schema.SetValue("timestep_spacing", "uniform", DpmSolverConfig.Schema.Defaults));
        Assert.Equal("timestep_spacing", set.ParamName);
        Assert.StartsWith("timestep_spacing is \"uniform\" but must be one of \"linspace\", \"leading\", \"trailing\"", set.Message);
    }

    [Fact]
    public void Every_default_config_saves_as_diffusers_writes_it_and_loads_back()
    {
        foreach (var (schema, text) in new (Func<string>, string)[]
        {
            (() => ScoreSdeVeConfig.Schema.Text(ScoreSdeVeConfig.Schema.Defaults), Golden("ScoreSdeVeScheduler")),
            (() => KarrasVeConfig.Schema.Text(KarrasVeConfig.Schema.Defaults), Golden("KarrasVeScheduler")),
            (() => DpmSolverConfig.Schema.Text(DpmSolverConfig.Schema.Defaults), Golden("DPMSolverMultistepScheduler")),
            (() => EdmHeunConfig.Schema.Text(EdmHeunConfig.Schema.Defaults),
                "{\n  \"_class_name\": \"EDMHeunScheduler\",\n  \"_diffusers_version\": \"0.39.0\",\n  \"rho\": 7.0,\n  \"sigma_max\": 80.0,\n  \"sigma_min\": 0.002,\n  \"sigma_schedule\": \"karras\"\n}\n"),
        })
            Assert.Equal(text, schema());
        Assert.Equal(EdmHeunConfig.Schema.Defaults, EdmHeunConfig.Schema.OfDict(ConfigFile.parse(EdmHeunConfig.Schema.Text(EdmHeunConfig.Schema.Defaults))));
    }

    private static string Golden(string className) =>
        File.ReadAllText(Path.Combine(TestData.GoldenDir, "configs", className + ".scheduler_config.json"));

    [Theory]
    [InlineData("")]
    [InlineData("{\"a\": 1")]
    [InlineData("[1, 2]")]
    [InlineData("{\"_class_name\": 5}")]
    [InlineData("not json")]
    public void Malformed_or_non_config_documents_throw_the_config_exception(string text)
    {
        Assert.Throws<SchedulerConfigException>(() => ConfigFile.parse(text));
    }

    [Fact]
    public void Saving_is_atomic_and_leaves_no_temporary_file()
    {
        var dir = Directory.CreateTempSubdirectory();
        try
        {
            var path = SchedulerConfigs.Save(dir.FullName, Karras);
            Assert.Equal(Path.Combine(dir.FullName, "scheduler_config.json"), path);
            Assert.Equal(Karras, File.ReadAllText(path));
            SchedulerConfigs.Save(dir.FullName, "{}\n");
            Assert.Equal("{}\n", File.ReadAllText(path));
            Assert.Single(Directory.GetFiles(dir.FullName));
        }
        finally
        {
            dir.Delete(true);
        }
    }

    [Fact]
    public void Saving_into_a_path_that_is_a_file_fails_and_leaves_it_unchanged()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, "keep");
            var e = Assert.Throws<SchedulerConfigException>(() => SchedulerConfigs.Save(file, Karras));
            Assert.Equal(file, e.Path);
            Assert.Equal("keep", File.ReadAllText(file));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void A_missing_file_names_the_path()
    {
        var e = Assert.Throws<SchedulerConfigException>(() => SchedulerConfigs.ReadFile("/nonexistent/scheduler_config.json"));
        Assert.Equal("/nonexistent/scheduler_config.json", e.Path);
    }
}

/// <summary>diffusers' from_config key handling, checked against the key sets diffusers resolved for real configs.</summary>
public class ConfigResolutionTests
{
    [Fact]
    public void Real_configs_resolve_to_the_key_sets_diffusers_reports()
    {
        var dir = Path.Combine(TestData.GoldenDir, "real-configs");
        var dpmKeys = ConfigFile.parse(File.ReadAllText(Path.Combine(TestData.GoldenDir, "configs", "DPMSolverMultistepScheduler.scheduler_config.json")))
            .Members.Select(m => m.Item1).Where(k => !k.StartsWith('_')).ToArray();
        var expected = Schedulers.Core.Json.parse(File.ReadAllText(Path.Combine(dir, "expected.json")));
        var cases = ((JsonValue.Array)Schedulers.Core.Json.tryField("cases", expected)!.Value).Item;
        Assert.NotEmpty(cases);
        foreach (var c in cases)
        {
            var file = ((JsonValue.String)Schedulers.Core.Json.tryField("file", c)!.Value).Item;
            // Only the DPM-Solver resolutions: the other classes of the family resolve other key sets.
            if (Schedulers.Core.Json.tryField("as", c) is { } target && ((JsonValue.String)target.Value).Item != "DPMSolverMultistepScheduler") continue;
            var want = ((JsonValue.Object)Schedulers.Core.Json.tryField("resolved_config", c)!.Value).Item.Select(m => m.Item1).Order(StringComparer.Ordinal).ToArray();
            var (init, hidden) = ConfigFile.extractInit(dpmKeys, SchedulerConfigs.ReadFile(Path.Combine(dir, file)));
            // Every DPM field is present once resolved (from the file or from the defaults).
            var fields = dpmKeys.Select(k => Tuple.Create(k, init.TryGet(k) is { } v ? v.Value : JsonValue.Null));
            var got = ConfigFile.resolved("DPMSolverMultistepScheduler", fields, hidden.Select(h => Tuple.Create(h.Item1, h.Item2)))
                .Members.Select(m => m.Item1).Order(StringComparer.Ordinal).ToArray();
            Assert.True(want.SequenceEqual(got), $"{file}: expected keys {string.Join(",", want)} but resolved {string.Join(",", got)}");
        }
    }

    [Fact]
    public void Keys_listed_in_use_default_values_are_dropped_with_the_list()
    {
        var dict = ConfigFile.parse("{\"_class_name\": \"EulerDiscreteScheduler\", \"beta_end\": 0.5, \"prediction_type\": \"v_prediction\", \"_use_default_values\": [\"beta_end\"]}");
        var (init, hidden) = ConfigFile.extractInit(new[] { "beta_end", "prediction_type" }, dict);
        Assert.Equal(new[] { "prediction_type" }, init.Members.Select(m => m.Item1));
        Assert.Equal(new[] { "_class_name" }, hidden.Select(m => m.Item1));
        var resolved = ConfigFile.resolved("DPMSolverMultistepScheduler", init.Members.Select(m => Tuple.Create(m.Item1, m.Item2)), hidden.Select(h => Tuple.Create(h.Item1, h.Item2)));
        Assert.Equal("DPMSolverMultistepScheduler", resolved.ClassNameOrNull);
        Assert.Equal(JsonValue.NewString(ConfigFile.DiffusersVersion), resolved.TryGet("_diffusers_version")!.Value);
    }
}
