using Schedulers.Cli;
using Schedulers.Core;
using Schedulers.Evaluation;

namespace Schedulers.Tests;

/// <summary>The <c>schedulers sample</c> command: the default run end to end, batch-size and shard independence of
/// the samples, each scheduler landing on its target, and exit code 2 for bad command lines.</summary>
public sealed class SampleCommandTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = SampleCommand.Invoke(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    private static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "schedulers-sample-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    private static TargetSampler Sampler(string scheduler, params string[] config) =>
        SamplerConfigs.Build(SamplerConfigs.ParseKind(scheduler), null, config, Targets.ring8);

    [Fact]
    public void DefaultRunPrintsTheReportAndWritesCsvNpyAndPng()
    {
        var dir = TempDir();
        try
        {
            var (code, output, error) = Run("--out", dir);
            Assert.True(code == 0, error);
            Assert.Contains("DPM-Solver++ 2M", output);
            Assert.Contains("2000 samples, 20 steps (20 NFE)", output);
            Assert.Contains("SW2", output);
            Assert.Contains("8/8", output);
            Assert.Contains("wall time", output);
            var png = File.ReadAllBytes(Path.Combine(dir, "samples.png"));
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
            var (comment, points) = SampleFiles.ReadCsv(Path.Combine(dir, "samples.csv"));
            Assert.StartsWith("schedulers sample target=ring8 scheduler=dpm steps=20 nfe=20 samples=2000 seed=0", comment);
            Assert.Equal(new[] { 2000, 2 }, points.Shape);
            // The CSV holds the very samples of the run (round-trip text), and the .npy the same bits.
            var expected = SampleRun.Run(Sampler("dpm"), Targets.ring8, 20, 0, 0, 2000, 256);
            Assert.Equal(expected.ToArray(), points.ToArray());
            var npy = File.ReadAllBytes(Path.Combine(dir, "samples.npy"));
            Assert.Equal(128 + 4 * 4000, npy.Length);
            Assert.Equal(expected.ToArray()[..8], Enumerable.Range(0, 8).Select(i => BitConverter.ToSingle(npy, 128 + 4 * i)).ToArray());
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Theory]
    [InlineData("torch-cpu")]
    [InlineData("torch-cuda")]
    public void A_torch_noise_run_draws_its_initial_noise_from_that_stream(string noise)
    {
        var dir = TempDir();
        try
        {
            var (code, output, error) = Run("--out", dir, "--noise", noise, "--samples", "300", "--steps", "1", "--seed", "7", "--quiet",
                "--scheduler", "ddim");
            Assert.True(code == 0, error);
            Assert.Contains($"noise {noise}", output);
            var (comment, points) = SampleFiles.ReadCsv(Path.Combine(dir, "samples.csv"));
            Assert.Contains($"noise={noise}", comment);
            // The run is one batch whose initial noise is the stream's first draw of [300, 2].
            var choice = NoiseChoice.Parse(noise, null);
            var again = choice.Sample(Sampler("ddim"), Targets.ring8, 1, 7, 300, null, null);
            Assert.Equal(again.ToArray(), points.ToArray());
            Assert.NotEqual(SampleRun.Run(Sampler("ddim"), Targets.ring8, 1, 7, 0, 300, 256).ToArray(), points.ToArray());
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    public static TheoryData<string, string[]> Samplers() => new()
    {
        { "dpm", [] },
        { "dpm", ["algorithm_type=sde-dpmsolver++"] },
        { "karras", [] },
        { "sde-ve", [] },
    };

    [Theory]
    [MemberData(nameof(Samplers))]
    public void SamplesAreBitIdenticalForAnyBatchSizeAndShardSplit(string scheduler, string[] config)
    {
        var sampler = Sampler(scheduler, config);
        const int n = 300, steps = 4;
        var reference = SampleRun.Run(sampler, Targets.ring8, steps, 7, 0, n, n).ToArray();
        foreach (var batch in new[] { 1, 37, 128 })
            Assert.Equal(reference, SampleRun.Run(sampler, Targets.ring8, steps, 7, 0, n, batch).ToArray());
        foreach (var shards in new[] { 2, 3 })
        {
            var joined = new List<float>();
            for (int i = 0; i < shards; i++)
            {
                var (first, count) = SampleRun.ShardRange(n, i, shards);
                joined.AddRange(SampleRun.Run(sampler, Targets.ring8, steps, 7, first, count, 50).ToArray());
            }
            Assert.Equal(reference, joined.ToArray());
        }
        // A different seed gives different samples.
        Assert.NotEqual(reference, SampleRun.Run(sampler, Targets.ring8, steps, 8, 0, n, n).ToArray());
    }

    public static TheoryData<string, string[], int> Landings() => new()
    {
        { "dpm", [], 20 },
        { "dpm", ["algorithm_type=sde-dpmsolver++"], 50 },
        { "karras", [], 50 },
        { "sde-ve", [], 500 },
    };

    [Theory]
    [MemberData(nameof(Landings))]
    public void EachSchedulerLandsOnTheTarget(string scheduler, string[] config, int steps)
    {
        var points = SampleRun.Run(Sampler(scheduler, config), Targets.ring8, steps, 1, 0, 1000, 256);
        var report = Metrics.evaluate(SampleCommand.MetricsKey, Targets.ring8, points);
        Assert.Equal(0, report.NonFiniteCount);
        Assert.Equal(8, report.Coverage.ModesCovered);
        Assert.True(report.SlicedWasserstein2 < 0.5, $"{scheduler}: SW2 {report.SlicedWasserstein2}");
        Assert.True(Math.Abs(report.MeanLogDensity - report.ReferenceMeanLogDensity) < 0.6,
            $"{scheduler}: mean log p {report.MeanLogDensity} vs {report.ReferenceMeanLogDensity}");
    }

    /// <summary>The acceptance criterion: DPM-Solver++ 2M at 20 NFE on ring8 (2000 samples) is within 1.2× the
    /// sliced W2 of the same sampler at 200 NFE.</summary>
    [Fact]
    public void DpmSolverAt20NfeIsWithin20PercentOf200Nfe()
    {
        var sampler = Sampler("dpm");
        double At(int steps) => Metrics.evaluate(SampleCommand.MetricsKey, Targets.ring8,
            SampleRun.Run(sampler, Targets.ring8, steps, 0, 0, 2000, 256)).SlicedWasserstein2;
        double w20 = At(20), w200 = At(200);
        Assert.True(w20 <= 1.2 * w200, $"SW2 at 20 NFE {w20} but at 200 NFE {w200}");
    }

    [Theory]
    [InlineData("--steps abc", "--steps")]
    [InlineData("--steps 0", "--steps")]
    [InlineData("--steps", "--steps")]
    [InlineData("--samples -5", "--samples")]
    [InlineData("--seed x", "--seed")]
    [InlineData("--scheduler foo", "--scheduler")]
    [InlineData("--target nope", "--target")]
    [InlineData("--batch-size 0", "--batch-size")]
    [InlineData("--shard 4/4", "--shard")]
    [InlineData("--config solver_order=7", "solver_order=7")]
    [InlineData("--config nokey=1", "nokey")]
    [InlineData("--config algorithm_type=wrong", "algorithm_type=wrong")]
    [InlineData("--config noequals", "noequals")]
    [InlineData("--scheduler karras --config sigma_max=-3", "sigma_max=-3")]
    [InlineData("--scheduler sde-ve --config snr=abc", "snr")]
    [InlineData("--config-file /no/such/file.json", "--config-file")]
    [InlineData("--bogus 3", "--bogus")]
    [InlineData("stray", "stray")]
    public void BadArgumentsExitWithCode2AndOneLineNamingThem(string args, string named)
    {
        var (code, output, error) = Run(args.Split(' '));
        Assert.Equal(2, code);
        var line = error.TrimEnd();
        Assert.DoesNotContain('\n', line);
        Assert.StartsWith("sample: ", line);
        Assert.Contains(named, line);
        Assert.Equal("", output);
    }

    [Fact]
    public void ConfigFileKeysApplyAndCommandLineKeysWin()
    {
        var dir = TempDir();
        try
        {
            var file = Path.Combine(dir, "scheduler_config.json");
            File.WriteAllText(file, "{\"_class_name\": \"DPMSolverMultistepScheduler\", \"solver_order\": 3, \"algorithm_type\": \"dpmsolver\", \"unknown_key\": 1}");
            var sampler = SamplerConfigs.Build(SchedulerKind.Dpm, file, ["solver_order=1"], Targets.ring8);
            var dpm = Assert.IsType<TargetSampler.DpmSolverSampler>(sampler).dpm;
            Assert.Equal(AlgorithmType.DpmSolver, dpm.AlgorithmType);
            Assert.Equal(1, dpm.SolverOrder);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void VeSchedulersAreSizedToTheTargetUnlessTold()
    {
        var sde = Assert.IsType<TargetSampler.ScoreSdeVeSampler>(Sampler("sde-ve")).sdeVe;
        Assert.Equal(10.0, sde.SigmaMax); // ring8: means 8 apart + 6 × 0.25, rounded up
        var karras = Assert.IsType<TargetSampler.KarrasVeSampler>(Sampler("karras")).karras;
        Assert.Equal(Math.Round(Math.Sqrt(9.5), 2), karras.SigmaMax);
        Assert.Equal(1348.0, Assert.IsType<TargetSampler.ScoreSdeVeSampler>(Sampler("sde-ve", "sigma_max=1348")).sdeVe.SigmaMax);
    }
}
