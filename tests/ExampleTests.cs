using System.Diagnostics;
using System.Globalization;

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

    /// <summary>Runs examples/&lt;name&gt; as built alongside the tests (same configuration) and returns its output.</summary>
    internal static string RunExample(string name, string arguments = "")
    {
        var baseDir = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var configuration = baseDir.Parent!.Name;
        var repo = baseDir;
        while (!File.Exists(Path.Combine(repo.FullName, "Schedulers.sln"))) repo = repo.Parent!;
        var info = new ProcessStartInfo("dotnet",
            $"run --no-build -c {configuration} --project \"{Path.Combine(repo.FullName, "examples", name)}\" -- {arguments}")
        {
            WorkingDirectory = repo.FullName,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(2)), $"example {name} did not finish in 2 minutes");
        Assert.True(process.ExitCode == 0, $"example {name} exited with {process.ExitCode}\n{stdout.Result}\n{stderr.Result}");
        return stdout.Result;
    }
}
