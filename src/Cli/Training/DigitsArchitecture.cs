using System.Globalization;
using System.Text.Json;
using Schedulers.Models;

namespace Schedulers.Cli.Training;

/// <summary>What rebuilds a trained <see cref="DigitsDenoiser"/> — its widths and σ_d — plus how it was trained (for
/// the record) and the size and SHA-256 of the weights written with it. Written as JSON next to the weights, in
/// <c>&lt;model&gt;.json</c>, and read back strictly (<see cref="Parse"/>).</summary>
public sealed record DigitsArchitecture
{
    /// <summary>The value of <see cref="Format"/> that marks a sidecar of this kind.</summary>
    public const string FormatName = "schedulers-digits-denoiser";
    /// <summary>The side of an image.</summary>
    public const int Side = 8;
    /// <summary>The widest network and the deepest stack a sidecar may declare (checked before anything is built).</summary>
    public const int MaxChannels = 512, MaxBlocks = 32, MaxEmbedding = 1024;

    /// <summary>Always <see cref="FormatName"/>.</summary>
    public string Format { get; init; } = FormatName;
    /// <summary>Convolution channels.</summary>
    public int Channels { get; init; } = 32;
    /// <summary>Residual blocks (two convolutions each).</summary>
    public int Blocks { get; init; } = 2;
    /// <summary>Width of the noise embedding.</summary>
    public int Embedding { get; init; } = 64;
    /// <summary>σ_d of the preconditioning: the data's pixel standard deviation.</summary>
    public double SigmaData { get; init; }
    /// <summary>Training steps.</summary>
    public int Steps { get; init; }
    /// <summary>Images per training step.</summary>
    public int BatchSize { get; init; }
    /// <summary>Training seed.</summary>
    public uint Seed { get; init; }
    /// <summary>The held-out loss after training (<see cref="DigitsTraining.HeldOutLoss"/>).</summary>
    public double FinalLoss { get; init; }
    /// <summary>The size of the weights file written with this sidecar.</summary>
    public long WeightsBytes { get; init; }
    /// <summary>The SHA-256 (lower-case hex) of the weights file written with this sidecar.</summary>
    public string WeightsSha256 { get; init; } = "";

    /// <summary>The number of weights and biases of the network.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public long Parameters =>
        (9L + 1) * Channels + 2L * Blocks * (9L * Channels + 1) * Channels + (9L * Channels + 1)
        + 2L * Embedding + Blocks * ((long)Embedding + 1) * Channels;

    private static readonly JsonSerializerOptions Options = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    /// <summary>The sidecar file of a model file.</summary>
    public static string SidecarOf(string modelPath) => modelPath + ".json";

    /// <summary>The sidecar's bytes.</summary>
    public byte[] ToBytes() => JsonSerializer.SerializeToUtf8Bytes(this, Options);

    /// <summary>Parses sidecar bytes strictly; throws <see cref="ModelException"/> naming <paramref name="label"/> and
    /// the field when the JSON is damaged, of another format, or a width is out of range.</summary>
    public static DigitsArchitecture Parse(byte[] bytes, string label)
    {
        if (bytes.Length > 65_536) throw new ModelException($"sidecar '{label}' is {bytes.Length} bytes; a digits sidecar is under 64 KiB");
        JsonDocument document;
        try { document = JsonDocument.Parse(bytes); }
        catch (JsonException e) { throw new ModelException($"sidecar '{label}' is not complete JSON (line {e.LineNumber + 1}): it is truncated or damaged", e); }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new ModelException($"sidecar '{label}' is not a JSON object");
            var format = root.TryGetProperty("format", out var f) && f.ValueKind == JsonValueKind.String ? f.GetString() : null;
            if (format != FormatName)
                throw new ModelException($"sidecar '{label}' has format {(format is null ? "(none)" : $"'{format}'")} but must have \"format\": \"{FormatName}\"");
            int Int(string key, int min, int max)
            {
                if (!root.TryGetProperty(key, out var v) || v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out var x) || x < min || x > max)
                    throw new ModelException($"sidecar '{label}': \"{key}\" must be an integer from {min} to {max}");
                return x;
            }
            double sigmaData = root.TryGetProperty("sigmaData", out var sd) && sd.ValueKind == JsonValueKind.Number && sd.TryGetDouble(out var s) && double.IsFinite(s) && s > 0 ? s
                : throw new ModelException($"sidecar '{label}': \"sigmaData\" must be a positive number");
            string sha = root.TryGetProperty("weightsSha256", out var h) && h.ValueKind == JsonValueKind.String && h.GetString() is { Length: 64 } hex ? hex
                : throw new ModelException($"sidecar '{label}': \"weightsSha256\" must be 64 hex digits");
            return new DigitsArchitecture
            {
                Channels = Int("channels", 1, MaxChannels),
                Blocks = Int("blocks", 0, MaxBlocks),
                Embedding = Int("embedding", 1, MaxEmbedding),
                SigmaData = sigmaData,
                Steps = Int("steps", 0, int.MaxValue),
                BatchSize = Int("batchSize", 0, int.MaxValue),
                Seed = root.TryGetProperty("seed", out var seed) && seed.TryGetUInt32(out var sv) ? sv : 0,
                FinalLoss = root.TryGetProperty("finalLoss", out var l) && l.ValueKind == JsonValueKind.Number ? l.GetDouble() : double.NaN,
                WeightsBytes = root.TryGetProperty("weightsBytes", out var wb) && wb.TryGetInt64(out var w) ? w : 0,
                WeightsSha256 = sha,
            };
        }
    }

    /// <summary>A short description, e.g. "conv 32 ch × 2 blocks, 41 921 parameters".</summary>
    public string Describe() => string.Create(CultureInfo.InvariantCulture, $"conv denoiser, {Channels} channels × {Blocks} residual blocks, {Parameters} parameters, σ_d {SigmaData:0.####}");
}
