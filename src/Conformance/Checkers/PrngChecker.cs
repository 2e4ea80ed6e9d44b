using Schedulers.Core;

namespace Schedulers.Conformance.Checkers;

/// <summary>
/// Checks <c>jax_prng.json</c>-shaped files: threefry2x32 known answers and, per threefry mode, <c>PRNGKey(seed)</c>,
/// <c>split(PRNGKey(0), n)</c>, <c>fold_in(PRNGKey(0), d)</c>, <c>bits(PRNGKey(7), shape)</c>,
/// <c>uniform(PRNGKey(3), shape)</c>, <c>normal(PRNGKey(0), shape)</c>, and the optional <c>split_of_split</c>
/// and <c>normal_key123_1000</c>, with the keys the golden README fixes for each.
/// </summary>
public sealed class PrngChecker : IGoldenChecker
{
    /// <inheritdoc />
    /// <remarks>Either part identifies the kind: a file with only the known answers, or only the per-mode cases, is
    /// checked for what it has; top-level fields besides the two are reported as skipped.</remarks>
    public bool Recognises(JsonValue root) =>
        Golden.Field(root, "scheduler") is null && (Golden.Field(root, "modes") is not null || Golden.Field(root, "threefry2x32") is not null);

    /// <inheritdoc />
    public IEnumerable<CaseResult> Check(JsonValue root)
    {
        foreach (var (key, _) in Golden.Members(root, "root"))
        {
            if (key is not ("threefry2x32" or "modes" or "source" or "notes" or "default_mode"))
                yield return CaseResult.Skip(key, $"field '{key}' is not understood by this runner");
        }
        var blocks = Golden.Field(root, "threefry2x32") is { } known ? Golden.Items(known, "threefry2x32") : Array.Empty<JsonValue>();
        for (int i = 0; i < blocks.Length; i++)
        {
            yield return Run($"threefry2x32[{i}]", c =>
            {
                var key = Words(Golden.Require(blocks[i], "key", c.Name));
                var count = Words(Golden.Require(blocks[i], "count", c.Name));
                var expected = Words(Golden.Require(blocks[i], "out", c.Name));
                var (y0, y1) = Prng.threefry2x32(Prng.ofWords(key[0], key[1]), count[0], count[1]).ToTuple();
                c.Compare("out", expected.Select(v => (double)v).ToArray(), new double[] { y0, y1 }, Tolerance.Exact);
            });
        }
        var modes = Golden.Field(root, "modes") is { } m ? Golden.Members(m, "modes") : Array.Empty<(string Key, JsonValue Value)>();
        foreach (var (modeName, modeValue) in modes)
        {
            ThreefryMode? mode = modeName switch
            {
                "partitionable" => ThreefryMode.Partitionable,
                "legacy" => ThreefryMode.Legacy,
                _ => null,
            };
            foreach (var (field, cases) in Golden.Members(modeValue, modeName))
            {
                if (mode is null)
                {
                    yield return CaseResult.Skip($"{modeName}/{field}", $"unknown threefry mode '{modeName}'");
                    continue;
                }
                foreach (var result in CheckField(mode.Value, modeName, field, cases)) yield return result;
            }
        }
    }

    private static IEnumerable<CaseResult> CheckField(ThreefryMode mode, string modeName, string field, JsonValue cases)
    {
        string Name(string arg) => $"{modeName}/{field}/{arg}";
        switch (field)
        {
            case "PRNGKey":
                foreach (var (seed, value) in Golden.Members(cases, field))
                    yield return Run(Name(seed), c => CompareKeys(c, value, new[] { Prng.key(long.Parse(seed)) }));
                break;
            case "split":
                foreach (var (n, value) in Golden.Members(cases, field))
                    yield return Run(Name(n), c => CompareKeys(c, value, Prng.splitWith(mode, int.Parse(n), Prng.key(0))));
                break;
            case "fold_in":
                foreach (var (d, value) in Golden.Members(cases, field))
                    yield return Run(Name(d), c => CompareKeys(c, value, new[] { Prng.foldIn(uint.Parse(d), Prng.key(0)) }));
                break;
            case "split_of_split":
                yield return Run(Name("PRNGKey(0)"), c =>
                    CompareKeys(c, cases, Prng.splitWith(mode, 4, Prng.splitWith(mode, 2, Prng.key(0))[1])));
                break;
            case "bits32":
                foreach (var (shape, value) in Golden.Members(cases, field))
                    yield return Run(Name(shape), c =>
                        c.Compare("bits", GoldenArray.Parse(value, c.Name), Prng.bitsWith(mode, ParseShape(shape), Prng.key(7))));
                break;
            case "uniform":
                foreach (var (shape, value) in Golden.Members(cases, field))
                    yield return Run(Name(shape), c =>
                        c.Compare("uniform", GoldenArray.Parse(value, c.Name), Prng.uniformWith(mode, ParseShape(shape), Prng.key(3)), Tolerance.Exact));
                break;
            case "normal":
                foreach (var (shape, value) in Golden.Members(cases, field))
                    yield return Run(Name(shape), c =>
                        c.Compare("normal", GoldenArray.Parse(value, c.Name), Prng.normalWith(mode, ParseShape(shape), Prng.key(0)), Tolerance.Normal));
                break;
            case "normal_key123_1000":
                yield return Run(Name("PRNGKey(123)"), c =>
                    c.Compare("normal", GoldenArray.Parse(cases, c.Name), Prng.normalWith(mode, new[] { 1000 }, Prng.key(123)), Tolerance.Normal));
                break;
            default:
                yield return CaseResult.Skip(Name("*"), $"field '{field}' is not understood by this runner");
                break;
        }
    }

    /// <summary>Parses a Python shape tuple such as <c>(2, 3)</c>, <c>(5,)</c> or <c>()</c>.</summary>
    public static int[] ParseShape(string text)
    {
        var inner = text.Trim().TrimStart('(').TrimEnd(')');
        return inner.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(int.Parse).ToArray();
    }

    private static uint[] Words(JsonValue value) =>
        Golden.Items(value, "key").Select(v => checked((uint)Golden.Number(v, "key"))).ToArray();

    private static void CompareKeys(CaseChecker c, JsonValue expected, PrngKey[] actual)
    {
        // A single key is [k0, k1]; a list of keys is [[k0, k1], ...].
        var items = Golden.Items(expected, c.Name);
        var flat = items.Length > 0 && items[0] is JsonValue.Array
            ? items.SelectMany(k => Words(k)).ToArray()
            : Words(expected);
        var words = actual.SelectMany(k => new[] { k.K0, k.K1 }).ToArray();
        c.Compare("key words", flat.Select(v => (double)v).ToArray(), words.Select(v => (double)v).ToArray(), Tolerance.Exact);
    }

    private static CaseResult Run(string name, Action<CaseChecker> body) => CaseChecker.Run(name, body);
}
