using Schedulers.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Schedulers.Models;

/// <summary>A TorchScript module (<c>torch.jit.save</c>) with <c>forward(x: float32[B, D], c: float32[B]) →
/// float32[B, D]</c>, loaded with <c>torch.jit.load</c> on the CPU, in evaluation mode, run under no_grad.</summary>
public sealed class TorchScriptModel : IDenoiserModel
{
    private readonly jit.ScriptModule<Tensor, Tensor, Tensor> _module;
    // A script module's forward is not documented as re-entrant; the samplers' batches run in parallel.
    private readonly Lock _gate = new();

    /// <inheritdoc/>
    public string Path { get; }

    private TorchScriptModel(string path, jit.ScriptModule<Tensor, Tensor, Tensor> module)
    {
        Path = path;
        _module = module;
    }

    /// <summary>Loads a TorchScript file; throws <see cref="ModelException"/> when it is missing or not a TorchScript
    /// module.</summary>
    public static TorchScriptModel Load(string path)
    {
        if (!File.Exists(path)) throw new ModelException($"model file '{path}' does not exist");
        jit.ScriptModule<Tensor, Tensor, Tensor> module;
        try
        {
            module = jit.load<Tensor, Tensor, Tensor>(path, DeviceType.CPU);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new ModelException($"model file '{path}' is not a TorchScript module (torch.jit.load: {FirstLine(e.Message)})", e);
        }
        module.eval();
        return new TorchScriptModel(path, module);
    }

    /// <inheritdoc/>
    public NdArray Forward(NdArray x, float[] conditioning) =>
        TorchNetworkCall.Run(Path, _gate, x, conditioning, (xs, cs) =>
        {
            try
            {
                return _module.call(xs, cs);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                throw new ModelException($"model '{Path}' failed on x [{string.Join(",", xs.shape)}] and σ/t [{cs.shape[0]}] (expected forward(x: float32[B,D], sigma_or_t: float32[B]) -> float32[B,D]): {FirstLine(e.Message)}", e);
            }
        });

    private static string FirstLine(string message) => message.Split('\n')[0].Trim();

    /// <inheritdoc/>
    public void Dispose() => _module.Dispose();
}
