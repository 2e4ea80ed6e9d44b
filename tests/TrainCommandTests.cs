using Schedulers.Cli;
using Schedulers.Cli.Models;
using Schedulers.Models;
using Schedulers.Cli.Training;
using Schedulers.Core;
using Schedulers.Evaluation;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Schedulers.Tests;

/// <summary>One short <c>schedulers train</c> run shared by the tests (a few seconds).</summary>
public sealed class TrainedRing8 : IDisposable
{
    /// <summary>The folder of the run.</summary>
    public string Dir { get; } = Path.Combine(Path.GetTempPath(), "schedulers-train-" + Guid.NewGuid().ToString("N"));
    /// <summary>The model file.</summary>
    public string ModelPath => Path.Combine(Dir, "ring8.pt");
    /// <summary>Exit code, stdout and stderr of the run.</summary>
    public (int Code, string Out, string Err) Run { get; }

    /// <summary>Trains 300 steps of 256 points on ring8.</summary>
    public TrainedRing8()
    {
        Directory.CreateDirectory(Dir);
        Run = TrainCommandTests.Train("--target", "ring8", "--steps", "300", "--batch-size", "256", "--seed", "0", "--out", ModelPath);
    }

    /// <inheritdoc/>
    public void Dispose() => Directory.Delete(Dir, true);
}

/// <summary><c>schedulers train</c>: it writes a model that <c>sample --model</c> loads, its loss falls, the loaded
/// file computes what the trained module computed, the same seed gives the same bits, and bad options and files give
/// clear errors.</summary>
public sealed class TrainCommandTests(TrainedRing8 trained, ITestOutputHelper log) : IClassFixture<TrainedRing8>
{
    internal static (int Code, string Out, string Err) Train(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = TrainCommand.Invoke(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public void TrainingWritesTheModelAndItsSidecar()
    {
        Assert.True(trained.Run.Code == 0, trained.Run.Err);
        log.WriteLine(trained.Run.Out);
        Assert.True(File.Exists(trained.ModelPath));
        var architecture = MlpArchitecture.TryRead(trained.ModelPath);
        Assert.NotNull(architecture);
        Assert.Equal((2, 128, 3, "ring8", 300, 0u), (architecture.Dimension, architecture.Hidden, architecture.Layers, architecture.Target, architecture.Steps, architecture.Seed));
        Assert.Equal(ScoreTraining.SigmaData(Targets.ring8), architecture.SigmaData);
        Assert.True(double.IsFinite(architecture.FinalLoss) && architecture.FinalLoss > 0);
    }

    [Fact]
    public void TheLossFalls()
    {
        var result = ScoreTraining.Train(new TrainRequest { Target = Targets.ring8, Steps = 300, BatchSize = 256, Seed = 1 });
        using (result.Model)
        {
            log.WriteLine($"initial {result.InitialLoss:F4}, final {result.FinalLoss:F4}");
            Assert.Equal(300, result.Losses.Length);
            Assert.All(result.Losses, l => Assert.True(double.IsFinite(l)));
            // Predicting ε̂ = 0 scores E‖z‖² = D = 2; the Gaussian skip term alone already does better.
            Assert.True(result.InitialLoss < 2.0, $"initial loss {result.InitialLoss}");
            Assert.True(result.FinalLoss < result.InitialLoss - 0.05, $"final loss {result.FinalLoss} is not below the initial {result.InitialLoss}");
        }
    }

    [Fact]
    public void TheLoadedFileComputesWhatTheTrainedModuleComputed()
    {
        var request = new TrainRequest { Target = Targets.ring8, Steps = 20, BatchSize = 64, Seed = 3, Hidden = 16, Layers = 2 };
        var result = ScoreTraining.Train(request);
        var path = Path.Combine(trained.Dir, "small.tsm");
        ScoreTraining.Save(result, path);
        var x = Enumerable.Range(0, 12).Select(i => (float)Math.Sin(1.3 * i) * 5f).ToArray();
        var sigma = new[] { 0.01f, 0.3f, 1f, 4f, 10f, 157f };
        float[] expected;
        using (result.Model)
        using (no_grad())
            expected = result.Model.forward(tensor(x, [6, 2]), tensor(sigma, [6])).data<float>().ToArray();
        using var loaded = ModelFiles.Load(path, 2);
        Assert.IsType<TrainedScoreModel>(loaded);
        Assert.Equal(expected, loaded.Forward(NdArrayModule.create([6, 2], x), sigma).Span.ToArray());
    }

    [Fact]
    public void TheSameSeedGivesTheSameModel()
    {
        var a = Path.Combine(trained.Dir, "a.pt");
        var b = Path.Combine(trained.Dir, "b.pt");
        var c = Path.Combine(trained.Dir, "c.pt");
        Assert.Equal(0, Train("--steps", "50", "--batch-size", "128", "--seed", "7", "--out", a).Code);
        Assert.Equal(0, Train("--steps", "50", "--batch-size", "128", "--seed", "7", "--out", b).Code);
        Assert.Equal(0, Train("--steps", "50", "--batch-size", "128", "--seed", "8", "--out", c).Code);
        Assert.Equal(File.ReadAllBytes(a), File.ReadAllBytes(b));
        Assert.NotEqual(File.ReadAllBytes(a), File.ReadAllBytes(c));
    }

    [Fact]
    public void SampleWithTheTrainedModelRunsEndToEnd()
    {
        Assert.True(trained.Run.Code == 0, trained.Run.Err);
        var dir = Path.Combine(trained.Dir, "samples");
        var output = new StringWriter();
        var error = new StringWriter();
        int code = SampleCommand.Invoke(["--model", trained.ModelPath, "--model-output", "score", "--model-input", "sigma",
            "--scheduler", "dpm", "--steps", "10", "--samples", "128", "--target", "ring8", "--out", dir], output, error);
        log.WriteLine(output.ToString());
        Assert.True(code == 0, error.ToString());
        Assert.Contains("with model ring8.pt (score at σ)", output.ToString());
        var rows = File.ReadAllLines(Path.Combine(dir, "samples.csv")).Skip(2).ToArray();
        Assert.Equal(128, rows.Length);
        foreach (var row in rows)
            Assert.All(row.Split(','), cell => Assert.True(float.IsFinite(float.Parse(cell, System.Globalization.CultureInfo.InvariantCulture))));
    }

    [Fact]
    public void WeightsThatDoNotFitTheSidecarAreAModelError()
    {
        var path = Path.Combine(trained.Dir, "mismatch.pt");
        File.Copy(trained.ModelPath, path);
        (MlpArchitecture.TryRead(trained.ModelPath)! with { Hidden = 64 }).Save(path);
        var e = Assert.Throws<ModelException>(() => ModelFiles.Load(path, 2));
        Assert.Contains("mismatch.pt", e.Message);
    }

    [Theory]
    [InlineData("--steps", "0", "--steps is 0 but must be between 1 and 10000000")]
    [InlineData("--sigma-min", "-1", "--sigma-min is '-1' but must be a positive number")]
    [InlineData("--target", "ring9", "--target is 'ring9' but must be one of")]
    [InlineData("--bogus", "1", "unknown option '--bogus'")]
    public void BadOptionsStopWithExitCode2(string option, string value, string message)
    {
        var (code, _, err) = Train(option, value, "--out", Path.Combine(trained.Dir, "never.pt"));
        Assert.Equal(2, code);
        Assert.Contains(message, err);
        Assert.False(File.Exists(Path.Combine(trained.Dir, "never.pt")));
    }

    [Fact]
    public void ReversedSigmaRangeIsAUsageError()
    {
        var (code, _, err) = Train("--sigma-min", "5", "--sigma-max", "1");
        Assert.Equal(2, code);
        Assert.Contains("--sigma-min (5) must be below --sigma-max (1)", err);
    }
}
