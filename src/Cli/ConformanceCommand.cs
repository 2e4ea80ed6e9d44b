using System.CommandLine;
using Schedulers.Conformance;

namespace Schedulers.Cli;

/// <summary><c>schedulers conformance PATH...</c>: checks golden files and prints per-file and total counts.</summary>
internal sealed class ConformanceCommand : ToolSubcommand<ConformanceCommand>, IToolSubcommand
{
    /// <inheritdoc/>
    public static Command Create(TextWriter? output = null, TextWriter? error = null)
    {
        var paths = new Argument<string[]>("paths")
        {
            Description = "Golden files (.json, .json.gz) or directories of them.",
            Arity = ArgumentArity.OneOrMore,
        };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Also list skipped cases with the reason." };
        var command = new Command("conformance", "Check the project against reference golden files; exit 0 only when nothing fails and something passes.")
        {
            paths,
            verbose,
        };
        // An unreadable or malformed golden file is a failed case in the counts (ConformanceRunner.CheckPath).
        return WithAction(command, output, error, NoFailures, run =>
        {
            var given = run.Parse.GetValue(paths) ?? Array.Empty<string>();
            var missing = given.Where(p => !File.Exists(p) && !Directory.Exists(p)).ToList();
            if (missing.Count > 0)
                throw new UsageException($"no golden file or directory at {string.Join(", ", missing.Select(m => $"'{m}'"))}");
            var (passed, failed, _) = ConformanceRunner.CreateDefault().Run(given, run.Output, run.Parse.GetValue(verbose));
            return failed == 0 && passed > 0 ? 0 : FailureExitCode;
        });
    }
}
