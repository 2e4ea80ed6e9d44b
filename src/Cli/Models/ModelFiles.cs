using Schedulers.Core;
using Schedulers.Models;

namespace Schedulers.Cli.Models;

/// <summary>Opens the model files <c>schedulers sample --model</c> accepts, by extension.</summary>
public static class ModelFiles
{
    /// <summary>Loads <c>.pt</c>/<c>.pth</c> (TorchScript), <c>.onnx</c> (ONNX) or a score MLP of <c>schedulers
    /// train</c> (any file with a <c>&lt;file&gt;.json</c> score-MLP sidecar) and checks it on a probe batch of
    /// dimension <paramref name="dimension"/>: an output of another shape is reported now, not mid-run.</summary>
    public static IDenoiserModel Load(string path, int dimension)
    {
        var extension = System.IO.Path.GetExtension(path).ToLowerInvariant();
        IDenoiserModel model = TrainedScoreModel.IsTrainedModel(path) ? TrainedScoreModel.Load(path) : extension switch
        {
            ".pt" or ".pth" or ".torchscript" => LoadTorchScript(path),
            ".onnx" => OnnxModel.Load(path),
            _ => throw new ModelException($"model file '{path}' must be TorchScript (.pt, .pth), ONNX (.onnx) or a model of schedulers train with its sidecar '{Training.MlpArchitecture.SidecarOf(path)}'"),
        };
        try
        {
            if (model is TrainedScoreModel { Dimension: var trained } && trained != dimension)
                throw new ModelException($"model '{path}' was trained for points of dimension {trained} but the target has dimension {dimension}");
            model.Forward(NdArrayModule.zeros([2, dimension]), [1f, 1f]);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>A TorchScript module; a file that is not one may be the weights of <c>schedulers train</c> whose
    /// sidecar is gone, which the message then says.</summary>
    private static IDenoiserModel LoadTorchScript(string path)
    {
        try { return TorchScriptModel.Load(path); }
        catch (ModelException m) when (File.Exists(path))
        {
            throw new ModelException($"{m.Message}; nor is it a model of schedulers train, which needs its sidecar '{Training.MlpArchitecture.SidecarOf(path)}' (missing)", m);
        }
    }
}
