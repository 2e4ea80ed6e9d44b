namespace Schedulers.Conformance;

/// <summary>How one golden case ended.</summary>
public enum CaseStatus
{
    /// <summary>Every compared value was within tolerance.</summary>
    Passed,
    /// <summary>A value was outside tolerance, or the project threw where the reference did not.</summary>
    Failed,
    /// <summary>Not checked: the scheduler is not built, or the case uses a field the runner does not understand.</summary>
    Skipped,
}

/// <summary>The first value that differed: the field, its flat index, the expected and the actual value.</summary>
public sealed record Mismatch(string Field, int Index, double Expected, double Actual, string Tolerance)
{
    /// <inheritdoc />
    public override string ToString() =>
        $"field {Field}, index {Index}: expected {Expected:R}, actual {Actual:R} ({Tolerance})";
}

/// <summary>The result of one case: its name, status, and why it failed or was skipped.</summary>
public sealed record CaseResult(string Case, CaseStatus Status, Mismatch? FirstMismatch = null, string? Reason = null)
{
    /// <summary>A passed case.</summary>
    public static CaseResult Pass(string name) => new(name, CaseStatus.Passed);

    /// <summary>A skipped case with the reason.</summary>
    public static CaseResult Skip(string name, string reason) => new(name, CaseStatus.Skipped, Reason: reason);

    /// <summary>A case that failed with an error rather than a value mismatch.</summary>
    public static CaseResult Error(string name, string reason) => new(name, CaseStatus.Failed, Reason: reason);
}

/// <summary>The results of one golden file.</summary>
public sealed record FileResult(string Path, string Name, IReadOnlyList<CaseResult> Cases)
{
    /// <summary>Cases that passed.</summary>
    public int Passed => Cases.Count(c => c.Status == CaseStatus.Passed);

    /// <summary>Cases that failed.</summary>
    public int Failed => Cases.Count(c => c.Status == CaseStatus.Failed);

    /// <summary>Cases that were skipped.</summary>
    public int Skipped => Cases.Count(c => c.Status == CaseStatus.Skipped);
}
