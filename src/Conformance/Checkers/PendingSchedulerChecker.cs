using Schedulers.Core;

namespace Schedulers.Conformance.Checkers;

/// <summary>
/// The fallback for scheduler golden files (a top-level <c>scheduler</c> field) that no registered checker handles:
/// every recorded case is reported as skipped, so the counts stay honest until that scheduler is built.
/// </summary>
public sealed class PendingSchedulerChecker : IGoldenChecker
{
    /// <inheritdoc />
    public bool Recognises(JsonValue root) => Golden.Field(root, "scheduler") is not null;

    /// <inheritdoc />
    public IEnumerable<CaseResult> Check(JsonValue root)
    {
        var scheduler = Golden.Field(root, "scheduler") is JsonValue.String s ? s.Item : "?";
        var framework = Golden.Field(root, "framework") is JsonValue.String f ? f.Item : "?";
        var reason = $"{scheduler} ({framework}) has no checker in this build";
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
