using Schedulers.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Schedulers.Tests;

/// <summary>
/// The shell's CPU fast path (span kernels on the tensors' memory) against the op-by-op torch path: bit for bit on
/// random shapes, values, coefficients and seeds, and the fallback to torch ops for tensors it does not take.
/// </summary>
public class HostKernelsTests
{
    private static readonly TorchBackend Ops = TorchBackend.Instance;

    /// <summary>Seeds of the random cases (each seed draws several shapes and combinations).</summary>
    public static TheoryData<int> Seeds() => new() { 1, 2, 3, 4, 5, 6, 7, 8 };

    /// <summary>Runs <paramref name="body"/> with the fast path switched off on this thread.</summary>
    internal static T OpByOp<T>(Func<T> body)
    {
        HostKernels.Enabled = false;
        try
        {
            return body();
        }
        finally
        {
            HostKernels.Enabled = true;
        }
    }

    /// <summary>The float32 bit patterns of a tensor, in element order.</summary>
    internal static int[] Bits(Tensor t)
    {
        Assert.Equal(ScalarType.Float32, t.dtype);
        using var host = t.to(CPU).contiguous();
        return host.data<float>().ToArray().Select(BitConverter.SingleToInt32Bits).ToArray();
    }

    /// <summary>A random shape of rank 1–4; every few draws one with more elements, so the vector loops and tails run.</summary>
    internal static long[] RandomShape(Random random)
    {
        if (random.Next(4) == 0) return new long[] { 1 + random.Next(4), 3, 8 + random.Next(9), 8 + random.Next(9) };
        var rank = 1 + random.Next(4);
        return Enumerable.Range(0, rank).Select(_ => (long)(1 + random.Next(9))).ToArray();
    }

    /// <summary>Random float32 values at several magnitudes, with exact zeros, −0 and a few subnormals mixed in.</summary>
    internal static Tensor RandomTensor(Random random, long[] shape)
    {
        var n = (int)shape.Aggregate(1L, (a, d) => a * d);
        var scale = new[] { 1e-3f, 1f, 37f, 1e4f }[random.Next(4)];
        var values = new float[n];
        for (int i = 0; i < n; i++)
        {
            values[i] = random.Next(40) switch
            {
                0 => 0f,
                1 => -0f,
                2 => BitConverter.Int32BitsToSingle(1 + random.Next(0x7FFFFF)),
                _ => (float)(random.NextDouble() * 2 - 1) * scale,
            };
        }
        return tensor(values, shape, ScalarType.Float32);
    }

    private static float RandomCoefficient(Random random) => random.Next(6) switch
    {
        0 => 1f,
        1 => -1f,
        2 => 0.5f,
        _ => (float)((random.NextDouble() * 2 - 1) * Math.Pow(10, random.Next(-3, 4))),
    };

    private static Coef RandomCoef(Random random, long batch) =>
        random.Next(3) == 0
            ? Coef.NewPerBatch(Enumerable.Range(0, (int)batch).Select(_ => RandomCoefficient(random)).ToArray())
            : Coef.NewScalar(RandomCoefficient(random));

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Combine_on_the_tensors_memory_equals_the_torch_ops_bit_for_bit(int seed)
    {
        var random = new Random(seed);
        for (int trial = 0; trial < 12; trial++)
        {
            using var scope = NewDisposeScope();
            var shape = RandomShape(random);
            var count = 1 + random.Next(7);
            var terms = Enumerable.Range(0, count).Select(_ => (RandomCoef(random, shape[0]), RandomTensor(random, shape))).ToArray();
            Assert.All(terms, t => Assert.True(HostKernels.Fits(t.Item2)));
            var fast = Ops.Combine(terms);
            var ops = OpByOp(() => Ops.Combine(terms));
            Assert.Equal(shape, fast.shape);
            Assert.Equal(Bits(ops), Bits(fast));
        }
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Divide_on_the_tensors_memory_equals_torch_div_bit_for_bit(int seed)
    {
        var random = new Random(seed);
        for (int trial = 0; trial < 12; trial++)
        {
            using var scope = NewDisposeScope();
            var shape = RandomShape(random);
            var x = RandomTensor(random, shape);
            var divisor = RandomCoef(random, shape[0]);
            Assert.Equal(Bits(OpByOp(() => Ops.Divide(x, divisor))), Bits(Ops.Divide(x, divisor)));
        }
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Fused_mean_and_prev_equal_the_torch_ops_and_draw_torch_randn(int seed)
    {
        var random = new Random(seed);
        for (int trial = 0; trial < 8; trial++)
        {
            using var scope = NewDisposeScope();
            var shape = RandomShape(random);
            var terms = new[] { (Coef.NewScalar(RandomCoefficient(random)), RandomTensor(random, shape)), (Coef.NewScalar(RandomCoefficient(random)), RandomTensor(random, shape)) };
            var scale = RandomCoefficient(random);
            var generatorSeed = random.Next();
            var (fastMean, fastPrev) = Backend.combineWithNoise<Tensor, NoiseSource>(Ops, terms, scale, NoiseSource.Of(new Generator((ulong)generatorSeed)));
            var (opsMean, opsPrev) = OpByOp(() => Backend.combineWithNoise<Tensor, NoiseSource>(Ops, terms, scale, NoiseSource.Of(new Generator((ulong)generatorSeed))));
            Assert.Equal(Bits(opsMean), Bits(fastMean));
            Assert.Equal(Bits(opsPrev), Bits(fastPrev));
            // The draw is torch.randn(shape, generator): prev − mean recovers scale·z as the op path computes it.
            var z = randn(shape, ScalarType.Float32, CPU, generator: new Generator((ulong)generatorSeed));
            Assert.Equal(Bits(OpByOp(() => Ops.Combine(new[] { (Coef.NewScalar(1f), opsMean), (Coef.NewScalar(scale), z) }))), Bits(fastPrev));
        }
    }

    [Fact]
    public void Large_tensors_split_across_threads_give_the_same_bits()
    {
        // 2·3·256·256 = 393 216 elements: above the core's parallel threshold, so the pass runs in chunks.
        using var scope = NewDisposeScope();
        var random = new Random(11);
        var shape = new long[] { 2, 3, 256, 256 };
        var terms = new[] { (Coef.NewScalar(1f), RandomTensor(random, shape)), (Coef.NewPerBatch(new[] { 0.25f, -3f }), RandomTensor(random, shape)), (Coef.NewScalar(0.125f), RandomTensor(random, shape)) };
        Assert.True(shape.Aggregate(1L, (a, d) => a * d) >= KernelSettings.ParallelThreshold);
        Assert.Equal(Bits(OpByOp(() => Ops.Combine(terms))), Bits(Ops.Combine(terms)));
        var (mean, prev) = Backend.combineThenAdd<Tensor, NoiseSource>(Ops, terms[..1].Append((Coef.NewScalar(0.75f), terms[2].Item2)).ToArray(), 1.5f, terms[1].Item2);
        var (opsMean, opsPrev) = OpByOp(() => Backend.combineThenAdd<Tensor, NoiseSource>(Ops, terms[..1].Append((Coef.NewScalar(0.75f), terms[2].Item2)).ToArray(), 1.5f, terms[1].Item2));
        Assert.Equal(Bits(opsMean), Bits(mean));
        Assert.Equal(Bits(opsPrev), Bits(prev));
        Assert.Equal(Bits(OpByOp(() => Ops.Divide(terms[0].Item2, Coef.NewScalar(3f)))), Bits(Ops.Divide(terms[0].Item2, Coef.NewScalar(3f))));
    }

    [Fact]
    public void Non_contiguous_inputs_take_the_op_path_with_the_same_numbers()
    {
        using var scope = NewDisposeScope();
        var random = new Random(5);
        var x = RandomTensor(random, new long[] { 2, 3, 5, 7 });
        var transposed = RandomTensor(random, new long[] { 2, 3, 7, 5 }).transpose(2, 3);
        Assert.False(HostKernels.Fits(transposed));
        var terms = new[] { (Coef.NewScalar(1f), x), (Coef.NewScalar(0.3f), transposed) };
        var contiguousTerms = new[] { (Coef.NewScalar(1f), x), (Coef.NewScalar(0.3f), transposed.contiguous()) };
        Assert.Equal(Bits(Ops.Combine(contiguousTerms)), Bits(Ops.Combine(terms)));
        var (mean, prev) = Backend.combineThenAdd<Tensor, NoiseSource>(Ops, terms, 0.7f, x);
        var (contiguousMean, contiguousPrev) = Backend.combineThenAdd<Tensor, NoiseSource>(Ops, contiguousTerms, 0.7f, x);
        Assert.Equal(Bits(contiguousMean), Bits(mean));
        Assert.Equal(Bits(contiguousPrev), Bits(prev));
        Assert.Equal(Bits(Ops.Divide(transposed.contiguous(), Coef.NewScalar(3f))), Bits(Ops.Divide(transposed, Coef.NewScalar(3f))));
    }

    [Fact]
    public void Contiguous_views_with_a_storage_offset_are_read_from_their_own_first_element()
    {
        using var scope = NewDisposeScope();
        var random = new Random(8);
        var whole = RandomTensor(random, new long[] { 5, 3, 4, 4 });
        var other = RandomTensor(random, new long[] { 5, 3, 4, 4 });
        var view = whole.narrow(0, 2, 2);
        var otherView = other.narrow(0, 1, 2);
        Assert.True(view.storage_offset() > 0);
        Assert.True(HostKernels.Fits(view));
        var terms = new[] { (Coef.NewScalar(1f), view), (Coef.NewPerBatch(new[] { 0.5f, -2f }), otherView) };
        var copies = new[] { (Coef.NewScalar(1f), view.clone()), (Coef.NewPerBatch(new[] { 0.5f, -2f }), otherView.clone()) };
        Assert.Equal(Bits(OpByOp(() => Ops.Combine(copies))), Bits(Ops.Combine(terms)));
        Assert.Equal(Bits(OpByOp(() => Ops.Divide(view.clone(), Coef.NewScalar(7f)))), Bits(Ops.Divide(view, Coef.NewScalar(7f))));
        var (mean, prev) = Backend.combineThenAdd<Tensor, NoiseSource>(Ops, new[] { (Coef.NewScalar(1f), view), (Coef.NewScalar(0.25f), otherView) }, 3f, view);
        var (opsMean, opsPrev) = OpByOp(() => Backend.combineThenAdd<Tensor, NoiseSource>(Ops, new[] { (Coef.NewScalar(1f), view.clone()), (Coef.NewScalar(0.25f), otherView.clone()) }, 3f, view.clone()));
        Assert.Equal(Bits(opsMean), Bits(mean));
        Assert.Equal(Bits(opsPrev), Bits(prev));
    }

    [Fact]
    public void Float64_grad_tracking_and_empty_tensors_take_the_op_path()
    {
        using var scope = NewDisposeScope();
        var x64 = randn(new long[] { 2, 3 }, ScalarType.Float64);
        var y64 = randn(new long[] { 2, 3 }, ScalarType.Float64);
        Assert.False(HostKernels.Fits(x64));
        var sum = Ops.Combine(new[] { (Coef.NewScalar(2f), x64), (Coef.NewScalar(0.5f), y64) });
        Assert.Equal(ScalarType.Float64, sum.dtype);
        Assert.Equal((x64 * 2.0 + y64 * 0.5).data<double>().ToArray(), sum.data<double>().ToArray());
        Assert.Equal(ScalarType.Float64, Ops.Divide(x64, Coef.NewScalar(4f)).dtype);

        var tracked = randn(new long[] { 2, 3 }).requires_grad_(true);
        Assert.False(HostKernels.Fits(tracked));
        var combined = Ops.Combine(new[] { (Coef.NewScalar(1f), tracked), (Coef.NewScalar(0.5f), randn(new long[] { 2, 3 })) });
        Assert.True(combined.requires_grad);
        combined.sum().backward();
        Assert.Equal(Enumerable.Repeat(1f, 6), tracked.grad!.data<float>().ToArray());

        var empty = zeros(new long[] { 0, 3 });
        Assert.False(HostKernels.Fits(empty));
        Assert.Equal(new long[] { 0, 3 }, Ops.Combine(new[] { (Coef.NewScalar(2f), empty), (Coef.NewScalar(1f), empty) }).shape);
    }

    [Fact]
    public void Fast_path_errors_name_the_mismatch()
    {
        using var scope = NewDisposeScope();
        var a = randn(new long[] { 2, 3 });
        var b = randn(new long[] { 2, 4 });
        var shape = Assert.Throws<ArgumentException>(() => Ops.Combine(new[] { (Coef.NewScalar(1f), a), (Coef.NewScalar(1f), b) }));
        Assert.Contains("[2,3]", shape.Message);
        Assert.Contains("[2,4]", shape.Message);
        var batch = Assert.Throws<ArgumentException>(() => Ops.Combine(new[] { (Coef.NewPerBatch(new[] { 1f, 2f, 3f }), a) }));
        Assert.Contains("3 values but the batch has 2", batch.Message);
        var divisor = Assert.Throws<ArgumentException>(() => Ops.Divide(a, Coef.NewPerBatch(new[] { 1f })));
        Assert.Contains("1 values but the batch has 2", divisor.Message);
    }

    [Fact]
    public void Shape_helpers_agree_with_torch_shape()
    {
        using var scope = NewDisposeScope();
        foreach (var shape in new[] { new long[] { 5 }, new long[] { 2, 3, 4, 5 }, Array.Empty<long>(), new long[] { 0, 2 } })
        {
            var t = zeros(shape);
            Assert.Equal(t.shape, TensorShapes.Of(t));
            Assert.Equal(t.shape.Select(d => (int)d), TensorShapes.OfInt(t));
            Assert.True(TensorShapes.Equal(t, zeros(shape)));
        }
        Assert.False(TensorShapes.Equal(zeros(2, 3), zeros(3, 2)));
        Assert.False(TensorShapes.Equal(zeros(6), zeros(2, 3)));
    }
}
