using System.CommandLine;

namespace Schedulers.Cli;

/// <summary>A subcommand of the tool, built with its output and errors sent to given writers.</summary>
public interface IToolSubcommand
{
    /// <summary>Builds the command; output goes to <paramref name="output"/>/<paramref name="error"/> (when null, to
    /// the invocation's writers: the console unless the caller set others).</summary>
    static abstract Command Create(TextWriter? output = null, TextWriter? error = null);
}

/// <summary>What every subcommand of the tool shares, so that a subcommand holds only its options, its request parsing
/// and its work: running on its own with given writers (<see cref="Invoke"/>), options that take their value as text,
/// and one action that turns a <see cref="UsageException"/> and the command's failures into one line on stderr and
/// the tool's exit codes.</summary>
/// <typeparam name="TSelf">The subcommand itself (its <see cref="IToolSubcommand.Create"/> builds it).</typeparam>
public abstract class ToolSubcommand<TSelf> where TSelf : IToolSubcommand
{
    /// <summary>The exit code of a run that failed (a bad command line is <see cref="ParseErrors.UsageExitCode"/>).</summary>
    public const int FailureExitCode = 1;

    /// <summary>Parses and runs the subcommand with the given arguments (as the tool would), writing to the given
    /// writers; returns the exit code.</summary>
    public static int Invoke(string[] args, TextWriter output, TextWriter error) =>
        CommandInvoker.Invoke(TSelf.Create(output, error), args, output, error);

    /// <summary>An option whose value is read as text and checked by the command (<see cref="CommandRun"/>), so that
    /// a bad or missing value gives one line naming it and exit code 2 (unknown and repeated options get the same
    /// from <see cref="ParseErrors"/>).</summary>
    private protected static Option<string?> TextOption(string name, string description) =>
        new(name) { Description = description, Arity = ArgumentArity.ZeroOrOne };

    /// <summary><c>--quiet</c>/<c>-q</c>: no progress.</summary>
    private protected static Option<bool> QuietOption(string description) =>
        new("--quiet", "-q") { Description = description };

    /// <summary>Sets the action of <paramref name="command"/> to <paramref name="work"/>, which returns the exit code.
    /// A <see cref="UsageException"/> is a bad command line or input: one line <c>command: message</c> on the error
    /// writer and <see cref="ParseErrors.UsageExitCode"/>. An exception for which <paramref name="failure"/> holds is a
    /// run that failed: one line the same way and <see cref="FailureExitCode"/>. Any other exception is a fault and
    /// keeps its stack trace. Files are written atomically, so a failure (a disk that fills or fails while writing)
    /// leaves each file the previous one or the new one, whole.</summary>
    private protected static Command WithAction(
        Command command, TextWriter? output, TextWriter? error, Func<Exception, bool> failure, Func<CommandRun, int> work)
    {
        command.SetAction(parse =>
        {
            var run = new CommandRun(parse, output, error);
            try
            {
                return work(run);
            }
            catch (UsageException u)
            {
                run.Error.WriteLine($"{command.Name}: {u.Message}");
                return ParseErrors.UsageExitCode;
            }
            catch (Exception x) when (failure(x))
            {
                run.Error.WriteLine($"{command.Name}: {x.Message}");
                return FailureExitCode;
            }
        });
        return command;
    }

    /// <summary>For <see cref="WithAction"/>: no exception is a failure of the run (only usage errors are reported).</summary>
    private protected static bool NoFailures(Exception _) => false;
}
