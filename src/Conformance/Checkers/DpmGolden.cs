using Schedulers.Core;

namespace Schedulers.Conformance.Checkers;

/// <summary>What the two DPM-Solver checkers share: config overrides, the shared sample, the closed-form model and
/// the resolved-config comparison.</summary>
internal static class DpmGolden
{
    /// <summary>True for a DPMSolverMultistepScheduler golden file of the given framework.</summary>
    public static bool Recognises(JsonValue root, string framework) =>
        Golden.Field(root, "scheduler") is JsonValue.String { Item: "DPMSolverMultistepScheduler" }
        && Golden.Field(root, "framework") is JsonValue.String f && f.Item == framework
        && Golden.Field(root, "cases") is JsonValue.Array;

    /// <summary>The defaults with the case's <c>config_overrides</c> applied (by the schema, as a config file's keys).</summary>
    public static DpmSolverConfig Config(JsonValue item, string where)
    {
        var schema = DpmSolverConfig.Schema;
        var config = schema.Defaults;
        if (Golden.Field(item, "config_overrides") is { } overrides)
        {
            foreach (var (key, value) in Golden.Members(overrides, where + ".config_overrides"))
                config = schema.Set(key, value, config);
        }
        return config;
    }

    /// <summary>Compares every key of a recorded resolved config with the project's config as the schema writes it
    /// (numbers with the schedule tolerance for arrays, exactly otherwise).</summary>
    public static void CompareConfig(CaseChecker c, JsonValue recorded, DpmSolverConfig config)
    {
        foreach (var (key, expected) in Golden.Members(recorded, "config"))
        {
            var actual = DpmSolverConfig.Schema.Get(key, config);
            switch (expected)
            {
                case JsonValue.Array values:
                    var actualValues = actual is JsonValue.Array a ? a.Item.Select(v => Golden.Number(v, "config." + key)).ToArray() : Array.Empty<double>();
                    c.Compare("config." + key, values.Item.Select(v => Golden.Number(v, "config." + key)).ToArray(), actualValues, Tolerance.Schedule);
                    break;
                case JsonValue.Number n when actual is JsonValue.Number m:
                    c.Compare("config." + key, Json.numberValue(n.text), Json.numberValue(m.text), Tolerance.Exact);
                    break;
                default:
                    if (!expected.Equals(actual))
                        throw new InvalidDataException($"config.{key}: expected {Json.writeIndented(expected)}, actual {Json.writeIndented(actual)}");
                    break;
            }
        }
    }

    /// <summary>The file's shared <c>sample</c>, or diffusers' <c>dummy_sample_deter</c> (4, 3, 8, 8).</summary>
    public static NdArray Sample(JsonValue root)
    {
        if (Golden.Field(root, "sample") is { } sample) return GoldenArray.Parse(sample, "sample").ToNdArray();
        var data = new float[4 * 3 * 8 * 8];
        for (int b = 0; b < 4; b++)
        for (int ch = 0; ch < 3; ch++)
        for (int h = 0; h < 8; h++)
        for (int w = 0; w < 8; w++)
            data[((b * 3 + ch) * 8 + h) * 8 + w] = (float)(((ch * 8 + h) * 8 + w) * 4 + b) / 768f;
        return NdArrayModule.create(new[] { 4, 3, 8, 8 }, data);
    }

    /// <summary>The fields a DPM case may carry; any other field makes the case skipped.</summary>
    public static readonly HashSet<string> KnownCaseFields = new()
    {
        "config_overrides", "num_inference_steps", "timesteps", "sigmas", "config", "samples", "final", "sum_abs", "mean_abs", "error",
    };

    private static readonly HashSet<string> ConfigKeys = new(DpmSolverConfig.Schema.AllKeys);

    /// <summary>The first field of a case this runner does not understand (including config keys), or null.</summary>
    public static string? UnknownField(JsonValue item)
    {
        var unknown = Golden.Members(item, "case").Select(m => m.Key).FirstOrDefault(k => !KnownCaseFields.Contains(k));
        if (unknown is not null) return unknown;
        foreach (var field in new[] { "config_overrides", "config" })
        {
            if (Golden.Field(item, field) is not JsonValue.Object o) continue;
            var key = o.Item.Select(m => m.Item1).FirstOrDefault(k => !ConfigKeys.Contains(k));
            if (key is not null) return $"{field}.{key}";
        }
        return null;
    }

    /// <summary>Compares one recorded step (an array, or Σ|x| for long runs) with the project's sample.</summary>
    public static void CompareStep(CaseChecker c, string field, JsonValue recorded, float[] actual)
    {
        if (recorded is JsonValue.Number n)
        {
            double sum = actual.Sum(v => Math.Abs((double)v));
            c.Compare(field + " (sum_abs)", Json.numberValue(n.text), sum, Tolerance.Loop);
            return;
        }
        c.Compare(field, GoldenArray.Parse(recorded, field), actual, Tolerance.Loop);
    }

    /// <summary>Compares the final sample and its recorded Σ|x| and mean |x|.</summary>
    public static void CompareFinal(CaseChecker c, JsonValue item, float[] final)
    {
        if (Golden.Field(item, "final") is { } f) c.Compare("final", GoldenArray.Parse(f, "final"), final, Tolerance.Loop);
        double sum = final.Sum(v => Math.Abs((double)v));
        if (Golden.Field(item, "sum_abs") is { } s) c.Compare("sum_abs", Golden.Number(s, "sum_abs"), sum, Tolerance.Loop);
        if (Golden.Field(item, "mean_abs") is { } m) c.Compare("mean_abs", Golden.Number(m, "mean_abs"), sum / final.Length, Tolerance.Loop);
    }

    /// <summary>An error case passes when the loop finished with finite values of the sample's shape.</summary>
    public static void CheckFinite(int[] expectedShape, int[] shape, float[] values)
    {
        if (!expectedShape.SequenceEqual(shape))
            throw new InvalidDataException($"the final sample has shape [{string.Join(",", shape)}] but [{string.Join(",", expectedShape)}] was expected");
        if (!values.All(float.IsFinite)) throw new InvalidDataException("the final sample has non-finite values");
    }

    /// <summary>Runs <paramref name="check"/> on every case of the file with the file's shared sample. A case with a
    /// field this runner does not understand, or one <paramref name="skipReason"/> gives a reason for, is skipped.</summary>
    public static IEnumerable<CaseResult> EachCase(JsonValue root, Func<JsonValue, string?> skipReason, Action<CaseChecker, JsonValue, NdArray> check)
    {
        var sample = Sample(root);
        var cases = Golden.Items(Golden.Require(root, "cases", "root"), "cases");
        for (int i = 0; i < cases.Length; i++)
        {
            var item = cases[i];
            var name = $"cases[{i}]";
            var reason = UnknownField(item) is { } unknown ? $"field '{unknown}' is not understood by this runner" : skipReason(item);
            yield return reason is null ? CaseChecker.Run(name, c => check(c, item, sample)) : CaseResult.Skip(name, reason);
        }
    }
}
