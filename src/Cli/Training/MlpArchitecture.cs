using System.Text.Json;

namespace Schedulers.Cli.Training;

/// <summary>What rebuilds a trained <see cref="ScoreMlp"/>: the point dimension, the hidden width and depth and the
/// data std σ_d of its preconditioning, plus how it was trained (for the record). Written as JSON next to the
/// weights, in <c>&lt;model&gt;.json</c>.</summary>
public sealed record MlpArchitecture
{
    /// <summary>The value of <see cref="Format"/> that marks a sidecar of this kind.</summary>
    public const string FormatName = "schedulers-score-mlp";

    /// <summary>Always <see cref="FormatName"/>.</summary>
    public string Format { get; init; } = FormatName;
    /// <summary>The dimension D of a point.</summary>
    public int Dimension { get; init; }
    /// <summary>Units per hidden layer.</summary>
    public int Hidden { get; init; }
    /// <summary>Number of hidden layers.</summary>
    public int Layers { get; init; }
    /// <summary>σ_d: the data std of the preconditioning (√(trace Σ / D) of the target).</summary>
    public double SigmaData { get; init; }
    /// <summary>The target it was trained on.</summary>
    public string Target { get; init; } = "";
    /// <summary>The σ range of training.</summary>
    public double SigmaMin { get; init; }
    /// <summary>The σ range of training.</summary>
    public double SigmaMax { get; init; }
    /// <summary>Training steps.</summary>
    public int Steps { get; init; }
    /// <summary>Training seed.</summary>
    public uint Seed { get; init; }
    /// <summary>The held-out loss after training (<see cref="ScoreTraining.HeldOutLoss"/>).</summary>
    public double FinalLoss { get; init; }

    private static readonly JsonSerializerOptions Options = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    /// <summary>The sidecar file of a model file.</summary>
    public static string SidecarOf(string modelPath) => modelPath + ".json";

    /// <summary>Writes the sidecar of <paramref name="modelPath"/>.</summary>
    public void Save(string modelPath) => File.WriteAllText(SidecarOf(modelPath), JsonSerializer.Serialize(this, Options));

    /// <summary>The architecture in the sidecar of <paramref name="modelPath"/>, or null when there is none or it is
    /// not of this format.</summary>
    public static MlpArchitecture? TryRead(string modelPath)
    {
        var sidecar = SidecarOf(modelPath);
        if (!File.Exists(sidecar)) return null;
        try
        {
            var a = JsonSerializer.Deserialize<MlpArchitecture>(File.ReadAllText(sidecar), Options);
            return a is { Format: FormatName } ? a : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
