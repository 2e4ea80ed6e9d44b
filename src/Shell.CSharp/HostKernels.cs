using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Schedulers.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Schedulers;

/// <summary>
/// The CPU fast path of <see cref="TorchBackend"/>: when every tensor of an operation is a dense, contiguous float32
/// CPU tensor that autograd does not track, the core's one driver of fused passes (<see cref="Stages"/>) runs on the
/// tensors' memory and writes into outputs from <c>torch.empty</c>. A step then costs its output allocations and one
/// pass instead of a TorchSharp call per multiply and per add, each with its own temporary. The kernels round every
/// product before it is added and use no fused multiply-add, as torch's CPU float32 <c>mul</c>/<c>add</c>/<c>div</c>
/// do, so the results are bit-identical to the op-by-op path (tests check it). Any other tensor (float64, another
/// device, non-contiguous, requiring grad, empty) is left to the op path.
/// </summary>
internal static class HostKernels
{
    /// <summary>The most elements a fast-path tensor may have: its bytes must fit one span.</summary>
    private const long MaxElements = int.MaxValue / sizeof(float);

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

    /// <summary>True when the fast path is enabled and every tensor fits it with <paramref name="reference"/>'s shape.</summary>
    public static bool FitTogether(Tensor reference, params Tensor[] others)
    {
        if (!Enabled || !Fits(reference)) return false;
        foreach (var t in others)
        {
            if (!Fits(t) || !TensorShapes.Equal(reference, t)) return false;
        }
        return true;
    }

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

    /// <summary>The threads a pass over <paramref name="output"/> may use: one below the core's parallel threshold (no
    /// native call then), else <c>torch.get_num_threads()</c>, which the core caps further by its own setting.</summary>
    public static int Threads(Memory<float> output) =>
        output.Length < KernelSettings.ParallelThreshold ? 1 : torch.get_num_threads();

    /// <summary>The tensor's elements as memory (it must <see cref="Fits"/> and stay alive while the memory is used).</summary>
    public static Memory<float> Of(Tensor t) => new NativeFloats(t).Memory;

    /// <summary>A new contiguous float32 CPU tensor with <paramref name="like"/>'s shape, uninitialised.</summary>
    public static Tensor EmptyLike(Tensor like) => empty(TensorShapes.Of(like), ScalarType.Float32, CPU);

    /// <summary>The batch size of <paramref name="t"/> (1 for a 0-d tensor), for per-batch coefficients.</summary>
    public static int Batch(Tensor t) => t.dim() == 0 ? 1 : checked((int)t.size(0));

    /// <summary>A tensor's native float32 storage seen as <see cref="Memory{T}"/>; the tensor owns the memory.</summary>
    private sealed unsafe class NativeFloats : MemoryManager<float>
    {
        private readonly float* _pointer;
        private readonly int _length;

        public NativeFloats(Tensor t)
        {
            var bytes = t.bytes;
            _pointer = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(bytes));
            _length = bytes.Length / sizeof(float);
        }

        public override Span<float> GetSpan() => new(_pointer, _length);

        public override MemoryHandle Pin(int elementIndex = 0) => new(_pointer + elementIndex);

        public override void Unpin() { }

        protected override void Dispose(bool disposing) { }
    }
}
