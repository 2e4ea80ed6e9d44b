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
}
