using System.Runtime.InteropServices;
using Schedulers.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Schedulers;

/// <summary>
/// The CPU fast path of <see cref="TorchTensorOps"/>: when every tensor of an operation is a dense, contiguous float32
/// CPU tensor that autograd does not track, the core's span kernels (<see cref="Kernels"/>, <see cref="FusedKernels"/>)
/// run directly on the tensors' memory and write into outputs from <c>torch.empty</c>. A step then costs its output
/// allocations and one pass instead of a TorchSharp call per multiply and per add, each with its own temporary.
/// The kernels round every product before it is added and use no fused multiply-add, as torch's CPU float32
/// <c>mul</c>/<c>add</c>/<c>div</c> do, so the results are bit-identical to the op-by-op path (tests check it).
/// Any other tensor (float64, another device, non-contiguous, requiring grad, empty) is left to the op path.
/// </summary>
internal static class HostKernels
{
    /// <summary>The most elements a fast-path tensor may have: its bytes must fit one span.</summary>
    private const long MaxElements = int.MaxValue / sizeof(float);

    /// <summary>Chunk granularity of a parallel pass, a multiple of every vector width (as the core's).</summary>
    private const int Align = 64;

    [ThreadStatic]
    private static bool _disabled;

    /// <summary>Whether the fast path is used on the calling thread; tests turn it off to compare with the op-by-op path.</summary>
    internal static bool Enabled
    {
        get => !_disabled;
        set => _disabled = !value;
    }

    /// <summary>True when the kernels can read and write <paramref name="t"/>'s memory as a float32 span in element order.</summary>
    public static bool Fits(Tensor t) =>
        t.dtype == ScalarType.Float32
        && t.device_type == DeviceType.CPU
        && !t.is_sparse
        && !t.requires_grad
        && !t.is_neg()
        && t.is_contiguous()
        && t.numel() is > 0 and <= MaxElements;

    /// <summary>True when the fast path is enabled and every term's tensor fits it.</summary>
    public static bool AllFit((Coef, Tensor)[] terms)
    {
        if (!Enabled) return false;
        foreach (var (_, x) in terms)
        {
            if (!Fits(x)) return false;
        }
        return true;
    }

    /// <summary>The tensor's elements (it must <see cref="Fits"/>).</summary>
    public static Span<float> Floats(Tensor t) => MemoryMarshal.Cast<byte, float>(t.bytes);

    /// <summary>A new contiguous float32 CPU tensor with <paramref name="like"/>'s shape, uninitialised.</summary>
    public static Tensor EmptyLike(Tensor like) => Empty(TensorShapes.Of(like));

    /// <summary>A new contiguous float32 CPU tensor of <paramref name="shape"/>, uninitialised.</summary>
    private static Tensor Empty(long[] shape) => empty(shape, ScalarType.Float32, CPU);

    /// <summary>
    /// Calls <paramref name="body"/>(start, length) over chunks covering [0, n): on the calling thread below the core's
    /// <see cref="KernelSettings.ParallelThreshold"/>, else one chunk per thread allowed by both
    /// <see cref="KernelSettings.MaxThreads"/> and <c>torch.get_num_threads()</c>. Elementwise passes give the same
    /// bits however they are split.
    /// </summary>
    public static void ForChunks(int n, Action<int, int> body)
    {
        if (n < KernelSettings.ParallelThreshold)
        {
            body(0, n);
            return;
        }
        var threads = Math.Min(Math.Min(KernelSettings.MaxThreads, Environment.ProcessorCount), torch.get_num_threads());
        if (threads <= 1)
        {
            body(0, n);
            return;
        }
        var per = ((n + threads - 1) / threads + Align - 1) / Align * Align;
        var chunks = (n + per - 1) / per;
        Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = threads }, c =>
        {
            var start = c * per;
            body(start, Math.Min(per, n - start));
        });
    }

    /// <summary>
    /// <c>Σ cₖ·xₖ</c> left to right into a new tensor (see <see cref="ITensorOps{T, Noise}.Combine"/>), every term
    /// fitting the fast path and of one shape; per-batch coefficients apply to consecutive slices of the first axis.
    /// </summary>
    public static Tensor Combine((Coef, Tensor)[] terms)
    {
        var first = terms[0].Item2;
        var n = checked((int)first.numel());
        var width = SegmentWidth(n, first, terms, "coefficient", "coef");
        var output = EmptyLike(first);
        ForChunks(n, (start, length) => CombineRange(terms, output, width, start, length));
        return output;
    }

    /// <summary>
    /// The elements per coefficient segment: n when every coefficient is a scalar, else the size of one batch slice
    /// (after checking each per-batch coefficient has one value per batch element).
    /// </summary>
    private static int SegmentWidth(int n, Tensor first, (Coef, Tensor)[] terms, string what, string parameter)
    {
        var allScalar = true;
        foreach (var (coef, _) in terms) allScalar &= coef.IsScalar;
        if (allScalar) return n;
        if (first.dim() == 0) throw new ArgumentException($"a per-batch {what} needs a batch axis but the tensor is 0-d", parameter);
        var batch = first.size(0);
        foreach (var (coef, _) in terms)
        {
            if (!coef.IsScalar && coef.BatchValues.Length != batch)
                throw new ArgumentException($"a per-batch {what} has {coef.BatchValues.Length} values but the batch has {batch}", parameter);
        }
        return checked((int)(n / batch));
    }

    /// <summary>The combination over elements [start, start + length), segment by segment.</summary>
    private static void CombineRange((Coef, Tensor)[] terms, Tensor output, int width, int start, int length)
    {
        Span<float> coefficients = terms.Length <= 16 ? stackalloc float[terms.Length] : new float[terms.Length];
        var destination = Floats(output);
        var stop = start + length;
        var position = start;
        while (position < stop)
        {
            var segment = position / width;
            var end = Math.Min(stop, (segment + 1) * width);
            for (int k = 0; k < terms.Length; k++) coefficients[k] = CoefModule.at(segment, terms[k].Item1);
            CombineSegment(coefficients, terms, destination, position, end - position);
            position = end;
        }
    }

    private static ReadOnlySpan<float> Slice((Coef, Tensor)[] terms, int k, int offset, int length) =>
        Floats(terms[k].Item2).Slice(offset, length);

    /// <summary>
    /// out[o..o+n) = the left-to-right combination with coefficients <paramref name="cs"/>: the first (up to) four
    /// terms in one pass, further terms folded into the running sum up to three at a time (1·s is exact, so this
    /// rounds as the left-to-right sum does); the same order as the core's <c>NdArrayOps</c>.
    /// </summary>
    private static void CombineSegment(ReadOnlySpan<float> cs, (Coef, Tensor)[] terms, Span<float> destination, int o, int n)
    {
        var output = destination.Slice(o, n);
        switch (cs.Length)
        {
            case 1:
                Kernels.scale(cs[0], Slice(terms, 0, o, n), output);
                return;
            case 2:
                Kernels.combine2(cs[0], Slice(terms, 0, o, n), cs[1], Slice(terms, 1, o, n), output);
                return;
            case 3:
                Kernels.combine3(cs[0], Slice(terms, 0, o, n), cs[1], Slice(terms, 1, o, n), cs[2], Slice(terms, 2, o, n), output);
                return;
        }
        Kernels.combine4(cs[0], Slice(terms, 0, o, n), cs[1], Slice(terms, 1, o, n), cs[2], Slice(terms, 2, o, n), cs[3], Slice(terms, 3, o, n), output);
        for (int k = 4; k < cs.Length; k += 3)
        {
            ReadOnlySpan<float> sum = output;
            switch (cs.Length - k)
            {
                case 1:
                    Kernels.combine2(1f, sum, cs[k], Slice(terms, k, o, n), output);
                    break;
                case 2:
                    Kernels.combine3(1f, sum, cs[k], Slice(terms, k, o, n), cs[k + 1], Slice(terms, k + 1, o, n), output);
                    break;
                default:
                    Kernels.combine4(1f, sum, cs[k], Slice(terms, k, o, n), cs[k + 1], Slice(terms, k + 1, o, n), cs[k + 2], Slice(terms, k + 2, o, n), output);
                    break;
            }
        }
    }

    /// <summary><c>x / d</c> (true division) into a new tensor, with a scalar or per-batch divisor.</summary>
    public static Tensor Divide(Tensor x, Coef divisor)
    {
        var n = checked((int)x.numel());
        var terms = new[] { (divisor, x) };
        var width = SegmentWidth(n, x, terms, "divisor", "divisor");
        var output = EmptyLike(x);
        ForChunks(n, (start, length) =>
        {
            var source = Floats(x);
            var destination = Floats(output);
            var stop = start + length;
            for (int position = start; position < stop;)
            {
                var segment = position / width;
                var end = Math.Min(stop, (segment + 1) * width);
                Kernels.divide(source.Slice(position, end - position), CoefModule.at(segment, divisor), destination.Slice(position, end - position));
                position = end;
            }
        });
        return output;
    }

    /// <summary>
    /// <c>mean = c0·x0 + c1·x1</c> and <c>prev = mean + g·z</c> in one pass (<see cref="FusedKernels.combineThenAdd"/>),
    /// all three inputs fitting the fast path and of one shape.
    /// </summary>
    public static (Tensor Mean, Tensor Prev) CombineThenAdd(float c0, Tensor x0, float c1, Tensor x1, float g, Tensor z)
    {
        var n = checked((int)x0.numel());
        var shape = TensorShapes.Of(x0);
        var mean = Empty(shape);
        var prev = Empty(shape);
        if (n < KernelSettings.ParallelThreshold)
        {
            FusedKernels.combineThenAdd(c0, Floats(x0), c1, Floats(x1), g, Floats(z), Floats(mean), Floats(prev));
        }
        else
        {
            ForChunks(n, (o, len) => FusedKernels.combineThenAdd(
                c0, Floats(x0).Slice(o, len), c1, Floats(x1).Slice(o, len), g, Floats(z).Slice(o, len),
                Floats(mean).Slice(o, len), Floats(prev).Slice(o, len)));
        }
        return (mean, prev);
    }

    /// <summary>
    /// A whole DPM-Solver update in one pass (<see cref="DpmKernels.update"/>): the sample, the converted outputs the
    /// plan's order needs (newest first) and the noise of the SDE variants, all fitting the fast path and of one shape.
    /// </summary>
    public static Tensor DpmUpdate(DpmUpdatePlan plan, Tensor sample, Tensor[] outputs, Tensor? noise)
    {
        var n = checked((int)sample.numel());
        var output = EmptyLike(sample);
        Tensor At(int k) => k < plan.Order ? outputs[k] : sample;
        void Run(int o, int len) => DpmKernels.update(
            plan, Floats(sample).Slice(o, len), Floats(At(0)).Slice(o, len), Floats(At(1)).Slice(o, len),
            Floats(At(2)).Slice(o, len), noise is not null, Floats(noise ?? sample).Slice(o, len), Floats(output).Slice(o, len));
        ForChunks(n, Run);
        return output;
    }

    /// <summary>KarrasVe's churn <c>x̂ = x + scale·(sNoise·z)</c> in one pass (<see cref="FusedKernels.scaledNoiseAdd"/>).</summary>
    public static Tensor Churn(float sNoise, float scale, Tensor sample, Tensor z)
    {
        var output = EmptyLike(sample);
        ForChunks(checked((int)sample.numel()), (o, len) => FusedKernels.scaledNoiseAdd(
            sNoise, scale, Floats(sample).Slice(o, len), Floats(z).Slice(o, len), Floats(output).Slice(o, len)));
        return output;
    }

    /// <summary>KarrasVe's Euler stage in one pass (<see cref="FusedKernels.karrasEuler"/>): (x0, d, prev).</summary>
    public static (Tensor, Tensor, Tensor) KarrasEuler(KarrasVeStepPlan plan, Tensor sampleHat, Tensor modelOutput)
    {
        var (x0, d, prev) = (EmptyLike(sampleHat), EmptyLike(sampleHat), EmptyLike(sampleHat));
        ForChunks(checked((int)sampleHat.numel()), (o, len) => FusedKernels.karrasEuler(
            plan.SigmaHat, plan.DivideByReciprocal, plan.Delta, Floats(sampleHat).Slice(o, len), Floats(modelOutput).Slice(o, len),
            Floats(x0).Slice(o, len), Floats(d).Slice(o, len), Floats(prev).Slice(o, len)));
        return (x0, d, prev);
    }

    /// <summary>KarrasVe's Heun correction in one pass (<see cref="FusedKernels.karrasHeun"/>): (x0, prev).</summary>
    public static (Tensor, Tensor) KarrasHeun(KarrasVeStepPlan plan, Tensor sampleHat, Tensor samplePrev, Tensor modelOutput, Tensor derivative)
    {
        var (x0, prev) = (EmptyLike(sampleHat), EmptyLike(sampleHat));
        ForChunks(checked((int)sampleHat.numel()), (o, len) => FusedKernels.karrasHeun(
            plan.SigmaPrev, plan.DivideByReciprocal, plan.Delta, Floats(sampleHat).Slice(o, len), Floats(samplePrev).Slice(o, len),
            Floats(modelOutput).Slice(o, len), Floats(derivative).Slice(o, len), Floats(x0).Slice(o, len), Floats(prev).Slice(o, len)));
        return (x0, prev);
    }
}
