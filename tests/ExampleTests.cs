using System.Diagnostics;
using System.Globalization;
using Microsoft.FSharp.Core;
using Schedulers.Models;
using Schedulers.Core;
using Schedulers.Evaluation;
using Schedulers.Pipelines;
using static TorchSharp.torch;

namespace Schedulers.Tests;

/// <summary>The projects under examples/ run and print what they promise.</summary>
public class ExampleTests
{
    [Fact]
    public void CoreOnly_samples_unit_gaussian_with_ScoreSdeVe_predictor()
    {
        var output = RunExample("CoreOnly");
        var line = output.Split('\n').Last(l => l.StartsWith("std ", StringComparison.Ordinal));
        var std = double.Parse(line["std ".Length..], CultureInfo.InvariantCulture);
        Assert.InRange(std, 0.9, 1.1);
    }

    [Fact]
    public void DpmSolverTorchScript_writes_the_samples_the_library_computes_for_the_seed()
    {
        var dir = Directory.CreateTempSubdirectory("schedulers-example-").FullName;
        try
        {
            var npy = Path.Combine(dir, "out", "samples.npy");
            var output = RunExample("DpmSolverTorchScript", $"--samples 24 --seed 7 --out \"{npy}\"");

            // The same run through the library: the shipped config, the fixture, DpmSolverPipeline's own loop.
            var repo = RepositoryRoot();
            var config = SchedulerConfigs.ReadFile(Path.Combine(repo, "examples", "DpmSolverTorchScript", "scheduler_config.json"));
            var expected = PipelineSamples(DPMSolverMultistepScheduler.FromConfig(config), 24, 7);
            Assert.NotEqual(expected, PipelineSamples(DPMSolverMultistepScheduler.FromConfig(config), 24, 8));

            Assert.Equal("[24, 2]", Field(output, "shape"));
            var written = ReadNpy(npy, out var shape);
            Assert.Equal("(24, 2)", shape);
            Assert.Equal(expected, written);
            Assert.Equal(expected[..4].Select(Text), Field(output, "first").Split(' '));
            Assert.Equal(Text(tensor(expected).mean().item<float>()), Field(output, "mean"));
            Assert.Equal(Text(tensor(expected).std().item<float>()), Field(output, "std"));
            Assert.Equal(Path.GetFullPath(npy), Field(output, "wrote"));
            Assert.Single(Directory.GetFiles(Path.GetDirectoryName(npy)!));   // no temporary file left behind
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void DpmSolverTorchScript_ships_the_config_diffusers_writes_and_rejects_bad_arguments()
    {
        var repo = RepositoryRoot();
        Assert.Equal(File.ReadAllText(Path.Combine(TestData.GoldenDir, "configs", "DPMSolverMultistepScheduler.scheduler_config.json")),
                     File.ReadAllText(Path.Combine(repo, "examples", "DpmSolverTorchScript", "scheduler_config.json")));

        var (code, _, error) = RunExampleProcess("DpmSolverTorchScript", "--samples 0");
        Assert.Equal(2, code);
        Assert.Contains("--samples is '0' but must be an integer from 1 to 100000", error);
        Assert.Contains("usage: DpmSolverTorchScript", error);
        (code, _, error) = RunExampleProcess("DpmSolverTorchScript", "--model missing.pt");
        Assert.Equal(1, code);
        Assert.Contains("model file 'missing.pt' does not exist", error);
    }

    [Fact]
    public void OwnScheduler_matches_its_closed_form_prediction_and_samples_ring8_at_the_exact_draw_floor()
    {
        var output = RunExample("OwnScheduler");
        var mean = Values(output, "gaussian-mean");
        var std = Values(output, "gaussian-std");
        const int count = 20000;
        // The sampled moments agree with the exact prediction of the same schedule within four standard errors
        // (of a mean: s/√N; of a standard deviation: s/√(2N)).
        Assert.InRange(mean["sampled"] - mean["predicted"], -4 * std["predicted"] / Math.Sqrt(count), 4 * std["predicted"] / Math.Sqrt(count));
        Assert.InRange(std["sampled"] - std["predicted"], -4 * std["predicted"] / Math.Sqrt(2 * count), 4 * std["predicted"] / Math.Sqrt(2 * count));
        // The prediction at 1000 steps is within 1% of the target's std: the step is consistent.
        var row1000 = output.Split('\n').Select(l => l.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries)).Single(r => r.Length == 3 && r[0] == "1000");
        Assert.InRange(double.Parse(row1000[1], CultureInfo.InvariantCulture), 0.495, 0.5);

        var ring = Values(output, "ring8");
        Assert.InRange(ring["sw2"], 0, 1.5 * ring["exact-sw2"]);
        Assert.Equal("8/8", output.Split('\n').Single(l => l.StartsWith("ring8 sw2", StringComparison.Ordinal)).Split(' ').Single(w => w.StartsWith("modes=", StringComparison.Ordinal))["modes=".Length..]);
    }

    /// <summary>The example's run as <see cref="DpmSolverPipeline"/> computes it: noise from a generator seeded with
    /// <paramref name="seed"/>, the fixture network's ε at each step's VP point (<see cref="ModelConversion"/>).</summary>
    private static float[] PipelineSamples(DPMSolverMultistepScheduler scheduler, int count, long seed)
    {
        var fixture = Path.Combine(AppContext.BaseDirectory, "data", "fixtures", "tiny_score_mlp.torchscript.pt");
        using var network = TorchScriptModel.Load(fixture);
        var model = DenoiserModels.ToSamplingModel(network, ModelOutputKind.Score, ModelInputKind.Sigma);
        Func<Tensor, long, Tensor> epsilon = (x, t) =>
        {
            int i = scheduler.StepIndex ?? scheduler.BeginIndex ?? 0;
            var point = DpmSolverMultistep.pointAt(scheduler.State, i);
            var rows = NdArrayModule.create([(int)x.shape[0], 2], x.data<float>().ToArray());
            var output = FSharpFunc<PredictionType, float>.InvokeFast(model.Vp, scheduler.Config.PredictionType, point.Alpha, point.Sigma, (float)t, rows);
            return tensor(output.ToArray(), x.shape);
        };
        using var result = new DpmSolverPipeline(epsilon, scheduler).Call([count, 2], 20, new Generator((ulong)seed));
        return result.data<float>().ToArray();
    }

    private static string Text(float v) => v.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>The rest of the output line that starts with <paramref name="name"/> and a space.</summary>
    private static string Field(string output, string name) =>
        output.Split('\n').Single(l => l.StartsWith(name + " ", StringComparison.Ordinal))[(name.Length + 1)..].Trim();

    /// <summary>The <c>key=value</c> numbers of the line starting with <paramref name="name"/>.</summary>
    private static Dictionary<string, double> Values(string output, string name) =>
        Field(output, name).Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(w => w.Contains('='))
            .ToDictionary(w => w[..w.IndexOf('=')], w => double.TryParse(w[(w.IndexOf('=') + 1)..], CultureInfo.InvariantCulture, out var v) ? v : double.NaN);

    /// <summary>Reads a little-endian float32 .npy file (version 1.0) and its shape text.</summary>
    private static float[] ReadNpy(string path, out string shape)
    {
        var bytes = File.ReadAllBytes(path);
        Assert.Equal(new byte[] { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0 }, bytes[..8]);
        int headerLength = BitConverter.ToUInt16(bytes, 8);
        var header = System.Text.Encoding.ASCII.GetString(bytes, 10, headerLength);
        Assert.Contains("'descr': '<f4'", header);
        shape = header[(header.IndexOf("'shape': ", StringComparison.Ordinal) + 9)..(header.IndexOf(')') + 1)];
        int start = 10 + headerLength;
        return Enumerable.Range(0, (bytes.Length - start) / 4).Select(i => BitConverter.ToSingle(bytes, start + 4 * i)).ToArray();
    }

    private static string RepositoryRoot()
    {
        var repo = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(repo.FullName, "Schedulers.sln"))) repo = repo.Parent!;
        return repo.FullName;
    }

    /// <summary>Runs examples/&lt;name&gt; as built alongside the tests (same configuration) and returns its output;
    /// fails unless it exits with 0.</summary>
    internal static string RunExample(string name, string arguments = "")
    {
        var (code, stdout, stderr) = RunExampleProcess(name, arguments);
        Assert.True(code == 0, $"example {name} exited with {code}\n{stdout}\n{stderr}");
        return stdout;
    }

    /// <summary>Runs examples/&lt;name&gt; as built alongside the tests; returns its exit code and output.</summary>
    internal static (int Code, string Stdout, string Stderr) RunExampleProcess(string name, string arguments = "")
    {
        var configuration = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name;
        var repo = RepositoryRoot();
        var info = new ProcessStartInfo("dotnet",
            $"run --no-build -c {configuration} --project \"{Path.Combine(repo, "examples", name)}\" -- {arguments}")
        {
            WorkingDirectory = repo,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(2)), $"example {name} did not finish in 2 minutes");
        return (process.ExitCode, stdout.Result, stderr.Result);
    }
}
