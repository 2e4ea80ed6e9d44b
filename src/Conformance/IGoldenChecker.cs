using Schedulers.Core;

namespace Schedulers.Conformance;

/// <summary>
/// Checks the cases of one kind of golden file. The runner asks each registered checker in turn whether it
/// recognises a file (by its top-level fields, never by its name) and hands the file to the first that does.
/// </summary>
public interface IGoldenChecker
{
    /// <summary>True when this checker understands the file whose parsed root is <paramref name="root"/>.</summary>
    bool Recognises(JsonValue root);

    /// <summary>Runs every case of the file through the project. A case the checker cannot interpret is reported
    /// as skipped, never as passed; an exception inside a case is that case's failure.</summary>
    IEnumerable<CaseResult> Check(JsonValue root);
}
