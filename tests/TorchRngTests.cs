using Schedulers.Core;
using TorchSharp;
using static Schedulers.Tests.DpmSolverTestKit;
using static TorchSharp.torch;

namespace Schedulers.Tests;

/// <summary>The core's managed torch CPU stream against TorchSharp's <c>torch.Generator</c> (the same libtorch code
/// diffusers runs): <c>rand</c> bit for bit, <c>randn</c> within the golden README's tolerance, the state advancing
/// identically across calls of mixed sizes; and a whole SDE DPM-Solver run drawn from each.</summary>
public class TorchRngTests
{
    private static readonly long[] Seeds = { 0, 1, 42, 1234, 2023, 65535, 4294967296L + 7, -1 };
    private static readonly int[] Sizes = { 1, 2, 15, 16, 17, 31, 100, 1000, 623, 624, 625, 5000, 3, 33, 1 };

    private static float[] Torch(Func<long[], Generator, Tensor> draw, int count, Generator g)
    {
        using var t = draw(new long[] { count }, g);
        return t.data<float>().ToArray();
    }

    private static double[] TorchDouble(Func<long[], Generator, Tensor> draw, int count, Generator g)
    {
        using var t = draw(new long[] { count }, g);
        return t.data<double>().ToArray();
    }

    private static Generator TorchGenerator(long seed) => new(unchecked((ulong)seed));

    private static void Within(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            var tol = 2e-6 + 1e-6 * Math.Abs(expected[i]);
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tol, $"{what}[{i}]: torch {expected[i]:R}, managed {actual[i]:R}");
        }
    }

    /// <summary>The Box–Muller block the loaded libtorch runs on this processor: the one that reproduces a large
    /// draw exactly (AVX2 on AVX2 machines; libm on AVX-512 ones, where ATen dispatches to its AVX512 kernels).</summary>
    internal static TorchCpuBoxMuller LoadedBoxMuller()
    {
        var expected = Torch((s, g) => randn(s, ScalarType.Float32, generator: g), 4096, TorchGenerator(5));
        foreach (var kind in new[] { TorchCpuBoxMuller.Avx2, TorchCpuBoxMuller.Libm })
        {
            if (TorchCpu.randnWith(kind, 4096, TorchCpu.manualSeed(5)).Item1.AsSpan().SequenceEqual(expected)) return kind;
        }
        throw new Xunit.Sdk.XunitException("neither Box–Muller block reproduces this libtorch's randn exactly");
    }

    [Fact]
    public void Rand_float32_is_bit_for_bit_over_seeds_and_call_sequences()
    {
        foreach (var seed in Seeds)
        {
            using var g = TorchGenerator(seed);
            var state = TorchCpu.manualSeed(unchecked((ulong)seed));
            foreach (var n in Sizes)
            {
                var expected = Torch((s, gen) => rand(s, ScalarType.Float32, generator: gen), n, g);
                var (actual, next) = TorchCpu.rand(n, state);
                state = next;
                Assert.Equal(expected, actual);
            }
        }
    }

    [Fact]
    public void Rand_float64_is_bit_for_bit_over_seeds_and_call_sequences()
    {
        foreach (var seed in Seeds)
        {
            using var g = TorchGenerator(seed);
            var state = TorchCpu.manualSeed(unchecked((ulong)seed));
            foreach (var n in Sizes)
            {
                var expected = TorchDouble((s, gen) => rand(s, ScalarType.Float64, generator: gen), n, g);
                var (actual, next) = TorchCpu.randDouble(n, state);
                state = next;
                Assert.Equal(expected, actual);
            }
        }
    }

    [Theory]
    [InlineData(TorchCpuBoxMuller.Avx2)]
    [InlineData(TorchCpuBoxMuller.Libm)]
    public void Randn_float32_matches_within_tolerance_and_the_state_advances_identically(TorchCpuBoxMuller kind)
    {
        foreach (var seed in Seeds)
        {
            using var g = TorchGenerator(seed);
            var state = TorchCpu.manualSeed(unchecked((ulong)seed));
            foreach (var n in Sizes)
            {
                var expected = Torch((s, gen) => randn(s, ScalarType.Float32, generator: gen), n, g);
                var (actual, next) = TorchCpu.randnWith(kind, n, state);
                state = next;
                Within(expected, actual, $"seed {seed} n {n}");
            }
            // Interleaved rand calls see the same engine position; the scalar path's cached normal is carried too.
            Assert.Equal(Torch((s, gen) => rand(s, ScalarType.Float32, generator: gen), 7, g), TorchCpu.rand(7, state).Item1);
        }
    }

    [Fact]
    public void Randn_on_the_loaded_block_is_bit_for_bit()
    {
        var kind = LoadedBoxMuller();
        using var g = TorchGenerator(77);
        var state = TorchCpu.manualSeed(77);
        foreach (var n in Sizes)
        {
            var expected = Torch((s, gen) => randn(s, ScalarType.Float32, generator: gen), n, g);
            var (actual, next) = TorchCpu.randnWith(kind, n, state);
            state = next;
            Assert.Equal(expected, actual);
        }
    }

    [Fact]
    public void Randn_float64_matches_within_tolerance_over_seeds_and_call_sequences()
    {
        foreach (var seed in Seeds)
        {
            using var g = TorchGenerator(seed);
            var state = TorchCpu.manualSeed(unchecked((ulong)seed));
            foreach (var n in Sizes)
            {
                var expected = TorchDouble((s, gen) => randn(s, ScalarType.Float64, generator: gen), n, g);
                var (actual, next) = TorchCpu.randnDouble(n, state);
                state = next;
                for (int i = 0; i < n; i++)
                    Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-12 * (1 + Math.Abs(expected[i])), $"seed {seed} n {n} [{i}]: {expected[i]:R} vs {actual[i]:R}");
            }
            Assert.Equal(TorchDouble((s, gen) => rand(s, ScalarType.Float64, generator: gen), 5, g), TorchCpu.randDouble(5, state).Item1);
        }
    }

    [Fact]
    public void A_shaped_draw_through_noise_equals_torch_randn_of_that_shape()
    {
        var shape = new long[] { 2, 4, 8, 8 };
        using var g = TorchGenerator(9);
        using var expected = randn(shape, ScalarType.Float32, generator: g);
        using var actual = Noise.Randn(NoiseSource.FromTorchCpuSeed(9, LoadedBoxMuller()), shape, CPU);
        Assert.Equal(shape, actual.shape);
        Assert.Equal(expected.data<float>().ToArray(), actual.data<float>().ToArray());
    }

    [Fact]
    public void An_sde_dpm_solver_run_from_the_managed_stream_equals_the_run_through_torchsharp()
    {
        var config = new Dictionary<string, object?> { ["algorithm_type"] = "sde-dpmsolver++", ["solver_order"] = 2 };
        var viaTorch = new DPMSolverMultistepScheduler(config);
        var viaManaged = new DPMSolverMultistepScheduler(config);
        viaTorch.SetTimesteps(12);
        viaManaged.SetTimesteps(12);
        using var generator = TorchGenerator(2024);
        var managed = NoiseSource.FromTorchCpuSeed(2024, LoadedBoxMuller());
        Tensor x = Deter(), y = Deter();
        foreach (var t in viaTorch.State.Timesteps)
        {
            x = viaTorch.Step(Model(x, t), t, x, generator).PrevSample;
            y = viaManaged.Step(Model(y, t), t, y, managed).PrevSample;
        }
        Assert.Equal(x.data<float>().ToArray(), y.data<float>().ToArray());
        // Both streams end at the same place.
        Assert.Equal(Torch((s, gen) => rand(s, ScalarType.Float32, generator: gen), 4, generator), ((NoiseSource.FromManaged)managed).Generator.Rand(4));
    }
}
