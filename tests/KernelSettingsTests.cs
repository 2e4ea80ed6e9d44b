using Schedulers.Core;

namespace Schedulers.Tests;

/// <summary>The kernels' settings read no environment themselves: <see cref="KernelSettings.Apply"/> takes the
/// variables from the caller's lookup (the tool passes the process environment).</summary>
public sealed class KernelSettingsTests
{
    [Fact]
    public void Apply_reads_the_thread_count_and_the_table_switch_from_the_lookup_and_ignores_bad_values()
    {
        var (threads, table) = (KernelSettings.MaxThreads, KernelSettings.UseNormalTable);
        try
        {
            KernelSettings.Apply(name => name switch { "SCHEDULERS_NUM_THREADS" => "3", "SCHEDULERS_NORMAL_TABLE" => "1", _ => null });
            Assert.Equal(3, KernelSettings.MaxThreads);
            Assert.True(KernelSettings.UseNormalTable);
            KernelSettings.Apply(name => name == "SCHEDULERS_NUM_THREADS" ? "0" : null);
            Assert.Equal(3, KernelSettings.MaxThreads);
            KernelSettings.Apply(name => name switch { "SCHEDULERS_NUM_THREADS" => "two", "SCHEDULERS_NORMAL_TABLE" => "0", _ => null });
            Assert.Equal(3, KernelSettings.MaxThreads);
            Assert.False(KernelSettings.UseNormalTable);
        }
        finally
        {
            KernelSettings.MaxThreads = threads;
            KernelSettings.UseNormalTable = table;
        }
    }

    [Fact]
    public void The_parallel_threshold_is_settable_within_bounds_and_never_changes_a_result()
    {
        var previous = KernelSettings.ParallelThreshold;
        Assert.Throws<ArgumentOutOfRangeException>(() => KernelSettings.ParallelThreshold = 100);
        Assert.Equal(previous, KernelSettings.ParallelThreshold);
        var b = new ProgramBuilder(2);
        var x0 = b.Div(0.7f, b.Lin(Microsoft.FSharp.Collections.ListModule.OfSeq(new[] { Tuple.Create(1.0f, b.Input(0)), Tuple.Create(-0.3f, b.Input(1)) })));
        var program = b.Build(Microsoft.FSharp.Collections.ListModule.OfSeq(new[] { x0 }));
        var inputs = new[] { NdArrayModule.normal([40_000], Prng.key(1)), NdArrayModule.normal([40_000], Prng.key(2)) };
        IBackend<NdArray, PrngKey> ops = NdArrayBackend.Default;
        var serial = Backend.run(ops, program, inputs)[0].ToArray();
        try
        {
            KernelSettings.ParallelThreshold = 1024;
            Assert.Equal(1024, KernelSettings.ParallelThreshold);
            Assert.Equal(serial, Backend.run(ops, program, inputs)[0].ToArray());
        }
        finally
        {
            KernelSettings.ParallelThreshold = previous;
        }
    }
}
