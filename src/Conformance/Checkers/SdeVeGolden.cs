using Schedulers.Core;

namespace Schedulers.Conformance.Checkers;

/// <summary>What the two ScoreSdeVe golden files share: the config, the shared sample, the closed-form model and the
/// check that a JSON object holds only fields the runner understands.</summary>
public static class SdeVeGolden
{

    /// <summary>The fields of <paramref name="value"/> that are not in <paramref name="known"/>.</summary>
    public static string[] UnknownFields(JsonValue value, params string[] known) =>
        value is JsonValue.Object o ? o.Item.Select(t => t.Item1).Where(k => !known.Contains(k)).ToArray() : Array.Empty<string>();

    /// <summary>A skip reason naming unknown fields, or null when every field is understood.</summary>
    public static string? Unknown(string where, JsonValue value, params string[] known)
    {
        var unknown = UnknownFields(value, known);
        return unknown.Length == 0 ? null : $"{where}: field(s) {string.Join(", ", unknown.Select(k => "'" + k + "'"))} not understood by this runner";
    }

    /// <summary>The config of a case, read by the schema; missing keys take diffusers' defaults (unknown keys are found
    /// by <see cref="UnknownConfig"/>).</summary>
    public static ScoreSdeVeConfig ParseConfig(JsonValue value) =>
        ScoreSdeVeConfig.Schema.Read(new ConfigDict(value is JsonValue.Object o ? o.Item : []));

    /// <summary>The skip reason for a config with keys ScoreSdeVeScheduler does not have, or null.</summary>
    public static string? UnknownConfig(JsonValue value, string where) => Unknown(where, value, ScoreSdeVeConfig.Schema.Keys);

    /// <summary>The file's top-level <c>sample</c>, or diffusers' <c>dummy_sample_deter</c> (4, 3, 8, 8).</summary>
    public static NdArray Sample(JsonValue root)
    {
        if (Golden.Field(root, "sample") is { } s) return GoldenArray.Parse(s, "sample").ToNdArray();
        return DummySampleDeter();
    }

    /// <summary><c>arange(768).reshape(3, 8, 8, 4) / 768</c> permuted to (4, 3, 8, 8), in float32.</summary>
    public static NdArray DummySampleDeter()
    {
        const int B = 4, C = 3, H = 8, W = 8;
        var data = new float[B * C * H * W];
        for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++)
        for (int h = 0; h < H; h++)
        for (int w = 0; w < W; w++)
            data[((b * C + c) * H + h) * W + w] = (float)(((c * H + h) * W + w) * B + b) / 768f;
        return NdArrayModule.create(new[] { B, C, H, W }, data);
    }

    /// <summary>The golden README's ScoreSdeVe model <c>x·σ/(σ + 1)</c>, rounded as the float32 tensor expression.</summary>
    public static NdArray Model(NdArray x, float sigma) =>
        NdArrayBackend.DivideArray(NdArrayBackend.CombineArrays(new[] { (Coef.NewScalar(sigma), x) }), Coef.NewScalar(sigma + 1f));

    /// <summary>The schedule index <c>i</c> a step case records.</summary>
    public static int Index(JsonValue step, string where) => (int)Golden.Number(Golden.Require(step, "i", where), where + ".i");
}
