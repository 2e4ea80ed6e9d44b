using BenchmarkDotNet.Attributes;
using Schedulers.Core;

namespace Schedulers.Bench;

/// <summary>The core's primitives against the memory baseline: JAX-exact normal generation and the fused
/// linear combination versus a plain 3-read/2-write pass over the same arrays.</summary>
[MemoryDiagnoser]
public class KernelBenchmarks
{
    private float[] _x = Array.Empty<float>(), _y = Array.Empty<float>(), _z = Array.Empty<float>();
    private float[] _out1 = Array.Empty<float>(), _out2 = Array.Empty<float>();
    private NdArray _a = NdArrayModule.zeros(new[] { 1 }), _b = NdArrayModule.zeros(new[] { 1 });

    /// <summary>Elements: 4×3×8×8, 1×3×256×256 and 16×3×256×256.</summary>
    [Params(768, 196_608, 3_145_728)]
    public int N { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _x = Prng.normal(new[] { N }, Prng.key(1));
        _y = Prng.normal(new[] { N }, Prng.key(2));
        _z = Prng.normal(new[] { N }, Prng.key(3));
        _out1 = new float[N];
        _out2 = new float[N];
        _a = NdArrayModule.create(new[] { N }, _x);
        _b = NdArrayModule.create(new[] { N }, _y);
    }

    /// <summary>The memory baseline: read three arrays, write two.</summary>
    [Benchmark(Baseline = true)]
    public void Copy3Read2Write()
    {
        var x = _x; var y = _y; var z = _z; var o1 = _out1; var o2 = _out2;
        for (int i = 0; i < x.Length; i++)
        {
            o1[i] = x[i] + y[i];
            o2[i] = o1[i] + z[i];
        }
    }

    /// <summary>JAX-exact <c>normal</c> into an existing buffer.</summary>
    [Benchmark]
    public void NormalJax() => Prng.normalBlockInto(ThreefryMode.Partitionable, Prng.key(0), N, 0, _out1);

    /// <summary>The two-term fused combination producing a new array.</summary>
    [Benchmark]
    public NdArray Combine2() => NdArrayOps.CombineArrays(new[] { (Coef.NewScalar(1f), _a), (Coef.NewScalar(0.5f), _b) });
}
