using System.CommandLine;
using System.CommandLine.Help;

namespace Schedulers.Cli;

/// <summary>The root of the <c>schedulers</c> command line: its name in help and usage lines, and its subcommands.</summary>
public static class ToolCommand
{
    /// <summary>The command name the tool is installed under (the package's <c>ToolCommandName</c>).</summary>
    public const string Name = "schedulers";

    /// <summary>The tool's one-line description, shown at the top of <c>schedulers --help</c>.</summary>
    public const string Description =
        "schedulers: diffusion-model noise schedulers (ScoreSdeVe, KarrasVe, DPM-Solver) with diffusers' exact numbers.";

    /// <summary>The whole tool: every subcommand under a root named <c>schedulers</c>.</summary>
    public static Command Create() => Root(
        ConformanceCommand.Create(),
        SampleCommand.Create(),
        MergeCommand.Create(),
        CompareCommand.Create(),
        BenchCommand.Create(),
        TrainCommand.Create());

    /// <summary>A root named <c>schedulers</c> holding <paramref name="subcommands"/>, with <c>--help</c> and
    /// <c>--version</c>. A <see cref="RootCommand"/> would take its name from the executable, which is the assembly
    /// name <c>Schedulers.Cli</c> (it cannot be <c>schedulers</c>: assembly names are case-insensitive and the shell
    /// assembly is <c>Schedulers</c>), so help would show <c>Usage: Schedulers.Cli …</c>; a plain command with
    /// RootCommand's two options shows the installed command's name instead.</summary>
    public static Command Root(params Command[] subcommands)
    {
        var root = new Command(Name, Description) { new HelpOption(), new VersionOption() };
        foreach (var subcommand in subcommands) root.Subcommands.Add(subcommand);
        return root;
    }
}
