using TorchSharp;
using static TorchSharp.torch;

namespace Schedulers;

/// <summary>Argument checks shared by the scheduler classes; each message names the argument, its value and what was expected.</summary>
internal static class TensorChecks
{
    /// <summary>The shape as <c>[4,3,8,8]</c>.</summary>
    public static string ShapeText(Tensor t) => "[" + string.Join(",", t.shape) + "]";

    /// <summary>Throws unless <paramref name="a"/> and <paramref name="b"/> have equal shapes.</summary>
    public static void SameShape(string nameA, Tensor a, string nameB, Tensor b)
    {
        ArgumentNullException.ThrowIfNull(a, nameA);
        ArgumentNullException.ThrowIfNull(b, nameB);
        if (!TensorShapes.Equal(a, b))
            throw new ArgumentException($"{nameA} has shape {ShapeText(a)} but {nameB} has {ShapeText(b)}", nameB);
    }

    /// <summary>Throws unless the tensor is float32.</summary>
    public static void Float32(string name, Tensor t)
    {
        ArgumentNullException.ThrowIfNull(t, name);
        if (t.dtype != ScalarType.Float32)
            throw new ArgumentException($"{name} has dtype {t.dtype} but float32 is expected", name);
    }
}
