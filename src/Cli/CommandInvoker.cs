using System.CommandLine;

namespace Schedulers.Cli;

/// <summary>Runs one subcommand as the tool would, with its output and errors sent to the given writers (used by tests
/// and by callers that embed the tool).</summary>
internal static class CommandInvoker
{
    /// <summary>Parses <c>name args...</c> against a root holding <paramref name="command"/> and invokes it; returns the exit code.</summary>
    public static int Invoke(Command command, string[] args, TextWriter output, TextWriter error)
    {
        var root = ToolCommand.Root(command);
        return ParseErrors.Invoke(root, [command.Name, .. args], new InvocationConfiguration { Output = output, Error = error });
    }
}
