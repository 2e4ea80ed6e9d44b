using System.CommandLine;
using System.Diagnostics;
using Schedulers.Cli;

namespace Schedulers.Tests;

/// <summary>The tool's help names it as it is installed: <c>schedulers</c>, not its assembly name.</summary>
public class ToolCommandTests
{
    private static (int Code, string Output) Run(params string[] args)
    {
        var output = new StringWriter();
        var code = ToolCommand.Create().Parse(args).Invoke(new InvocationConfiguration { Output = output, Error = output });
        return (code, output.ToString());
    }

    /// <summary>Runs the built tool (Schedulers.Cli.dll, copied next to the tests) as a process: the executable name
    /// is what a RootCommand would have shown.</summary>
    private static (int Code, string Output) RunTool(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Schedulers.Cli.dll"));
        foreach (var a in args) info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(1)), "schedulers did not finish in a minute");
        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    [Fact]
    public void Help_usage_line_names_the_schedulers_command()
    {
        var (code, help) = RunTool("--help");
        Assert.Equal(0, code);
        Assert.Contains("Usage:\n  schedulers [command] [options]", help.ReplaceLineEndings("\n"));
        Assert.DoesNotContain("Schedulers.Cli", help);
        foreach (var command in new[] { "sample", "merge", "compare", "train", "bench", "conformance" })
            Assert.Matches($"\n  {command} ", help.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void Subcommand_help_shows_the_full_command_path()
    {
        var (code, help) = Run("sample", "--help");
        Assert.Equal(0, code);
        Assert.Contains("Usage:\n  schedulers sample [options]", help.ReplaceLineEndings("\n"));

        // The subcommands run on their own (by tests and embedders) under the same root name.
        var output = new StringWriter();
        Assert.Equal(0, MergeCommand.Invoke(["--help"], output, output));
        Assert.Contains("Usage:\n  schedulers merge [<paths>...] [options]", output.ToString().ReplaceLineEndings("\n"));
    }

    [Fact]
    public void Version_option_still_prints_the_version()
    {
        var (code, text) = RunTool("--version");
        Assert.Equal(0, code);
        Assert.StartsWith("0.1.0", text.Trim());
    }
}
