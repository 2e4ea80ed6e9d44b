using Schedulers.Core;
using static TorchSharp.torch;

namespace Schedulers.Models;

/// <summary>One evaluation of a TorchSharp network as the samplers call it: x [B, D] and one conditioning value per
/// row in, the checked output [B, D] out, under no_grad, with every temporary tensor freed.</summary>
public static class TorchNetworkCall
{
    /// <summary>Checks the inputs (<see cref="ModelChecks.Inputs"/>), runs <paramref name="forward"/> on float32 CPU
    /// tensors of x and the conditioning while holding <paramref name="gate"/> (TorchSharp modules are not documented
    /// as re-entrant), and checks the output (<see cref="ModelChecks.Output"/>). <paramref name="path"/> names the
    /// model in error messages.</summary>
    public static NdArray Run(string path, Lock gate, NdArray x, float[] conditioning, Func<Tensor, Tensor, Tensor> forward)
    {
        ArgumentNullException.ThrowIfNull(forward);
        var (b, d) = ModelChecks.Inputs(path, x, conditioning);
        float[] data;
        long[] shape;
        lock (gate)
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var y = forward(tensor(x.Span.ToArray(), [b, d], ScalarType.Float32), tensor(conditioning, [b], ScalarType.Float32));
            shape = y.shape;
            data = y.to_type(ScalarType.Float32).contiguous().data<float>().ToArray();
        }
        return ModelChecks.Output(path, b, d, shape, data, conditioning);
    }
}
