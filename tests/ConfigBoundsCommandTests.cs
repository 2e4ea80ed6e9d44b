using Schedulers.Cli;
using Schedulers.Core;
using Schedulers.Evaluation;

namespace Schedulers.Tests;

/// <summary>The commands hold configs to the library's bounds and checks: oversized or invalid configs, step counts
/// a scheduler refuses and bad config files are one usage line (exit 2) before any sampling, and one step runs with
/// every scheduler that has a one-step schedule.</summary>
public sealed class ConfigBoundsCommandTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("schedulers-bounds-").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    private (int Code, string Out, string Err) Sample(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = SampleCommand.Invoke([.. args, "--samples", "20", "--out", dir, "-q"], output, error);
        return (code, output.ToString(), error.ToString());
    }

    private static int Compare(TextWriter output, TextWriter error, params string[] args) =>
        new System.CommandLine.RootCommand { CompareCommand.Create(output, error) }.Parse(["compare", .. args]).Invoke();

    private string File(string name, string json)
    {
        var path = Path.Combine(dir, name);
        System.IO.File.WriteAllText(path, json);
        return path;
    }

    private static void AssertUsageLine((int Code, string Out, string Err) run, params string[] named)
    {
        Assert.Equal(2, run.Code);
        var line = run.Err.TrimEnd();
        Assert.DoesNotContain('\n', line);
        Assert.StartsWith("sample: ", line);
        foreach (var text in named) Assert.Contains(text, line);
        Assert.Equal("", run.Out);
    }

    [Theory]
    [InlineData("dpm", "num_train_timesteps=2000000000")]
    [InlineData("dpm", "num_train_timesteps=100000000")]
    [InlineData("sde-ve", "num_train_timesteps=2000000000")]
    [InlineData("sde-ve", "correct_steps=1000000")]
    public void Oversized_config_values_are_one_usage_line_naming_the_key_and_the_limit(string scheduler, string pair)
    {
        var key = pair[..pair.IndexOf('=')];
        AssertUsageLine(Sample("--scheduler", scheduler, "--config", pair), $"--config {pair}", key, "at most", "ConfigLimits.");
        var file = File("big.json", $"{{\"{key}\": {pair[(key.Length + 1)..]}}}");
        AssertUsageLine(Sample("--scheduler", scheduler, "--config-file", file), $"--config-file '{file}'", key, "at most");
    }

    [Fact]
    public void More_steps_than_training_timesteps_is_diffusers_error_as_a_usage_line()
    {
        AssertUsageLine(Sample("--steps", "2000"), "--steps 2000",
            "`num_inference_steps`: 2000 cannot be larger than `self.config.train_timesteps`: 1000 as the unet model trained with this scheduler can only handle maximal 1000 timesteps.");
        AssertUsageLine(Sample("--steps", "2000", "--config", "algorithm_type=sde-dpmsolver++"), "--steps 2000", "cannot be larger");
        AssertUsageLine(Sample("--steps", "1000", "--config", "timestep_spacing=leading"), "--steps 1000", "repeat");
        AssertUsageLine(Sample("--steps", "100001"), "--steps", "100000");
    }

    [Fact]
    public void Compare_refuses_a_cell_past_the_training_timesteps_before_running_any()
    {
        var error = new StringWriter();
        var output = new StringWriter();
        int code = Compare(output, error, "--schedulers", "dpm", "--nfe", "5,2000", "--samples", "20", "--out", dir, "-q");
        Assert.Equal(2, code);
        Assert.StartsWith("compare: --nfe 2000", error.ToString().TrimEnd());
        Assert.DoesNotContain('\n', error.ToString().TrimEnd());
        Assert.False(System.IO.File.Exists(Path.Combine(dir, "compare.csv")));
    }

    [Fact]
    public void A_config_file_is_checked_as_the_library_checks_and_errors_name_the_file_and_key()
    {
        var unet = File("unet.json", "{\"_class_name\": \"UNet2DConditionModel\", \"solver_order\": 2}");
        AssertUsageLine(Sample("--config-file", unet), $"--config-file '{unet}'", "_class_name", "not a scheduler");
        var typo = File("typo.json", "{\"_class_name\": \"DPMSolverMultistepScheduler\", \"solver_ordr\": 3}");
        AssertUsageLine(Sample("--config-file", typo), $"--config-file '{typo}'", "solver_ordr", "solver_order");
        var nan = File("nan.json", "{\"_class_name\": \"DPMSolverMultistepScheduler\", \"beta_start\": NaN}");
        AssertUsageLine(Sample("--config-file", nan), $"--config-file '{nan}': beta_start is NaN");
        AssertUsageLine(Sample("--config", "beta_start=NaN"), "--config beta_start=NaN: beta_start is NaN");
        AssertUsageLine(Sample("--config-file", dir), $"--config-file '{dir}' is a folder");
        // The same typo on the command line is refused too.
        AssertUsageLine(Sample("--config", "solver_ordr=3"), "solver_ordr");
    }

    [Fact]
    public void A_config_file_of_another_scheduler_class_loads_with_its_keys_left_out_as_diffusers_leaves_them()
    {
        var euler = File("euler.json", """
            {"_class_name": "EulerDiscreteScheduler", "interpolation_type": "linear", "timestep_scaling": 10.0,
             "timestep_type": "discrete", "use_karras_sigmas": true, "sigma_min": 0.1, "sigma_max": 10.0,
             "_use_default_values": ["beta_end"], "beta_end": 0.5}
            """);
        var sampler = SamplerConfigs.Build(SchedulerKind.Dpm, euler, [], Targets.ring8);
        var dpm = Assert.IsType<TargetSampler.DpmSolverSampler>(sampler).dpm;
        Assert.True(dpm.UseKarrasSigmas);
        Assert.Equal(0.1, dpm.SigmaMin!.Value);
        Assert.Equal(DpmSolverConfig.Schema.Defaults.BetaEnd, dpm.BetaEnd); // listed in _use_default_values
    }

    [Theory]
    [InlineData("dpm")]                                            // the Flax flavour
    [InlineData("dpm", "solver_order=3")]                          // Flax, third order
    [InlineData("dpm", "timestep_spacing=trailing")]
    [InlineData("dpm", "algorithm_type=sde-dpmsolver++")]          // the torch flavour
    [InlineData("dpm", "use_karras_sigmas=true")]
    [InlineData("sde-ve")]
    [InlineData("heun")]
    public void Sample_runs_one_step(string scheduler, params string[] config)
    {
        var run = Sample(["--scheduler", scheduler, "--steps", "1", .. config.SelectMany(c => new[] { "--config", c })]);
        Assert.True(run.Code == 0, run.Err);
        Assert.Contains("1 steps (", run.Out);
        Assert.True(System.IO.File.Exists(Path.Combine(dir, "samples.csv")));
    }

    [Fact]
    public void KarrasVe_at_one_step_is_a_usage_line_before_sampling_as_its_schedule_needs_two()
    {
        AssertUsageLine(Sample("--scheduler", "karras", "--steps", "1"), "--steps 1", "at least 2");
        Assert.Equal(0, Sample("--scheduler", "karras", "--steps", "2").Code);
    }

    [Fact]
    public void Compare_at_one_nfe_runs_every_scheduler()
    {
        var error = new StringWriter();
        var output = new StringWriter();
        int code = Compare(output, error,
            "--schedulers", "dpm,dpm:solver_order=3,dpm:algorithm_type=sde-dpmsolver++,karras,sde-ve,heun", "--nfe", "1", "--samples", "20", "--out", dir, "-q");
        Assert.True(code == 0, error.ToString());
        // Each row: "scheduler","sampler" (which may hold commas), then steps, nfe and the numbers.
        var rows = System.IO.File.ReadAllLines(Path.Combine(dir, "compare.csv")).Skip(1)
            .Select(l => (Scheduler: l[..l.IndexOf(',')], Numbers: l[(l.LastIndexOf('"') + 2)..].Split(','))).ToArray();
        Assert.Equal(6, rows.Length);
        // One step each, KarrasVe its fewest (2 steps, 3 NFE).
        Assert.All(rows.Where(r => r.Scheduler != "\"karras\""), r => Assert.Equal("1", r.Numbers[0]));
        var karras = Assert.Single(rows, r => r.Scheduler == "\"karras\"");
        Assert.Equal(("2", "3"), (karras.Numbers[0], karras.Numbers[1]));
    }
}
