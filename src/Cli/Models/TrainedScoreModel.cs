using Schedulers.Cli.Training;
using Schedulers.Core;
using Schedulers.Models;
using static TorchSharp.torch;

namespace Schedulers.Cli.Models;

/// <summary>A score MLP written by <c>schedulers train</c>: TorchSharp weights (<c>module.save</c>) plus the JSON
/// sidecar <c>&lt;file&gt;.json</c> that records its architecture; rebuilt as a <see cref="ScoreMlp"/> and run on
/// the CPU under no_grad. Signature <c>forward(x: float32[B, D], sigma: float32[B]) → score float32[B, D]</c>.</summary>
public sealed class TrainedScoreModel : IDenoiserModel
{
    private readonly ScoreMlp _module;
    private readonly Lock _gate = new();

    /// <inheritdoc/>
    public string Path { get; }

    /// <summary>The dimension D of the points the network was trained on.</summary>
    public int Dimension => _module.Architecture.Dimension;

    private TrainedScoreModel(string path, ScoreMlp module)
    {
        Path = path;
        _module = module;
    }

    /// <summary>Whether <paramref name="path"/> has a sidecar file <c>&lt;path&gt;.json</c> (then it is loaded by
    /// this class whatever its extension, and a sidecar that is not valid is reported as such).</summary>
    public static bool IsTrainedModel(string path) => File.Exists(MlpArchitecture.SidecarOf(path));

    /// <summary>Loads the weights with the architecture of the sidecar; throws <see cref="ModelException"/> when the
    /// file is missing, the sidecar is missing or invalid (<see cref="MlpSidecar.Read"/>), the weights are not the
    /// file the sidecar was written with, or they do not fit the architecture.</summary>
    public static TrainedScoreModel Load(string path)
    {
        if (!File.Exists(path)) throw new ModelException($"model file '{path}' does not exist");
        var architecture = MlpSidecar.Read(path);
        if (architecture.WeightsSha256 is { } expected)
        {
            using var stream = File.OpenRead(path);
            if (Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(stream)) != expected)
                throw new ModelException($"model file '{path}' is not the weights its sidecar '{MlpArchitecture.SidecarOf(path)}' was written with (SHA-256 differs): the two files come from different runs");
        }
        var module = new ScoreMlp(architecture);
        try
        {
            module.load(path);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            module.Dispose();
            throw new ModelException($"model file '{path}' does not hold the weights of the MLP its sidecar describes ({e.Message.Split('\n')[0].Trim()})", e);
        }
        module.eval();
        return new TrainedScoreModel(path, module);
    }

    /// <inheritdoc/>
    public NdArray Forward(NdArray x, float[] conditioning) =>
        TorchNetworkCall.Run(Path, _gate, x, conditioning, (xs, cs) => _module.forward(xs, cs));

    /// <inheritdoc/>
    public void Dispose() => _module.Dispose();
}
