namespace Schedulers.Conformance;

/// <summary>The one wording of "not built yet", so that a skip names what it waits for and tests can count skips by
/// class.</summary>
public static class Pending
{
    /// <summary>The reason given for a case whose scheduler (or other subject) this build does not have.</summary>
    public static string Reason(string subject) => $"{subject} is not built in this version";

    /// <summary>The subject a <see cref="Reason"/> names, or null when the reason is of another kind.</summary>
    public static string? SubjectOf(string? reason) =>
        reason is not null && reason.EndsWith(" is not built in this version", StringComparison.Ordinal)
            ? reason[..^" is not built in this version".Length]
            : null;
}
