using System.Runtime.Intrinsics;
using BenchmarkDotNet.Attributes;
using Schedulers.Core;

namespace Schedulers.Bench;

/// <summary>The core's primitives against the memory baseline: JAX-exact normal generation (computed and table) and
/// the fused noise-free update versus a plain 3-read/2-write pass over the same arrays.</summary>
[MemoryDiagnoser]
public class KernelBenchmarks
{
    private float[] _x = Array.Empty<float>(), _y = Array.Empty<float>(), _z = Array.Empty<float>();
    private float[] _out1 = Array.Empty<float>(), _out2 = Array.Empty<float>();

    /// <summary>Elements: 4×3×8×8, 1×3×256×256 and 16×3×256×256.</summary>
    [ParamsSource(nameof(Sizes))]
    public int N { get; set; }

    /// <summary>The element counts of the benchmark shapes.</summary>
    public static IEnumerable<int> Sizes => BenchShapes.Names.Select(name => BenchShapes.Of(name).Aggregate(1, (a, d) => a * d));

    [GlobalSetup]
    public void Setup()
    {
        BenchShapes.UseThreads(1);
        _x = Prng.normal(new[] { N }, Prng.key(1));
        _y = Prng.normal(new[] { N }, Prng.key(2));
        _z = Prng.normal(new[] { N }, Prng.key(3));
        _out1 = new float[N];
        _out2 = new float[N];
    }

    /// <summary>The memory baseline: read three arrays, write two (vectorised).</summary>
    [Benchmark(Baseline = true)]
    public void Copy3Read2Write()
    {
        var a = _x; var b = _y; var c = _z; var o1 = _out1; var o2 = _out2;
        int i = 0;
        for (; i <= a.Length - 8; i += 8)
        {
            var s = Vector256.LoadUnsafe(ref a[0], (nuint)i) + Vector256.LoadUnsafe(ref b[0], (nuint)i);
            s.StoreUnsafe(ref o1[0], (nuint)i);
            (s + Vector256.LoadUnsafe(ref c[0], (nuint)i)).StoreUnsafe(ref o2[0], (nuint)i);
        }
        for (; i < a.Length; i++)
        {
            o1[i] = a[i] + b[i];
            o2[i] = o1[i] + c[i];
        }
    }

    /// <summary>The noise-free fused update: mean = x + c·y and prev = mean + g·z in one pass.</summary>
    [Benchmark]
    public void FusedUpdate() => FusedKernels.combineThenAdd(1f, _x, 0.25f, _y, 0.5f, _z, _out1, _out2);

    /// <summary>JAX-exact <c>normal</c> into an existing buffer (the default path).</summary>
    [Benchmark]
    public void NormalJax() => Prng.normalBlockInto(ThreefryMode.Partitionable, Prng.key(0), N, 0, _out1);

    /// <summary>JAX-exact <c>normal</c> through the exact 2^23-entry table.</summary>
    [Benchmark]
    public void NormalJaxTable()
    {
        KernelSettings.UseNormalTable = true;
        try { Prng.normalBlockInto(ThreefryMode.Partitionable, Prng.key(0), N, 0, _out1); }
        finally { KernelSettings.UseNormalTable = false; }
    }

    /// <summary>The JAX random bits alone (threefry2x32).</summary>
    [Benchmark]
    public void BitsJax() => Prng.bitsBlockInto(ThreefryMode.Partitionable, Prng.key(0), N, 0, System.Runtime.InteropServices.MemoryMarshal.Cast<float, uint>(_out1.AsSpan()));
}
