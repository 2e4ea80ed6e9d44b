using static TorchSharp.torch;

namespace Schedulers;

/// <summary>
/// Shape queries one axis at a time. TorchSharp's <c>Tensor.shape</c> marshals the sizes through a managed callback
/// and costs about as much as a small elementwise op; <c>dim()</c> and <c>size(i)</c> are single native calls, which
/// matters on small tensors where a step asks for shapes several times.
/// </summary>
internal static class TensorShapes
{
    /// <summary>The sizes of <paramref name="t"/>, outermost first (what <c>t.shape</c> returns).</summary>
    public static long[] Of(Tensor t)
    {
        var rank = checked((int)t.dim());
        var shape = new long[rank];
        for (int i = 0; i < rank; i++) shape[i] = t.size(i);
        return shape;
    }

    /// <summary>The sizes as <see cref="int"/>s (the core's shape type).</summary>
    public static int[] OfInt(Tensor t)
    {
        var rank = checked((int)t.dim());
        var shape = new int[rank];
        for (int i = 0; i < rank; i++) shape[i] = checked((int)t.size(i));
        return shape;
    }

    /// <summary>True when the two tensors have the same sizes on every axis.</summary>
    public static bool Equal(Tensor a, Tensor b)
    {
        var rank = a.dim();
        if (rank != b.dim()) return false;
        for (int i = 0; i < rank; i++)
        {
            if (a.size(i) != b.size(i)) return false;
        }
        return true;
    }
}
