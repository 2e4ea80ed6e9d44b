using System.CommandLine;
using System.CommandLine.Parsing;

namespace Schedulers.Cli;

/// <summary>Turns what the command-line parser refuses (an unknown option or argument, an option given twice, an
/// option with too many values, a missing subcommand) into the tool's usage error: one line on stderr naming the
/// token, and exit code 2, as the commands' own checks do. The parser's default would print every error followed by
/// the whole help text and exit with 1.</summary>
public static class ParseErrors
{
    /// <summary>The exit code of a bad command line.</summary>
    public const int UsageExitCode = 2;

    /// <summary>Parses <paramref name="args"/> against <paramref name="root"/> and invokes the command, unless the
    /// command line is bad: then prints one line (<c>command: message</c>) to the error writer of
    /// <paramref name="configuration"/> (the console when null) and returns <see cref="UsageExitCode"/>.</summary>
    public static int Invoke(Command root, IReadOnlyList<string> args, InvocationConfiguration? configuration = null)
    {
        var parse = root.Parse(args);
        var message = Describe(parse);
        if (message is null)
            return configuration is null ? parse.Invoke() : parse.Invoke(configuration);
        (configuration?.Error ?? Console.Error).WriteLine(message);
        return UsageExitCode;
    }

    /// <summary>The one-line usage error of <paramref name="parse"/>, or null when the command line is good (or asks
    /// for help or the version, which the parser then handles).</summary>
    public static string? Describe(ParseResult parse)
    {
        var command = parse.CommandResult.Command;
        var name = command.Name;
        var see = $"(see {Path(parse.CommandResult)} --help)";
        // Help and version requests win over other errors, as they do in the parser.
        if (parse.Action is { ClearsParseErrors: true }) return null;
        if (Repeated(parse.CommandResult) is { } twice)
            return $"{name}: {twice} is given more than once {see}";
        if (parse.Errors.Count == 0) return null;
        if (command.Subcommands.Count > 0 && command.Action is null)
            return parse.UnmatchedTokens.Count > 0
                ? $"{name}: unknown command '{parse.UnmatchedTokens[0]}' {see}"
                : $"{name}: a command is needed: {string.Join(", ", command.Subcommands.Select(c => c.Name))} {see}";
        if (parse.UnmatchedTokens.Count > 0)
        {
            var token = parse.UnmatchedTokens[0];
            return token.StartsWith('-')
                ? $"{name}: unknown option '{token}' {see}"
                : $"{name}: unexpected argument '{token}' {see}";
        }
        return $"{name}: {parse.Errors[0].Message.TrimEnd('.')} {see}";
    }

    /// <summary>The first option of <paramref name="result"/> written more than once, unless it takes several values
    /// (such as <c>--config key=value</c>, which is meant to be repeated).</summary>
    private static string? Repeated(CommandResult result) =>
        result.Children.OfType<OptionResult>()
            .FirstOrDefault(o => o.IdentifierTokenCount > 1 && o.Option.Arity.MaximumNumberOfValues <= 1)
            ?.Option.Name;

    private static string Path(CommandResult result)
    {
        var names = new List<string>();
        for (SymbolResult? r = result; r is CommandResult c; r = c.Parent) names.Add(c.Command.Name);
        names.Reverse();
        return string.Join(' ', names);
    }
}
