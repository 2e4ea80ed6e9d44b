using Microsoft.FSharp.Core;
using Schedulers.Core;
using static TorchSharp.torch;

namespace Schedulers;

/// <summary>
/// The DPM-Solver tensor operations (<see cref="IDpmTensorOps{T, Noise}"/>) on TorchSharp tensors: the common ones
/// from <see cref="TorchTensorOps"/>, plus the learned-variance channel slice and dynamic thresholding, all on the
/// input's device without a host round trip. Contiguous float32 CPU tensors get the whole update in one pass on their
/// memory (<see cref="IDpmFusedOps{T}"/>); other tensors the op-by-op update, with the same bits.
/// </summary>
public sealed class DpmTorchOps : IDpmTensorOps<Tensor, NoiseSource>, IDpmFusedOps<Tensor>
{
    private static readonly ITensorOps<Tensor, NoiseSource> Inner = TorchTensorOps.Instance;

    /// <summary>The single instance (the class holds no state).</summary>
    public static DpmTorchOps Instance { get; } = new();

    private DpmTorchOps() { }

    /// <inheritdoc />
    public int[] Shape(Tensor tensor) => Inner.Shape(tensor);

    /// <inheritdoc />
    public Tensor Combine((Coef, Tensor)[] terms) => Inner.Combine(terms);

    /// <inheritdoc />
    public Tensor Divide(Tensor tensor, Coef divisor) => Inner.Divide(tensor, divisor);

    /// <inheritdoc />
    public float[] BatchNorms(Tensor tensor) => Inner.BatchNorms(tensor);

    /// <inheritdoc />
    public float Norm(Tensor tensor) => Inner.Norm(tensor);

    /// <inheritdoc />
    public Tensor Normal(NoiseSource noise, Tensor like) => Inner.Normal(noise, like);

    /// <inheritdoc />
    public Tensor FirstChannels(Tensor tensor, int count)
    {
        if (tensor.dim() < 2 || tensor.shape[1] < count)
            throw new ArgumentException($"model_output has shape {TensorChecks.ShapeText(tensor)} but at least {count} channels on axis 1 are needed", "model_output");
        return tensor.narrow(1, 0, count).contiguous();
    }

    /// <inheritdoc />
    public Tensor Threshold(Tensor tensor, float ratio, float maxValue)
    {
        using var scope = NewDisposeScope();
        var shape = tensor.shape;
        var flat = tensor.reshape(shape[0], -1);
        using var q = TorchSharp.torch.tensor(ratio, ScalarType.Float32, tensor.device);
        // torch.clamp(s, min=1, max=m): when m < 1 every threshold becomes m (diffusers' sample_max_value < 1 case).
        var s = flat.abs().quantile(q, 1).clamp(1.0f, maxValue).unsqueeze(1);
        return (flat.clamp(s.neg(), s) / s).reshape(shape).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public Tensor ApplyUpdate(DpmUpdatePlan plan, Tensor sample, Tensor[] outputs, FSharpValueOption<Tensor> noise)
    {
        var z = noise.IsValueSome ? noise.Value : null;
        if (HostKernels.Enabled && HostKernels.Fits(sample) && outputs.Length >= plan.Order && (z is null || SameAndFits(sample, z)))
        {
            var fits = true;
            for (int k = 0; k < plan.Order && fits; k++) fits = SameAndFits(sample, outputs[k]);
            if (fits) return HostKernels.DpmUpdate(plan, sample, outputs, z);
        }
        return DpmSolverUpdate.applyGeneric(this, plan, sample, outputs, noise);
    }

    private static bool SameAndFits(Tensor reference, Tensor t) =>
        HostKernels.Fits(t) && TensorShapes.Equal(reference, t);
}
