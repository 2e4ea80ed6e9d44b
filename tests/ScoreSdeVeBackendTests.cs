using Schedulers.Conformance;
using Schedulers.Core;

namespace Schedulers.Tests;

/// <summary>The same ScoreSdeVe test body on every backend (the core on arrays, the shell on TorchSharp CPU tensors),
/// and the backends' numbers agreeing within the golden step tolerance.</summary>
public class ScoreSdeVeBackendTests
{
    public static TheoryData<IScoreSdeVeBackend> Backends() => new() { new CoreBackend(), new TorchCpuBackend() };

    private static readonly int[] Shape = { 2, 3, 4, 4 };

    private static float[] Sample(int seed) => Prng.normal(Shape, Prng.key(seed)).Select(v => v * 0.5f + 0.25f).ToArray();

    private static float[] Model(float[] x, float sigma) => x.Select(v => v * sigma / (sigma + 1f)).ToArray();

    /// <summary>The body every backend runs: a schedule, a corrector and a predictor step at three times, and a
    /// 4-step predictor–corrector loop; everything it computed, in order.</summary>
    private static List<float[]> Body(IScoreSdeVeBackend backend)
    {
        var results = new List<float[]>();
        var config = new ScoreSdeVeConfig(100, 0.15, 0.01, 50.0, 1e-5, 1);
        const int n = 10;
        backend.Schedule(config, n);
        var (timesteps, sigmas) = backend.Tables();
        results.Add(timesteps);
        results.Add(sigmas);
        var x = Sample(1);
        foreach (var i in new[] { 0, 4, 9 })
        {
            var key = Prng.foldIn((uint)i, Prng.key(7));
            var corrected = backend.StepCorrect(Model(x, sigmas[i]), x, Shape, key);
            var (prev, mean) = backend.StepPred(Model(corrected, sigmas[i]), timesteps[i], corrected, Shape, key);
            results.Add(corrected);
            results.Add(prev);
            results.Add(mean);
        }
        var (samples, final) = backend.Loop(config, 4, x, Shape, Prng.key(3));
        results.AddRange(samples);
        results.Add(final);
        return results;
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void Body_gives_finite_values_of_the_right_shapes_and_is_deterministic(IScoreSdeVeBackend backend)
    {
        var first = Body(backend);
        var second = Body(backend);
        int elements = Shape.Aggregate(1, (a, d) => a * d);
        Assert.Equal(10, first[0].Length);
        Assert.All(first.Skip(2), r => Assert.Equal(elements, r.Length));
        Assert.All(first, r => Assert.All(r, v => Assert.True(float.IsFinite(v))));
        Assert.Equal(first.Count, second.Count);
        for (int k = 0; k < first.Count; k++) Assert.Equal(first[k], second[k]);
    }

    [Fact]
    public void Core_and_torch_cpu_agree_within_the_step_tolerance()
    {
        var core = Body(new CoreBackend());
        var torch = Body(new TorchCpuBackend());
        Assert.Equal(core.Count, torch.Count);
        for (int k = 0; k < core.Count; k++)
        {
            var tolerance = k < 2 ? Tolerance.Schedule : Tolerance.Step;
            var expected = core[k].Select(v => (double)v).ToArray();
            var actual = torch[k].Select(v => (double)v).ToArray();
            int mismatch = tolerance.FirstMismatch(expected, actual);
            Assert.True(mismatch < 0, mismatch < 0 ? "" : $"result {k} (lengths {expected.Length}/{actual.Length}) differs at {mismatch}: core {expected.ElementAtOrDefault(mismatch)}, torch {actual.ElementAtOrDefault(mismatch)}");
        }
    }
}
