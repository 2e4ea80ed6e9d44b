using Schedulers.Cli;

namespace Schedulers.Tests;

/// <summary><c>schedulers sample --shard i/n</c> and <c>schedulers merge</c>: the merged parts are the full run, bit
/// for bit; incomplete or mixed parts are refused.</summary>
public sealed class MergeCommandTests
{
    private static int Sample(params string[] args) => SampleCommand.Invoke(args, new StringWriter(), new StringWriter());

    [Fact]
    public void MergedShardsEqualTheFullRunAndGapsAreRefused()
    {
        var dir = Path.Combine(Path.GetTempPath(), "schedulers-merge-" + Guid.NewGuid().ToString("N"));
        try
        {
            string[] run = ["--scheduler", "karras", "--steps", "5", "--samples", "301", "--seed", "3", "--target", "grid"];
            Assert.Equal(0, Sample([.. run, "--out", Path.Combine(dir, "full")]));
            for (int i = 0; i < 3; i++)
                Assert.Equal(0, Sample([.. run, "--batch-size", "17", "--shard", $"{i}/3", "--out", Path.Combine(dir, "parts")]));
            Assert.Equal(3, Directory.GetFiles(Path.Combine(dir, "parts"), "samples.part-*-of-3.csv").Length);
            var output = new StringWriter();
            Assert.Equal(0, MergeCommand.Invoke([Path.Combine(dir, "parts"), "--out", Path.Combine(dir, "merged")], output, new StringWriter()));
            Assert.Contains("merged 3 parts (301 samples)", output.ToString());
            Assert.Equal(File.ReadAllBytes(Path.Combine(dir, "full", "samples.csv")), File.ReadAllBytes(Path.Combine(dir, "merged", "samples.csv")));
            Assert.Equal(File.ReadAllBytes(Path.Combine(dir, "full", "samples.npy")), File.ReadAllBytes(Path.Combine(dir, "merged", "samples.npy")));
            Assert.True(File.Exists(Path.Combine(dir, "merged", "samples.png")));

            // A part of another run (another seed) is refused, and so is a missing part.
            Assert.Equal(0, Sample(["--scheduler", "karras", "--steps", "5", "--samples", "301", "--seed", "4", "--target", "grid", "--shard", "1/3", "--out", Path.Combine(dir, "mixed")]));
            File.Copy(Path.Combine(dir, "parts", "samples.part-0-of-3.csv"), Path.Combine(dir, "mixed", "samples.part-0-of-3.csv"));
            var error = new StringWriter();
            Assert.Equal(1, MergeCommand.Invoke([Path.Combine(dir, "mixed")], new StringWriter(), error));
            Assert.Contains("another run", error.ToString());
            File.Delete(Path.Combine(dir, "parts", "samples.part-1-of-3.csv"));
            error = new StringWriter();
            Assert.Equal(1, MergeCommand.Invoke([Path.Combine(dir, "parts"), "--out", Path.Combine(dir, "merged")], new StringWriter(), error));
            Assert.Contains("samples 100…199 are missing", error.ToString());
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }
}
