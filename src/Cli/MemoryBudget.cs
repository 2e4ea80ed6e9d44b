using System.Globalization;

namespace Schedulers.Cli;

/// <summary>The memory a run of N samples of dimension D needs, estimated before it starts, so that a run that cannot
/// fit stops at once with one line naming the option (exit code 2) rather than failing at the end with an overflow or
/// an out-of-memory error.</summary>
/// <remarks>A run keeps its samples as float32 (4 bytes a value) in <see cref="LiveCopies"/> copies at once: the
/// batches' output buffer, the sample array made from it, and the metrics' copy of it plus their float64 rows (8
/// bytes a value, counted as two copies); each row of the metrics also costs <see cref="BytesPerRow"/> bytes of
/// array overhead. The files are written as they are formatted, without another copy. The estimate
/// N · D · 4 · <see cref="LiveCopies"/> + N · <see cref="BytesPerRow"/> must not exceed what the garbage collector
/// reports as available (<see cref="GC.GetGCMemoryInfo()"/>'s <c>TotalAvailableMemoryBytes</c>: the machine's or the
/// container's memory limit), and N · D must fit one .NET array.</remarks>
public static class MemoryBudget
{
    /// <summary>Float32 copies of the samples a run holds at its peak.</summary>
    public const int LiveCopies = 5;

    /// <summary>The per-sample overhead of the metrics' row arrays, in bytes.</summary>
    public const int BytesPerRow = 32;

    /// <summary>The estimated peak bytes of a run of <paramref name="samples"/> samples of dimension
    /// <paramref name="dimension"/>.</summary>
    public static long Estimate(long samples, int dimension) =>
        samples * dimension * sizeof(float) * LiveCopies + samples * BytesPerRow;

    /// <summary>Throws <see cref="UsageException"/> naming <paramref name="option"/> when a run of
    /// <paramref name="samples"/> samples of dimension <paramref name="dimension"/> cannot fit: more values than an
    /// array holds, or an estimate above <paramref name="available"/> bytes (by default what the GC reports). The
    /// message ends with <paramref name="hint"/> (by default: lower the option or shard the run).</summary>
    public static void Check(long samples, int dimension, string option, string? hint = null, long? available = null)
    {
        hint ??= $"lower {option} or split the run with --shard i/n";
        long values = samples * dimension;
        if (values > Array.MaxLength)
            throw new UsageException($"{option} {samples} × dimension {dimension} is {values} values, more than one array holds ({Array.MaxLength}); {hint}");
        long need = Estimate(samples, dimension);
        long limit = available ?? GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        if (need > limit)
            throw new UsageException($"{option} {samples} × dimension {dimension} needs about {Size(need)} of memory but {Size(limit)} is available; {hint}");
    }

    private static string Size(long bytes) => bytes >= 1L << 30
        ? (bytes / (double)(1L << 30)).ToString("0.0", CultureInfo.InvariantCulture) + " GiB"
        : (bytes / (double)(1L << 20)).ToString("0.0", CultureInfo.InvariantCulture) + " MiB";
}
