using System.CommandLine;
using Schedulers.Conformance;

namespace Schedulers.Cli;

/// <summary><c>schedulers conformance PATH...</c>: checks golden files and prints per-file and total counts.</summary>
internal static class ConformanceCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
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
        command.SetAction(parse =>
        {
            var given = parse.GetValue(paths) ?? Array.Empty<string>();
            var missing = given.Where(p => !File.Exists(p) && !Directory.Exists(p)).ToList();
            if (missing.Count > 0)
            {
                parse.InvocationConfiguration.Error.WriteLine($"conformance: no golden file or directory at {string.Join(", ", missing.Select(m => $"'{m}'"))}");
                return 2;
            }
            var (passed, failed, _) = ConformanceRunner.CreateDefault().Run(given, parse.InvocationConfiguration.Output, parse.GetValue(verbose));
            return failed == 0 && passed > 0 ? 0 : 1;
        });
        return command;
    }
}
