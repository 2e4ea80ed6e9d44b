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

    private TrainedScoreModel(string path, ScoreMlp module)
    {
        Path = path;
        _module = module;
    }

    /// <summary>Whether <paramref name="path"/> has a score-MLP sidecar (then it is loaded by this class whatever
    /// its extension).</summary>
    public static bool IsTrainedModel(string path) => MlpArchitecture.TryRead(path) is not null;

    /// <summary>Loads the weights with the architecture of the sidecar; throws <see cref="ModelException"/> when the
    /// file is missing or its weights do not fit the architecture.</summary>
    public static TrainedScoreModel Load(string path)
    {
        if (!File.Exists(path)) throw new ModelException($"model file '{path}' does not exist");
        var architecture = MlpArchitecture.TryRead(path)
            ?? throw new ModelException($"model file '{path}' has no score-MLP sidecar '{MlpArchitecture.SidecarOf(path)}'");
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
