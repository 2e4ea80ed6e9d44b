using Microsoft.FSharp.Core;
using Schedulers.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Schedulers;

/// <summary>
/// The core's tensor operations (<see cref="ITensorOps{T, Noise}"/>) on TorchSharp tensors. Every operation runs on the
/// device of its inputs; per-step coefficients arrive as host scalars, so a step needs no device round trip
/// beyond the norms it asks for. When every tensor of a combination or division is a contiguous float32 CPU tensor,
/// the core's span kernels run on the tensors' memory (<see cref="HostKernels"/>) with the same roundings as the
/// torch ops; anything else takes the op-by-op path. KarrasVe's stages run in one pass each on such tensors
/// (<see cref="IKarrasFusedOps{T}"/>).
/// </summary>
public sealed class TorchTensorOps : IFusedTensorOps<Tensor, NoiseSource>, IKarrasFusedOps<Tensor>
{
    /// <summary>The single instance (the class holds no state).</summary>
    public static TorchTensorOps Instance { get; } = new();

    private TorchTensorOps() { }

    /// <inheritdoc />
    public int[] Shape(Tensor tensor) => TensorShapes.OfInt(tensor);

    /// <inheritdoc />
    public Tensor Combine((Coef, Tensor)[] terms)
    {
        ArgumentNullException.ThrowIfNull(terms);
        if (terms.Length == 0) throw new ArgumentException("a linear combination needs at least one term", nameof(terms));
        var first = terms[0].Item2;
        for (int k = 1; k < terms.Length; k++)
        {
            TensorChecks.SameShape("terms[0]", first, $"terms[{k}]", terms[k].Item2);
        }
        if (terms.Length == 1 && IsOne(terms[0].Item1)) return first.alias();
        if (HostKernels.AllFit(terms)) return HostKernels.Combine(terms);
        return CombineOps(terms);
    }

    /// <summary>The combination as torch ops, one multiply per coefficient other than 1 and one add per term.</summary>
    private static Tensor CombineOps((Coef, Tensor)[] terms)
    {
        var first = terms[0].Item2;
        // Each product is rounded before it is added, as diffusers' expressions (`sample + g2 * model_output`) are;
        // torch.add(x, y, alpha) would fuse the multiply-add and round differently.
        // A coefficient of 1 multiplies exactly, so its term enters the sum as the tensor itself (one op fewer).
        using var scope = NewDisposeScope();
        Tensor sum = terms.Length > 1 && IsOne(terms[0].Item1) ? first : Term(terms[0].Item1, first);
        for (int k = 1; k < terms.Length; k++)
        {
            var (coef, x) = terms[k];
            sum = sum.add(IsOne(coef) ? x : Term(coef, x));
        }
        return sum.MoveToOuterDisposeScope();
    }

    private static bool IsOne(Coef coef) => coef.IsScalar && coef.ScalarValue == 1.0f;

    private static Tensor Term(Coef coef, Tensor x)
    {
        if (coef.IsScalar)
        {
            var c = coef.ScalarValue;
            return c == 1.0f ? x.alias() : x.mul(c);
        }
        var values = coef.BatchValues;
        if (values.Length != x.shape[0])
            throw new ArgumentException($"a per-batch coefficient has {values.Length} values but the batch has {x.shape[0]}", nameof(coef));
        var shape = new long[x.dim()];
        Array.Fill(shape, 1L);
        shape[0] = values.Length;
        return x.mul(tensor(values, dtype: x.dtype, device: x.device).reshape(shape));
    }

    /// <inheritdoc />
    public Tensor Divide(Tensor tensor, Coef divisor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (HostKernels.Enabled && HostKernels.Fits(tensor)) return HostKernels.Divide(tensor, divisor);
        if (divisor.IsScalar) return tensor.div(divisor.ScalarValue);
        var values = divisor.BatchValues;
        if (values.Length != tensor.shape[0])
            throw new ArgumentException($"a per-batch divisor has {values.Length} values but the batch has {tensor.shape[0]}", nameof(divisor));
        var shape = new long[tensor.dim()];
        Array.Fill(shape, 1L);
        shape[0] = values.Length;
        using var d = torch.tensor(values, dtype: tensor.dtype, device: tensor.device).reshape(shape);
        return tensor.div(d);
    }

    /// <inheritdoc />
    public float[] BatchNorms(Tensor tensor)
    {
        using var scope = NewDisposeScope();
        return tensor.reshape(tensor.size(0), -1).norm(1).to(CPU).data<float>().ToArray();
    }

    /// <inheritdoc />
    public float Norm(Tensor tensor)
    {
        using var scope = NewDisposeScope();
        return tensor.norm().to(CPU).item<float>();
    }

    /// <inheritdoc />
    public Tensor Normal(NoiseSource noise, Tensor like) => Noise.Randn(noise, TensorShapes.Of(like), like.device);

    /// <inheritdoc />
    public (Tensor, Tensor) CombineThenAdd((Coef, Tensor)[] terms, float scale, Tensor z)
    {
        ArgumentNullException.ThrowIfNull(terms);
        ArgumentNullException.ThrowIfNull(z);
        if (terms.Length == 2 && terms[0].Item1.IsScalar && terms[1].Item1.IsScalar && HostKernels.AllFit(terms) && HostKernels.Fits(z))
        {
            var (x0, x1) = (terms[0].Item2, terms[1].Item2);
            TensorChecks.SameShape("terms[0]", x0, "terms[1]", x1);
            TensorChecks.SameShape("terms[0]", x0, "z", z);
            return HostKernels.CombineThenAdd(terms[0].Item1.ScalarValue, x0, terms[1].Item1.ScalarValue, x1, scale, z);
        }
        // mean + scale·z as a multiply and an add, keeping diffusers' rounding (torch.add with alpha would fuse them).
        var mean = Combine(terms);
        return (mean, Combine(new[] { (Coef.NewScalar(1f), mean), (Coef.NewScalar(scale), z) }));
    }

    /// <inheritdoc />
    public (Tensor, Tensor) CombineWithNoise((Coef, Tensor)[] terms, float scale, NoiseSource noise)
    {
        ArgumentNullException.ThrowIfNull(terms);
        if (terms.Length == 0) throw new ArgumentException("a linear combination needs at least one term", nameof(terms));
        using var z = Normal(noise, terms[0].Item2);
        return CombineThenAdd(terms, scale, z);
    }

    private static bool FitTogether(Tensor reference, params Tensor[] others)
    {
        if (!HostKernels.Enabled || !HostKernels.Fits(reference)) return false;
        foreach (var t in others)
        {
            if (!HostKernels.Fits(t) || !TensorShapes.Equal(reference, t)) return false;
        }
        return true;
    }

    /// <inheritdoc />
    public FSharpValueOption<Tensor> TryChurn(float sNoise, float scale, Tensor sample, Tensor z) =>
        FitTogether(sample, z)
            ? FSharpValueOption<Tensor>.NewValueSome(HostKernels.Churn(sNoise, scale, sample, z))
            : FSharpValueOption<Tensor>.ValueNone;

    /// <inheritdoc />
    public FSharpValueOption<(Tensor, Tensor, Tensor)> TryEuler(KarrasVeStepPlan plan, Tensor sampleHat, Tensor modelOutput) =>
        FitTogether(sampleHat, modelOutput)
            ? FSharpValueOption<(Tensor, Tensor, Tensor)>.NewValueSome(HostKernels.KarrasEuler(plan, sampleHat, modelOutput))
            : FSharpValueOption<(Tensor, Tensor, Tensor)>.ValueNone;

    /// <inheritdoc />
    public FSharpValueOption<(Tensor, Tensor)> TryHeun(KarrasVeStepPlan plan, Tensor sampleHat, Tensor samplePrev, Tensor modelOutput, Tensor derivative) =>
        FitTogether(sampleHat, samplePrev, modelOutput, derivative)
            ? FSharpValueOption<(Tensor, Tensor)>.NewValueSome(HostKernels.KarrasHeun(plan, sampleHat, samplePrev, modelOutput, derivative))
            : FSharpValueOption<(Tensor, Tensor)>.ValueNone;
}
