using Microsoft.FSharp.Core;
using Schedulers.Core;
using Schedulers.Evaluation;

namespace Schedulers.Models;

/// <summary>Turns a loaded network (<see cref="IDenoiserModel"/>) into the samplers' <see cref="SamplingModel"/>.</summary>
public static class DenoiserModels
{
    /// <summary>Evaluates the network one row at a time: a batched matrix product may round a row differently
    /// depending on how many rows it shares the call with (both TorchSharp and ONNX Runtime pick their kernels by
    /// batch size), and a sample must not depend on its batch.</summary>
    public static NdArray ForwardRows(IDenoiserModel model, NdArray x, float[] conditioning)
    {
        var (b, d) = ModelChecks.Inputs(model.Path, x, conditioning);
        var output = new float[b * d];
        for (int row = 0; row < b; row++)
        {
            var one = NdArrayModule.create([1, d], x.Span.Slice(row * d, d).ToArray());
            model.Forward(one, [conditioning[row]]).Span.CopyTo(output.AsSpan(row * d, d));
        }
        return NdArrayModule.create([b, d], output);
    }

    /// <summary>The sampling model of a loaded network whose output means <paramref name="output"/>, conditioned on
    /// <paramref name="input"/> (<see cref="ModelConversion.fromNetwork"/>), evaluated row by row
    /// (<see cref="ForwardRows"/>).</summary>
    public static SamplingModel ToSamplingModel(IDenoiserModel model, ModelOutputKind output, ModelInputKind input) =>
        ModelConversion.fromNetwork(FuncConvert.FromFunc<NdArray, float[], NdArray>((x, c) => ForwardRows(model, x, c)), output, input);
}
