using Schedulers.Core;

namespace Schedulers.Conformance.Checkers;

/// <summary>
/// The fallback for golden files that no registered checker handles — a scheduler file (a top-level
/// <c>scheduler</c> field) or any other file of recorded <c>cases</c>: every recorded case
/// is reported as skipped under the name of what it needs, so the counts stay honest until that is built.
/// </summary>
public sealed class PendingSchedulerChecker : IGoldenChecker
{
    /// <inheritdoc />
    public bool Recognises(JsonValue root) =>
        Golden.Field(root, "scheduler") is not null || Golden.Field(root, "cases") is JsonValue.Array;

    /// <inheritdoc />
    public IEnumerable<CaseResult> Check(JsonValue root)
    {
        var subject = Golden.Field(root, "scheduler") is JsonValue.String s ? s.Item : "recorded cases";
        var framework = Golden.Field(root, "framework") is JsonValue.String f ? $" ({f.Item})" : "";
        var reason = Pending.Reason(subject + framework);
        foreach (var (key, value) in Golden.Members(root, "root"))
        {
            if (value is not JsonValue.Array items) continue;
            for (int i = 0; i < items.Item.Length; i++)
            {
                if (items.Item[i] is JsonValue.Object) yield return CaseResult.Skip($"{key}[{i}]", reason);
            }
        }
    }
}
