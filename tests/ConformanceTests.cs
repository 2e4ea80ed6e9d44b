using Schedulers.Conformance;

namespace Schedulers.Tests;

/// <summary>The conformance runner over the repository's copy of the golden files: every case that a built
/// scheduler handles must pass.</summary>
public class ConformanceTests
{
    public static TheoryData<string> GoldenFiles()
    {
        var data = new TheoryData<string>();
        foreach (var name in new[] { "jax_prng", "sde_ve_flax", "sde_ve_torch", "karras_ve_flax", "karras_ve_torch", "dpm_flax", "dpm_torch" })
            data.Add(name);
        return data;
    }

    [Theory]
    [MemberData(nameof(GoldenFiles))]
    public void Golden_file_has_no_failing_case(string name)
    {
        var result = ConformanceRunner.CreateDefault().CheckPath(TestData.Golden(name));
        var failures = result.Cases.Where(c => c.Status == CaseStatus.Failed)
            .Select(c => $"{c.Case}: {c.FirstMismatch?.ToString() ?? c.Reason}").ToList();
        Assert.True(failures.Count == 0, $"{name}: {failures.Count} failed\n" + string.Join("\n", failures.Take(10)));
        Assert.True(result.Cases.Count > 0, $"{name}: no cases found");
    }

    [Theory]
    [InlineData("real-configs", 8)]
    [InlineData("configs", 6)]
    public void Config_directories_pass_every_case(string folder, int cases)
    {
        var output = new StringWriter();
        var (passed, failed, skipped) = ConformanceRunner.CreateDefault().Run(new[] { Path.Combine(TestData.GoldenDir, folder) }, output);
        Assert.True(failed == 0 && skipped == 0, output.ToString());
        Assert.Equal(cases, passed);
    }

    [Fact]
    public void Jax_prng_passes_every_case_in_both_modes()
    {
        var result = ConformanceRunner.CreateDefault().CheckPath(TestData.Golden("jax_prng"));
        Assert.Equal(0, result.Failed);
        Assert.Equal(0, result.Skipped);
        Assert.Contains(result.Cases, c => c.Case.StartsWith("legacy/normal/"));
        Assert.Contains(result.Cases, c => c.Case.StartsWith("partitionable/normal/"));
        Assert.True(result.Passed >= 40, $"only {result.Passed} cases passed");
    }

    [Fact]
    public void Runner_prints_one_line_per_file_and_the_total_line()
    {
        var output = new StringWriter();
        var (passed, failed, _) = ConformanceRunner.CreateDefault().Run(new[] { TestData.Golden("jax_prng") }, output);
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal($"jax_prng: {passed} passed, 0 failed, 0 skipped", lines[0]);
        Assert.Equal($"conformance: {passed} passed, {failed} failed, 0 skipped", lines[^1]);
    }

    [Fact]
    public void A_corrupted_value_is_reported_with_case_field_index_expected_and_actual()
    {
        var dir = Directory.CreateTempSubdirectory();
        try
        {
            var text = new StreamReader(new System.IO.Compression.GZipStream(File.OpenRead(TestData.Golden("jax_prng")), System.IO.Compression.CompressionMode.Decompress)).ReadToEnd();
            // The first threefry known answer's output word 1797259609 becomes 1797259610.
            var corrupted = text.Replace("\"out\":[1797259609,", "\"out\":[1797259610,");
            Assert.NotEqual(text, corrupted);
            var path = Path.Combine(dir.FullName, "broken.json");
            File.WriteAllText(path, corrupted);
            var output = new StringWriter();
            var (_, failed, _) = ConformanceRunner.CreateDefault().Run(new[] { dir.FullName }, output);
            Assert.Equal(1, failed);
            Assert.Contains("FAIL threefry2x32[0]: field out, index 0: expected 1797259610, actual 1797259609", output.ToString());
        }
        finally
        {
            dir.Delete(true);
        }
    }

    [Fact]
    public void Copied_golden_files_match_shared_when_it_is_present()
    {
        // In a checkout with ../shared beside it, the copy under tests/data must be in sync (tools/sync-test-data.sh).
        var source = TestData.SourceDataDir();
        if (source is null) return;
        var shared = Path.GetFullPath(Path.Combine(source, "..", "..", "..", "shared", "golden"));
        if (!Directory.Exists(shared)) return;
        foreach (var file in Directory.GetFiles(shared, "*.json"))
        {
            var copy = Path.Combine(source, "golden", Path.GetFileName(file) + ".gz");
            Assert.True(File.Exists(copy), $"{copy} is missing; run tools/sync-test-data.sh");
            using var gz = new System.IO.Compression.GZipStream(File.OpenRead(copy), System.IO.Compression.CompressionMode.Decompress);
            using var ms = new MemoryStream();
            gz.CopyTo(ms);
            Assert.True(ms.ToArray().AsSpan().SequenceEqual(File.ReadAllBytes(file)), $"{copy} differs from {file}; run tools/sync-test-data.sh");
        }
    }
}
