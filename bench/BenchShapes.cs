using Schedulers.Core;
using TorchSharp;

namespace Schedulers.Bench;

/// <summary>The benchmark shapes and the thread setting shared by every benchmark class.</summary>
public static class BenchShapes
{
    /// <summary>4×3×8×8, 1×3×256×256 and 16×3×256×256 by name.</summary>
    public static int[] Of(string name) => name switch
    {
        "4x3x8x8" => new[] { 4, 3, 8, 8 },
        "1x3x256x256" => new[] { 1, 3, 256, 256 },
        "16x3x256x256" => new[] { 16, 3, 256, 256 },
        _ => throw new ArgumentException($"shape is '{name}' but must be 4x3x8x8, 1x3x256x256 or 16x3x256x256", nameof(name)),
    };

    /// <summary>The shape names, for <c>[ParamsSource]</c>.</summary>
    public static IEnumerable<string> Names => new[] { "4x3x8x8", "1x3x256x256", "16x3x256x256" };

    /// <summary>Applies a thread setting to the core kernels and to TorchSharp: 1, or 0 for every processor.</summary>
    public static void UseThreads(int threads)
    {
        var n = threads > 0 ? threads : Environment.ProcessorCount;
        KernelSettings.MaxThreads = n;
        torch.set_num_threads(n);
    }
}
