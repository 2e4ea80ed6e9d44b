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

    /// <summary>The shape names, for <c>[ParamsSource]</c>: all three, or the comma-separated list in
    /// <c>SCHEDULERS_BENCH_SHAPES</c> (to keep a recorded run short).</summary>
    public static IEnumerable<string> Names =>
        Environment.GetEnvironmentVariable("SCHEDULERS_BENCH_SHAPES") is { Length: > 0 } list
            ? list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : new[] { "4x3x8x8", "1x3x256x256", "16x3x256x256" };

    /// <summary>The thread settings, for <c>[ParamsSource]</c>: 1 and 0 (every processor), or the comma-separated
    /// list in <c>SCHEDULERS_BENCH_THREADS</c>.</summary>
    public static IEnumerable<int> ThreadSettings =>
        Environment.GetEnvironmentVariable("SCHEDULERS_BENCH_THREADS") is { Length: > 0 } list
            ? list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(int.Parse)
            : new[] { 1, 0 };

    /// <summary>Applies a thread setting to the core kernels and to TorchSharp: 1, or 0 for every processor.</summary>
    public static void UseThreads(int threads)
    {
        var n = threads > 0 ? threads : Environment.ProcessorCount;
        KernelSettings.MaxThreads = n;
        torch.set_num_threads(n);
    }
}
