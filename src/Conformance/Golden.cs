using System.IO.Compression;
using System.Text;
using Schedulers.Core;

namespace Schedulers.Conformance;

/// <summary>Loading golden files (plain or gzip-compressed JSON) and reading typed values out of them.</summary>
public static class Golden
{
    /// <summary>True for the file names the runner treats as golden files: <c>*.json</c> and <c>*.json.gz</c>.</summary>
    public static bool IsGoldenFileName(string path) =>
        path.EndsWith(".json", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".json.gz", StringComparison.OrdinalIgnoreCase);

    /// <summary>The name a file is reported under: its name without <c>.json</c> / <c>.json.gz</c>.</summary>
    public static string DisplayName(string path)
    {
        var name = Path.GetFileName(path);
        foreach (var suffix in new[] { ".json.gz", ".json" })
        {
            if (name.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)) return name[..^suffix.Length];
        }
        return name;
    }

    /// <summary>Reads and parses a golden file; gzip is recognised by its <c>.gz</c> suffix.</summary>
    public static JsonValue Load(string path)
    {
        string text;
        if (path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase))
        {
            using var file = File.OpenRead(path);
            using var gzip = new GZipStream(file, CompressionMode.Decompress);
            using var reader = new StreamReader(gzip, Encoding.UTF8);
            text = reader.ReadToEnd();
        }
        else
        {
            text = File.ReadAllText(path, Encoding.UTF8);
        }
        return Json.parse(text);
    }

    /// <summary>The field <paramref name="key"/> of an object, or null.</summary>
    public static JsonValue? Field(JsonValue value, string key) => Json.tryField(key, value)?.Value;

    /// <summary>The field <paramref name="key"/> of an object; throws when it is missing.</summary>
    public static JsonValue Require(JsonValue value, string key, string where) =>
        Field(value, key) ?? throw new GoldenFormatException($"{where}: missing field '{key}'");

    /// <summary>The elements of a JSON array.</summary>
    public static JsonValue[] Items(JsonValue value, string where) =>
        value is JsonValue.Array a ? a.Item : throw new GoldenFormatException($"{where}: expected a JSON array");

    /// <summary>The members of a JSON object in file order.</summary>
    public static (string Key, JsonValue Value)[] Members(JsonValue value, string where) =>
        value is JsonValue.Object o ? o.Item.Select(t => (t.Item1, t.Item2)).ToArray() : throw new GoldenFormatException($"{where}: expected a JSON object");

    /// <summary>A number as a double.</summary>
    public static double Number(JsonValue value, string where) =>
        value is JsonValue.Number n ? Json.numberValue(n.text) : throw new GoldenFormatException($"{where}: expected a number");

    /// <summary>A string.</summary>
    public static string Text(JsonValue value, string where) =>
        value is JsonValue.String s ? s.Item : throw new GoldenFormatException($"{where}: expected a string");

    /// <summary>An array field decoded.</summary>
    public static GoldenArray Array(JsonValue value, string key, string where) =>
        GoldenArray.Parse(Require(value, key, where), where + "." + key);
}
