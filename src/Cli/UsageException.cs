namespace Schedulers.Cli;

/// <summary>A bad command line: the message is the one line the tool prints (naming the option and the value)
/// before it exits with code 2.</summary>
public sealed class UsageException(string message) : Exception(message);
