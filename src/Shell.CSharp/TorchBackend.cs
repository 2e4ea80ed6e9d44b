using Microsoft.FSharp.Core;
using Schedulers.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Schedulers;

/// <summary>
/// The core's backend (<see cref="IBackend{T, Noise}"/>) on TorchSharp tensors. Every operation runs on the device of
/// its inputs; per-step coefficients arrive as host scalars, so a step needs no device round trip beyond the norms and
/// quantiles it asks for. When every tensor of an operation is a contiguous float32 CPU tensor, the core's one driver
/// of fused passes (<see cref="Stages"/>) runs on the tensors' memory (<see cref="HostKernels"/>) with the same
/// roundings as the torch ops, and the fused stages (<c>Try…</c>) take one pass; anything else takes the op-by-op
/// path (the <c>Try…</c> members return ValueNone and the scheduler composes the stage from the elementary ones).
/// <see cref="Release"/> disposes a tensor at once, so loops and steps free their temporaries without waiting for
/// the garbage collector. The fused stages are explicit interface members: callers reach them through
/// <see cref="IBackend{T, Noise}"/> (or <c>Backend.combineThenAdd</c> and the like), and the class's own surface holds no
/// F# option types.
/// </summary>
public sealed class TorchBackend : IBackend<Tensor, NoiseSource>
{
    /// <summary>The single instance (the class holds no state).</summary>
    public static TorchBackend Instance { get; } = new();

    private TorchBackend() { }

    private static FSharpValueOption<T> Some<T>(T value) => FSharpValueOption<T>.NewValueSome(value);

    private static FSharpValueOption<T> None<T>() => FSharpValueOption<T>.ValueNone;

    private static ReadOnlyMemory<float> In(Tensor t) => HostKernels.Of(t);

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
        if (HostKernels.AllFit(terms))
        {
            var output = HostKernels.EmptyLike(first);
            var memory = HostKernels.Of(output);
            Stages.combine(HostKernels.Threads(memory), HostKernels.Batch(first), terms.Select(t => (t.Item1, In(t.Item2))).ToArray(), memory);
            return output;
        }
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

    private static Tensor PerBatch(float[] values, Tensor x, string parameter)
    {
        if (x.dim() == 0 || values.Length != x.shape[0])
            throw new ArgumentException($"a per-batch coefficient has {values.Length} values but the batch has {(x.dim() == 0 ? 0 : x.shape[0])}", parameter);
        var shape = new long[x.dim()];
        Array.Fill(shape, 1L);
        shape[0] = values.Length;
        return tensor(values, dtype: x.dtype, device: x.device).reshape(shape);
    }

    private static Tensor Term(Coef coef, Tensor x)
    {
        if (coef.IsScalar)
        {
            var c = coef.ScalarValue;
            return c == 1.0f ? x.alias() : x.mul(c);
        }
        using var factor = PerBatch(coef.BatchValues, x, nameof(coef));
        return x.mul(factor);
    }

    /// <inheritdoc />
    public Tensor Divide(Tensor tensor, Coef divisor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (HostKernels.Enabled && HostKernels.Fits(tensor))
        {
            var output = HostKernels.EmptyLike(tensor);
            var memory = HostKernels.Of(output);
            Stages.divide(HostKernels.Threads(memory), HostKernels.Batch(tensor), In(tensor), divisor, memory);
            return output;
        }
        if (divisor.IsScalar) return tensor.div(divisor.ScalarValue);
        using var d = PerBatch(divisor.BatchValues, tensor, nameof(divisor));
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
    public Tensor FirstChannels(Tensor tensor, int count)
    {
        if (tensor.dim() < 2 || tensor.shape[1] < count)
            throw new ArgumentException($"model_output has shape {TensorChecks.ShapeText(tensor)} but at least {count} channels on axis 1 are needed", "model_output");
        return tensor.narrow(1, 0, count).contiguous();
    }

    /// <inheritdoc />
    public Tensor LastChannels(Tensor tensor, int count)
    {
        if (tensor.dim() < 2 || tensor.shape[1] < count)
            throw new ArgumentException($"model_output has shape {TensorChecks.ShapeText(tensor)} but at least {count} channels on axis 1 are needed", "model_output");
        return tensor.narrow(1, tensor.shape[1] - count, count).contiguous();
    }

    /// <inheritdoc />
    public Tensor LearnedVarianceNoise(Tensor variance, FSharpValueOption<(float, float)> logBounds, Tensor z)
    {
        ArgumentNullException.ThrowIfNull(variance);
        ArgumentNullException.ThrowIfNull(z);
        using var scope = NewDisposeScope();
        if (logBounds.IsNone) return variance.sqrt().mul(z).MoveToOuterDisposeScope();
        var (minLog, maxLog) = logBounds.Value;
        var frac = variance.add(1.0f).div(2.0f);
        var logVariance = frac.mul(maxLog).add(frac.neg().add(1.0f).mul(minLog));
        return logVariance.mul(0.5f).exp().mul(z).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public Tensor Threshold(Tensor tensor, float ratio, float maxValue)
    {
        using var scope = NewDisposeScope();
        var shape = tensor.shape;
        var flat = tensor.reshape(shape[0], -1);
        using var q = torch.tensor(ratio, ScalarType.Float32, tensor.device);
        // torch.clamp(s, min=1, max=m): when m < 1 every threshold becomes m (diffusers' sample_max_value < 1 case).
        var s = flat.abs().quantile(q, 1).clamp(1.0f, maxValue).unsqueeze(1);
        return (flat.clamp(s.neg(), s) / s).reshape(shape).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public Tensor Clamp(Tensor tensor, float lo, float hi) => tensor.clamp(lo, hi);

    /// <inheritdoc />
    public void Release(Tensor tensor) => tensor?.Dispose();

    /// <inheritdoc />
    FSharpValueOption<(Tensor, Tensor)> IBackend<Tensor, NoiseSource>.TryCombineThenAdd((Coef, Tensor)[] terms, float scale, Tensor z)
    {
        ArgumentNullException.ThrowIfNull(terms);
        ArgumentNullException.ThrowIfNull(z);
        if (terms.Length != 2 || !terms[0].Item1.IsScalar || !terms[1].Item1.IsScalar) return None<(Tensor, Tensor)>();
        var (x0, x1) = (terms[0].Item2, terms[1].Item2);
        TensorChecks.SameShape("terms[0]", x0, "terms[1]", x1);
        TensorChecks.SameShape("terms[0]", x0, "z", z);
        if (!HostKernels.FitTogether(x0, x1, z)) return None<(Tensor, Tensor)>();
        var (mean, prev) = (HostKernels.EmptyLike(x0), HostKernels.EmptyLike(x0));
        var (meanMemory, prevMemory) = (HostKernels.Of(mean), HostKernels.Of(prev));
        Stages.combineThenAdd(HostKernels.Threads(meanMemory), terms[0].Item1.ScalarValue, In(x0), terms[1].Item1.ScalarValue, In(x1), scale, In(z),
            meanMemory, prevMemory);
        return Some((mean, prev));
    }

    /// <inheritdoc />
    /// <remarks>torch's generators draw the whole tensor at once, so the draw is never fused into the pass.</remarks>
    FSharpValueOption<(Tensor, Tensor)> IBackend<Tensor, NoiseSource>.TryCombineWithNoise((Coef, Tensor)[] terms, float scale, NoiseSource noise) =>
        None<(Tensor, Tensor)>();

    /// <inheritdoc />
    FSharpValueOption<Tensor> IBackend<Tensor, NoiseSource>.TryChurn(float sNoise, float scale, Tensor sample, Tensor z)
    {
        if (!HostKernels.FitTogether(sample, z)) return None<Tensor>();
        var output = HostKernels.EmptyLike(sample);
        var memory = HostKernels.Of(output);
        Stages.churn(HostKernels.Threads(memory), sNoise, scale, In(sample), In(z), memory);
        return Some(output);
    }

    /// <inheritdoc />
    /// <remarks>torch's generators draw the whole tensor at once, so the draw is never fused into the pass.</remarks>
    FSharpValueOption<Tensor> IBackend<Tensor, NoiseSource>.TryChurnWithNoise(float sNoise, float scale, Tensor sample, NoiseSource noise) => None<Tensor>();

    /// <inheritdoc />
    FSharpValueOption<(Tensor, Tensor, Tensor)> IBackend<Tensor, NoiseSource>.TryKarrasEuler(KarrasVeStepPlan plan, Tensor sampleHat, Tensor modelOutput)
    {
        if (!HostKernels.FitTogether(sampleHat, modelOutput)) return None<(Tensor, Tensor, Tensor)>();
        var (x0, d, prev) = (HostKernels.EmptyLike(sampleHat), HostKernels.EmptyLike(sampleHat), HostKernels.EmptyLike(sampleHat));
        var x0Memory = HostKernels.Of(x0);
        Stages.karrasEuler(HostKernels.Threads(x0Memory), plan, In(sampleHat), In(modelOutput), x0Memory, HostKernels.Of(d), HostKernels.Of(prev));
        return Some((x0, d, prev));
    }

    /// <inheritdoc />
    FSharpValueOption<(Tensor, Tensor)> IBackend<Tensor, NoiseSource>.TryKarrasHeun(KarrasVeStepPlan plan, Tensor sampleHat, Tensor samplePrev, Tensor modelOutput, Tensor derivative)
    {
        if (!HostKernels.FitTogether(sampleHat, samplePrev, modelOutput, derivative)) return None<(Tensor, Tensor)>();
        var (x0, prev) = (HostKernels.EmptyLike(sampleHat), HostKernels.EmptyLike(sampleHat));
        var x0Memory = HostKernels.Of(x0);
        Stages.karrasHeun(HostKernels.Threads(x0Memory), plan, In(sampleHat), In(samplePrev), In(modelOutput), In(derivative), x0Memory, HostKernels.Of(prev));
        return Some((x0, prev));
    }

    /// <inheritdoc />
    FSharpValueOption<Tensor> IBackend<Tensor, NoiseSource>.TryDpmUpdate(DpmUpdatePlan plan, Tensor sample, Tensor[] outputs, FSharpValueOption<Tensor> noise)
    {
        if (outputs.Length < plan.Order) return None<Tensor>();
        var needed = outputs.Take(plan.Order).ToList();
        if (noise.IsValueSome) needed.Add(noise.Value);
        if (!HostKernels.FitTogether(sample, needed.ToArray())) return None<Tensor>();
        var output = HostKernels.EmptyLike(sample);
        var z = noise.IsValueSome ? FSharpValueOption<ReadOnlyMemory<float>>.NewValueSome(In(noise.Value)) : FSharpValueOption<ReadOnlyMemory<float>>.ValueNone;
        var memory = HostKernels.Of(output);
        Stages.dpmUpdate(HostKernels.Threads(memory), plan, In(sample), outputs.Take(plan.Order).Select(In).ToArray(), z, memory);
        return Some(output);
    }

    /// <summary>An elementwise program in one pass over CPU memory when every input fits the fast path and its
    /// normals (if any) come from JAX keys (else ValueNone: <c>Backend.run</c> runs it op by op).</summary>
    FSharpValueOption<Tensor[]> IBackend<Tensor, NoiseSource>.TryRun(ElementwiseProgram program, Tensor[] inputs, NoiseSource[] noise)
    {
        ArgumentNullException.ThrowIfNull(program);
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(noise);
        if (inputs.Length != program.Inputs || inputs.Length == 0) return None<Tensor[]>();
        // Normals tile by tile only from JAX keys (counter-based); a torch stream is drawn whole, op by op.
        var keys = new (PrngKey Key, ThreefryMode Mode)[program.NoiseSlots];
        for (var k = 0; k < keys.Length; k++)
        {
            if (k >= noise.Length || noise[k] is not NoiseSource.FromKey key) return None<Tensor[]>();
            keys[k] = (key.Key, key.Mode);
        }
        var first = inputs[0];
        if (!HostKernels.FitTogether(first, inputs.Skip(1).ToArray())) return None<Tensor[]>();
        var results = new Tensor[program.Outputs.Length];
        var written = new List<Reg>();
        var buffers = new List<Tensor>();
        for (var j = 0; j < program.Outputs.Length; j++)
        {
            var r = program.Outputs[j];
            if (r.Index < program.Inputs)
            {
                results[j] = inputs[r.Index];
                continue;
            }
            var output = HostKernels.EmptyLike(first);
            results[j] = output;
            written.Add(r);
            buffers.Add(output);
        }
        var memories = buffers.Select(HostKernels.Of).ToArray();
        var threads = HostKernels.Threads(memories.Length > 0 ? memories[0] : HostKernels.Of(first));
        var subset = new ElementwiseProgram(program.Inputs, program.Body, written.ToArray());
        var fill = new FillNormals((slot, total, offset, dest, ahead) => NormalFill.into(keys[slot].Mode, keys[slot].Key, total, offset, dest, ahead));
        Stages.run(threads, HostKernels.Batch(first), subset, fill, inputs.Select(In).ToArray(), memories);
        return Some(results);
    }
}
