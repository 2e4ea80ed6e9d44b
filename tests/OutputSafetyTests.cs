using Schedulers.Cli;

namespace Schedulers.Tests;

/// <summary>What the commands write: an <c>--out</c> that cannot be written is refused before any work; every file
/// is written whole; a run's files end with a manifest and never stand beside another run's; temporaries left by a
/// killed run are removed by the next; a run too large for memory is refused before it starts.</summary>
public sealed class OutputSafetyTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("schedulers-out").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private static (int Code, string Out, string Err) Run(string command, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = command switch
        {
            "sample" => SampleCommand.Invoke(args, output, error),
            "compare" => CompareCommand.Invoke(args, output, error),
            "merge" => MergeCommand.Invoke(args, output, error),
            "train" => TrainCommand.Invoke(args, output, error),
            _ => throw new ArgumentException(command),
        };
        return (code, output.ToString(), error.ToString());
    }

    private static void AssertOneLineUsageError(string command, (int Code, string Out, string Err) run, string contains)
    {
        Assert.True(run.Code == 2, run.Err);
        Assert.Equal("", run.Out);
        var line = run.Err.TrimEnd();
        Assert.DoesNotContain('\n', line);
        Assert.StartsWith($"{command}: --out ", line);
        Assert.Contains(contains, line);
    }

    [Theory]
    [InlineData("sample")]
    [InlineData("compare")]
    [InlineData("merge")]
    [InlineData("train")]
    public void An_out_that_is_a_file_or_under_a_file_is_refused_before_any_work(string command)
    {
        var file = Path.Combine(_dir, "a-file");
        File.WriteAllText(file, "x");
        string[] Args(string outPath) => command switch
        {
            "compare" => ["--schedulers", "dpm", "--nfe", "5", "--samples", "64", "--out", outPath],
            "merge" => [_dir, "--out", outPath],
            "train" => ["--steps", "100000", "--out", Path.Combine(outPath, "m.pt")],
            _ => ["--samples", "64", "--steps", "2", "--out", outPath],
        };
        // train's --out names a file: the file itself is then the path under a file, and a folder is refused.
        var asFile = command == "train" ? ["--steps", "100000", "--out", file + "/m.pt"] : Args(file);
        AssertOneLineUsageError(command, Run(command, asFile), command == "train" ? "which is a file" : "is a file, not a folder");
        AssertOneLineUsageError(command, Run(command, Args(Path.Combine(file, "sub"))), "which is a file");
        if (command == "train")
            AssertOneLineUsageError(command, Run(command, ["--steps", "100000", "--out", _dir]), "is a folder");
        Assert.Equal("x", File.ReadAllText(file));
    }

    [Fact]
    public void A_read_only_out_is_refused_before_any_work()
    {
        // root writes into read-only folders, so there is nothing to test then.
        if (Environment.IsPrivilegedProcess || OperatingSystem.IsWindows()) return;
        var locked = Path.Combine(_dir, "locked");
        Directory.CreateDirectory(locked);
        File.SetUnixFileMode(locked, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        try
        {
            AssertOneLineUsageError("sample", Run("sample", "--samples", "64", "--steps", "2", "--out", locked), "is not a writable folder");
            AssertOneLineUsageError("train", Run("train", "--steps", "100000", "--out", Path.Combine(locked, "m.pt")), "is not a writable folder");
        }
        finally
        {
            File.SetUnixFileMode(locked, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    [Fact]
    public void A_run_ends_with_a_manifest_of_its_files_and_a_new_run_first_removes_the_old_one()
    {
        var folder = Path.Combine(_dir, "run");
        Assert.Equal(0, Run("sample", "--samples", "64", "--steps", "2", "--seed", "1", "--out", folder).Code);
        Assert.Empty(RunFiles.Verify(folder, SampleOutputs.ManifestName));
        var first = File.ReadAllText(Path.Combine(folder, SampleOutputs.ManifestName));
        Assert.Contains("\"samples.png\"", first);

        // A run that starts writing removes the previous manifest, then the previous files: a reader never finds an
        // old picture beside new samples, and no manifest until the new run is whole.
        var run = RunFiles.Begin(folder, SampleOutputs.ManifestName, SampleOutputs.FileNames, "sample");
        Assert.Empty(Directory.GetFiles(folder));
        Assert.NotEmpty(RunFiles.Verify(folder, SampleOutputs.ManifestName));
        File.WriteAllText(run.PathOf("samples.csv"), "half a run");
        Assert.NotEmpty(RunFiles.Verify(folder, SampleOutputs.ManifestName));

        Assert.Equal(0, Run("sample", "--samples", "64", "--steps", "2", "--seed", "2", "--out", folder).Code);
        Assert.Empty(RunFiles.Verify(folder, SampleOutputs.ManifestName));
        Assert.NotEqual(first, File.ReadAllText(Path.Combine(folder, SampleOutputs.ManifestName)));
        // A file changed after the run no longer matches its manifest.
        File.WriteAllText(Path.Combine(folder, "samples.csv"), "edited");
        Assert.Contains(RunFiles.Verify(folder, SampleOutputs.ManifestName), p => p.Contains("samples.csv"));
    }

    [Fact]
    public void Compare_writes_its_files_then_a_manifest()
    {
        var folder = Path.Combine(_dir, "compare");
        var (code, _, err) = Run("compare", "--schedulers", "dpm", "--nfe", "5", "--samples", "64", "-q", "--out", folder);
        Assert.True(code == 0, err);
        Assert.Empty(RunFiles.Verify(folder, CompareCommand.ManifestName));
        string[] names = Directory.GetFiles(folder).Select(f => Path.GetFileName(f)).Order().ToArray();
        Assert.Equal(["compare.csv", "compare.manifest.json", "compare.md", "compare.png"], names);
    }

    [Fact]
    public void Temporaries_of_killed_runs_are_removed_and_others_are_left_alone()
    {
        var folder = Path.Combine(_dir, "stale");
        Directory.CreateDirectory(folder);
        string Temp(string name) => Path.Combine(folder, $"{name}.{Guid.NewGuid():N}.tmp");
        var orphans = new[] { Temp("samples.csv"), Temp("samples.png"), Temp("samples.part-1-of-4.csv") };
        foreach (var orphan in orphans) File.WriteAllText(orphan, "");
        var foreign = Temp("notes.txt");
        var notOurs = Path.Combine(folder, "samples.csv.backup.tmp");
        File.WriteAllText(foreign, "");
        File.WriteAllText(notOurs, "");
        // A write in progress (another shard sharing the folder) holds its temporary file locked.
        var live = Temp("samples.part-0-of-4.csv");
        using (new FileStream(live, FileMode.CreateNew, FileAccess.Write, FileShare.None))
        {
            Assert.Equal(0, Run("sample", "--samples", "64", "--steps", "2", "--shard", "2/4", "--out", folder).Code);
            Assert.True(File.Exists(live));
        }
        Assert.All(orphans, o => Assert.False(File.Exists(o), o));
        Assert.True(File.Exists(foreign));
        Assert.True(File.Exists(notOurs));
    }

    [Theory]
    [InlineData("--samples 50000000 --target gaussian64", "more than one array holds")]
    [InlineData("--samples 30000000 --target gaussian64 --shard 0/1", "")]
    public void A_run_too_large_for_memory_is_refused_before_it_starts(string args, string contains)
    {
        // 30 000 000 × 64 fits an array; it is refused only where the estimate exceeds the memory available.
        if (contains == "" && MemoryBudget.Estimate(30_000_000, 64) <= GC.GetGCMemoryInfo().TotalAvailableMemoryBytes) return;
        var (code, output, error) = Run("sample", [.. args.Split(' '), "--out", _dir]);
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.DoesNotContain('\n', error.TrimEnd());
        Assert.StartsWith("sample: --samples ", error);
        Assert.Contains(contains, error);
    }

    [Fact]
    public void The_memory_estimate_counts_every_live_copy()
    {
        Assert.Equal(1000L * 2 * 4 * MemoryBudget.LiveCopies + 1000 * MemoryBudget.BytesPerRow, MemoryBudget.Estimate(1000, 2));
        var e = Assert.Throws<UsageException>(() => MemoryBudget.Check(1_000_000, 64, "--samples", available: 100_000_000));
        Assert.StartsWith("--samples 1000000 × dimension 64 needs about", e.Message);
        MemoryBudget.Check(1_000, 2, "--samples", available: 100_000_000);
    }
}
