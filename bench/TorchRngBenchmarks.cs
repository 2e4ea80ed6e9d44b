using BenchmarkDotNet.Attributes;
using Schedulers.Core;
using static TorchSharp.torch;

namespace Schedulers.Bench;

/// <summary>torch's CPU <c>randn</c> stream: the core's managed generator against TorchSharp's <c>torch.randn</c> with a
/// generator (the same numbers), and the managed CUDA (Philox) stream, on the benchmark shapes, one thread.</summary>
[MemoryDiagnoser]
public class TorchRngBenchmarks
{
    private TorchCpuGenerator _cpu = TorchCpu.manualSeed(0);
    private TorchCudaGenerator _cuda = TorchCuda.manualSeed(CudaDevices.H100Sxm, 0);
    private Generator? _generator;
    private long[] _shape = Array.Empty<long>();

    /// <summary>Elements: 4×3×8×8, 1×3×256×256 and 16×3×256×256.</summary>
    [ParamsSource(nameof(Sizes))]
    public int N { get; set; }

    /// <summary>The element counts of the benchmark shapes.</summary>
    public static IEnumerable<int> Sizes => KernelBenchmarks.Sizes;

    [GlobalSetup]
    public void Setup()
    {
        BenchShapes.UseThreads(1);
        set_num_threads(1);
        _generator = new Generator(0);
        _shape = new long[] { N };
    }

    [GlobalCleanup]
    public void Cleanup() => _generator?.Dispose();

    /// <summary>TorchSharp's <c>torch.randn(N, generator=g)</c>.</summary>
    [Benchmark(Baseline = true)]
    public void TorchSharpRandn() => randn(_shape, generator: _generator).Dispose();

    /// <summary><c>TorchCpu.randn</c>: the same stream in managed code.</summary>
    [Benchmark]
    public float[] ManagedCpuRandn() => TorchCpu.randn(N, _cpu).Item1;

    /// <summary><c>TorchCuda.randn</c>: the CUDA stream (Philox, torch's layout) on the host.</summary>
    [Benchmark]
    public float[] ManagedCudaRandn() => TorchCuda.randn(N, _cuda).Item1;
}
