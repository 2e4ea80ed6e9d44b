using System.CommandLine;
using System.Globalization;

namespace Schedulers.Cli;

/// <summary>One run of a subcommand's action (<see cref="ToolSubcommand{TSelf}"/>): its parse result, its writers, and
/// the reading of its text options, each refusing a bad value with a <see cref="UsageException"/> that names the
/// option.</summary>
internal sealed class CommandRun
{
    private readonly bool _ownError;

    /// <summary>A run writing to <paramref name="output"/>/<paramref name="error"/>, or to the invocation's writers
    /// (the console unless the caller set others) where those are null.</summary>
    public CommandRun(ParseResult parse, TextWriter? output, TextWriter? error)
    {
        Parse = parse;
        Output = output ?? parse.InvocationConfiguration.Output;
        Error = error ?? parse.InvocationConfiguration.Error;
        _ownError = error is not null;
    }

    /// <summary>The parsed command line.</summary>
    public ParseResult Parse { get; }

    /// <summary>Where the command writes its results.</summary>
    public TextWriter Output { get; }

    /// <summary>Where the command writes its errors and progress lines.</summary>
    public TextWriter Error { get; }

    /// <summary>Whether to draw a progress bar on the console's stderr: not with <paramref name="quiet"/>, not when the
    /// command was given its own error writer, and not when stderr is redirected.</summary>
    public bool Progress(Option<bool> quiet) => !Parse.GetValue(quiet) && !_ownError && !Console.IsErrorRedirected;

    /// <summary>The value of <paramref name="option"/> as given (possibly empty), or null when it is not given; the
    /// option written without a value is refused.</summary>
    public string? Text(Option<string?> option)
    {
        var value = Parse.GetValue(option);
        if (Parse.GetResult(option) is { } given && string.IsNullOrEmpty(value) && given.Tokens.Count == 0 && !given.Implicit)
            throw new UsageException($"{option.Name} needs a value");
        return value;
    }

    /// <summary>As <see cref="Text"/>, but an empty value is refused too.</summary>
    public string? NonEmptyText(Option<string?> option)
    {
        var value = Text(option);
        return value is "" ? throw new UsageException($"{option.Name} needs a value") : value;
    }

    /// <summary>An integer from <paramref name="min"/> to <paramref name="max"/>, or <paramref name="fallback"/> when
    /// the option is not given.</summary>
    public int Int(Option<string?> option, int fallback, int min, int max)
    {
        var given = Text(option);
        if (given is null) return fallback;
        if (!int.TryParse(given, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v))
            throw new UsageException($"{option.Name} is '{given}' but must be an integer");
        if (v < min || v > max) throw new UsageException($"{option.Name} is {v} but must be between {min} and {max}");
        return v;
    }

    /// <summary>A finite number above zero, or <paramref name="fallback"/> when the option is not given.</summary>
    public double Positive(Option<string?> option, double fallback)
    {
        var given = Text(option);
        if (given is null) return fallback;
        if (!double.TryParse(given, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v) || v <= 0)
            throw new UsageException($"{option.Name} is '{given}' but must be a positive number");
        return v;
    }

    /// <summary>A seed from 0 to 4294967295, or 0 when the option is not given.</summary>
    public uint Seed(Option<string?> option)
    {
        var given = Text(option);
        if (given is null) return 0;
        if (!uint.TryParse(given, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v))
            throw new UsageException($"{option.Name} is '{given}' but must be an integer from 0 to 4294967295");
        return v;
    }
}
