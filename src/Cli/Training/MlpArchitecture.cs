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
    /// <summary>The size of the weights file written with this sidecar (null in sidecars written before it was
    /// recorded).</summary>
    public long? WeightsBytes { get; init; }
    /// <summary>The SHA-256 (lower-case hex) of the weights file written with this sidecar: a weights file of
    /// another run is refused at load.</summary>
    public string? WeightsSha256 { get; init; }

    /// <summary>The number of weights and biases of the network (<see cref="ScoreMlp"/>: inputs D + 1, then
    /// <see cref="Layers"/> hidden layers, then D outputs).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public long Parameters
    {
        get
        {
            long width = Dimension + 1, total = 0;
            for (int i = 0; i < Layers; i++) { total += (width + 1) * Hidden; width = Hidden; }
            return total + (width + 1) * Dimension;
        }
    }

    private static readonly JsonSerializerOptions Options = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    /// <summary>The sidecar file of a model file.</summary>
    public static string SidecarOf(string modelPath) => modelPath + ".json";

    /// <summary>Writes the sidecar of <paramref name="modelPath"/> (through <see cref="AtomicFile"/>).</summary>
    public void Save(string modelPath) => AtomicFile.WriteAllBytes(SidecarOf(modelPath), JsonSerializer.SerializeToUtf8Bytes(this, Options));

    /// <summary>The architecture in the sidecar of <paramref name="modelPath"/>, or null when there is none or it is
    /// not valid (<see cref="MlpSidecar.Read"/> says why).</summary>
    public static MlpArchitecture? TryRead(string modelPath)
    {
        try { return MlpSidecar.Read(modelPath); }
        catch (Schedulers.Models.ModelException) { return null; }
    }
}
