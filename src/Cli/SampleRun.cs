using Schedulers.Core;
using Schedulers.Evaluation;

namespace Schedulers.Cli;

/// <summary>Runs a sampler over a range of global sample indices in batches, the batches in parallel. Each
/// batch is one call of the core loop (<see cref="TargetSampling.run"/>) and sample g depends only on the seed and
/// g, so the result is the same bits for any batch size, thread count or shard split.</summary>
public static class SampleRun
{
    /// <summary>Samples <paramref name="start"/> … <paramref name="start"/> + <paramref name="count"/> − 1
    /// (shape [count, D]); <paramref name="advance"/> receives finished sample-steps (count × steps in all);
    /// <paramref name="model"/> replaces the target's exact model outputs when given.</summary>
    public static NdArray Run(TargetSampler sampler, GaussianMixture target, int steps, uint seed, int start, int count,
        int batchSize, Action<long>? advance = null, SamplingModel? model = null)
    {
        var outputs = model ?? TargetSampling.exactModel(target);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        var key = Prng.key(seed);
        int d = target.Dimension;
        var batches = Batches(start, count, batchSize, TargetSampling.alignment(sampler));
        var output = new float[count * d];
        var onStep = Microsoft.FSharp.Core.FuncConvert.FromAction<int>(n => advance?.Invoke(n));
        Parallel.For(0, batches.Count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, b =>
        {
            var (first, size) = batches[b];
            var part = TargetSampling.runWith(outputs, sampler, target, steps, key, first, size, onStep);
            part.Span.CopyTo(output.AsSpan((first - start) * d, size * d));
        });
        return NdArrayModule.create([count, d], output);
    }

    /// <summary>The batches (first global index, size) of a range: consecutive runs of <paramref name="batchSize"/>;
    /// for a sampler whose batches are groups of <paramref name="alignment"/> indices, the size is rounded up to a
    /// multiple of it and the cuts fall on its multiples, so no group is computed twice.</summary>
    public static IReadOnlyList<(int First, int Size)> Batches(int start, int count, int batchSize, int alignment)
    {
        var list = new List<(int, int)>();
        int end = start + count;
        if (alignment <= 1)
        {
            for (int p = start; p < end; p += batchSize) list.Add((p, Math.Min(batchSize, end - p)));
            return list;
        }
        int size = (batchSize + alignment - 1) / alignment * alignment;
        for (int p = start; p < end;)
        {
            int cut = Math.Min(end, (p / size + 1) * size);
            list.Add((p, cut - p));
            p = cut;
        }
        return list;
    }

    /// <summary>The rows [first, first + count) of shard <paramref name="index"/> of <paramref name="shards"/> over
    /// <paramref name="total"/> samples: shard i holds ⌊i·N/n⌋ … ⌊(i+1)·N/n⌋ − 1.</summary>
    public static (int First, int Count) ShardRange(int total, int index, int shards)
    {
        int first = (int)((long)index * total / shards);
        int end = (int)((long)(index + 1) * total / shards);
        return (first, end - first);
    }
}
