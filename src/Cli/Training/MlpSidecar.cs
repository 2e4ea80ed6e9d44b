using System.Globalization;
using System.Text.Json;
using Schedulers.Models;

namespace Schedulers.Cli.Training;

/// <summary>Reads a score-MLP sidecar strictly: every field that shapes the network is checked for its type and range
/// before anything is built, so that a damaged or hand-edited sidecar is reported as such (a missing, empty,
/// truncated or other-format file, a field of the wrong type, a width or depth out of range, a σ_d that is not a
/// positive number) instead of reaching libtorch or sampling garbage.</summary>
public static class MlpSidecar
{
    /// <summary>The largest point dimension, width and depth a sidecar may declare (those <c>train</c> accepts).</summary>
    public const int MaxDimension = 65_536, MaxHidden = 65_536, MaxLayers = 64;

    /// <summary>The architecture in the sidecar of <paramref name="modelPath"/>; throws <see cref="ModelException"/>
    /// naming the sidecar and the field when it is missing, unreadable or invalid.</summary>
    public static MlpArchitecture Read(string modelPath)
    {
        var sidecar = MlpArchitecture.SidecarOf(modelPath);
        if (!File.Exists(sidecar))
            throw new ModelException($"model file '{modelPath}' has no score-MLP sidecar '{sidecar}'");
        byte[] bytes;
        try { bytes = File.ReadAllBytes(sidecar); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelException($"sidecar '{sidecar}' cannot be read ({e.Message})", e);
        }
        if (bytes.All(b => b is (byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t'))
            throw new ModelException($"sidecar '{sidecar}' is empty; it must be the JSON that schedulers train writes");
        JsonDocument document;
        try { document = JsonDocument.Parse(bytes); }
        catch (JsonException e)
        {
            throw new ModelException($"sidecar '{sidecar}' is not complete JSON (line {e.LineNumber + 1}): it is truncated or damaged; train the model again", e);
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new ModelException($"sidecar '{sidecar}' holds a JSON {root.ValueKind.ToString().ToLowerInvariant()}, not the object schedulers train writes");
            var format = root.TryGetProperty("format", out var f) && f.ValueKind == JsonValueKind.String ? f.GetString() : null;
            if (format != MlpArchitecture.FormatName)
                throw new ModelException($"sidecar '{sidecar}' has format {(format is null ? "(none)" : $"'{format}'")} but must have \"format\": \"{MlpArchitecture.FormatName}\"");
            int Int(string key, int min, int max, bool required = true)
            {
                if (!root.TryGetProperty(key, out var v))
                    return required ? throw new ModelException($"sidecar '{sidecar}' has no \"{key}\"") : 0;
                if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out var x) || x != Math.Floor(x))
                    throw new ModelException($"sidecar '{sidecar}': \"{key}\" is {v.GetRawText()} but must be an integer from {min} to {max}");
                if (x < min || x > max)
                    throw new ModelException($"sidecar '{sidecar}': \"{key}\" is {x.ToString(CultureInfo.InvariantCulture)} but must be an integer from {min} to {max}");
                return (int)x;
            }
            double Number(string key, bool positive, bool required)
            {
                if (!root.TryGetProperty(key, out var v))
                    return required ? throw new ModelException($"sidecar '{sidecar}' has no \"{key}\"") : 0;
                // NaN and ±Infinity, which a hand edit may write as strings, are refused with the rest.
                if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out var x) || !double.IsFinite(x) || (positive && x <= 0))
                    throw new ModelException($"sidecar '{sidecar}': \"{key}\" is {v.GetRawText()} but must be a {(positive ? "positive" : "finite")} number");
                return x;
            }
            string? Text(string key) => !root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null ? null
                : v.ValueKind == JsonValueKind.String ? v.GetString()
                : throw new ModelException($"sidecar '{sidecar}': \"{key}\" is {v.GetRawText()} but must be a string");
            var architecture = new MlpArchitecture
            {
                Dimension = Int("dimension", 1, MaxDimension),
                Hidden = Int("hidden", 1, MaxHidden),
                Layers = Int("layers", 1, MaxLayers),
                SigmaData = Number("sigmaData", positive: true, required: true),
                Target = Text("target") ?? "",
                SigmaMin = Number("sigmaMin", positive: false, required: false),
                SigmaMax = Number("sigmaMax", positive: false, required: false),
                Steps = Int("steps", 0, int.MaxValue, required: false),
                Seed = root.TryGetProperty("seed", out var s) && s.ValueKind == JsonValueKind.Number && s.TryGetUInt32(out var seed) ? seed : 0,
                FinalLoss = root.TryGetProperty("finalLoss", out var l) && l.ValueKind == JsonValueKind.Number ? l.GetDouble() : double.NaN,
                WeightsBytes = root.TryGetProperty("weightsBytes", out var wb) && wb.ValueKind == JsonValueKind.Number && wb.TryGetInt64(out var bytesOfWeights) ? bytesOfWeights : null,
                WeightsSha256 = Text("weightsSha256"),
            };
            long need = architecture.Parameters * sizeof(float);
            long available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
            if (need > available)
                throw new ModelException($"sidecar '{sidecar}' describes {architecture.Parameters} parameters ({need >> 20} MiB), more than the {available >> 20} MiB of memory available");
            return architecture;
        }
    }
}
