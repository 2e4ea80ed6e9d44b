using Schedulers.Core;

namespace Schedulers.Conformance.Checkers;

/// <summary>
/// Checks a <c>scheduler_config.json</c> of a class this library builds (one in the core's <see cref="Registry"/>) (a file with a <c>_class_name</c> and no
/// golden cases): loading it and saving it again must give the text diffusers' <c>save_config</c> writes for it
/// (for a file diffusers wrote, the file byte for byte), and when its values are the class's defaults, a scheduler
/// made with no arguments must save the same bytes.
/// </summary>
public sealed class ConfigChecker : IGoldenChecker
{
    /// <inheritdoc />
    /// <remarks>Any config (a <c>_class_name</c> and no golden cases) is recognised; one of a class this build does not
    /// have is reported as skipped under that class's name.</remarks>
    public bool Recognises(JsonValue root) =>
        Golden.Field(root, "_class_name") is JsonValue.String && Golden.Field(root, "cases") is null;

    /// <inheritdoc />
    public IEnumerable<CaseResult> Check(JsonValue root)
    {
        var className = ((JsonValue.String)Golden.Field(root, "_class_name")!).Item;
        if (Registry.tryFindClass(className) is not { } found)
        {
            yield return CaseResult.Skip($"{className}: load then save", Pending.Reason(className));
            yield break;
        }
        Func<ConfigDict, string> resave = d => found.Value.Resave.Invoke(d);
        Func<string> defaultText = () => found.Value.DefaultText;
        var original = Json.writeIndented(root) + "\n";
        var dict = new ConfigDict(((JsonValue.Object)root).Item);
        yield return CaseChecker.Run($"{className}: load then save", c => CompareText(c, original, resave(dict)));
        var defaults = defaultText();
        if (ConfigFile.parse(defaults).Members.Where(m => m.Item1 != "_diffusers_version").SequenceEqual(dict.Members.Where(m => m.Item1 != "_diffusers_version")))
            yield return CaseChecker.Run($"{className}: default config", c => CompareText(c, original, defaults));
    }

    private static void CompareText(CaseChecker c, string expected, string actual)
    {
        if (expected == actual) return;
        int i = 0;
        while (i < Math.Min(expected.Length, actual.Length) && expected[i] == actual[i]) i++;
        c.Compare("text (character code at first difference)", i < expected.Length ? expected[i] : -1, i < actual.Length ? actual[i] : -1, Tolerance.Exact);
        if (c.Ok) c.Compare("text length", expected.Length, actual.Length, Tolerance.Exact);
    }
}
