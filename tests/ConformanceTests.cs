using Schedulers.Core;
using Schedulers.Conformance;

namespace Schedulers.Tests;

/// <summary>The conformance runner over the repository's copy of the golden files: every case that a built
/// scheduler handles must pass.</summary>
public class ConformanceTests
{
    /// <summary>The classes the reference data covers that this version does not build yet: their cases, and only
    /// theirs, are skipped. Building one removes it here and turns its skips into passes.</summary>
    private static readonly string[] NotBuilt = System.Array.Empty<string>();

    /// <summary>The class a skipped case waits for (the skip reason's subject without its framework), or null.</summary>
    private static string? WaitsFor(CaseResult c) =>
        Pending.SubjectOf(c.Reason) is { } subject ? subject.Split(" (")[0] : null;

    public static TheoryData<string> GoldenFiles()
    {
        var data = new TheoryData<string>();
        foreach (var name in new[] { "jax_prng", "sde_ve_flax", "sde_ve_torch", "karras_ve_flax", "karras_ve_torch", "dpm_flax", "dpm_torch", "ddim_torch", "ddpm_torch", "pndm_torch", "lms_torch", "euler_torch", "torch_rng" })
            data.Add(name);
        return data;
    }

    [Theory]
    [MemberData(nameof(GoldenFiles))]
    public void Golden_file_of_a_built_scheduler_passes_every_case(string name)
    {
        var result = ConformanceRunner.CreateDefault().CheckPath(TestData.Golden(name));
        var failures = result.Cases.Where(c => c.Status != CaseStatus.Passed)
            .Select(c => $"{c.Status} {c.Case}: {c.FirstMismatch?.ToString() ?? c.Reason}").ToList();
        Assert.True(failures.Count == 0, $"{name}: {failures.Count} not passed\n" + string.Join("\n", failures.Take(10)));
        Assert.True(result.Cases.Count > 0, $"{name}: no cases found");
    }

    [Fact]
    public void The_whole_reference_set_fails_nothing_and_skips_exactly_the_classes_not_built()
    {
        var runner = ConformanceRunner.CreateDefault();
        var results = ConformanceRunner.Expand(TestData.GoldenDir).Select(runner.CheckPath).SelectMany(f => f.Cases).ToList();
        Assert.Empty(results.Where(c => c.Status == CaseStatus.Failed).Select(c => $"{c.Case}: {c.FirstMismatch?.ToString() ?? c.Reason}"));
        var skipped = results.Where(c => c.Status == CaseStatus.Skipped).ToList();
        Assert.Empty(skipped.Where(c => WaitsFor(c) is null).Select(c => $"{c.Case}: {c.Reason}"));
        Assert.Equal(NotBuilt.Order(StringComparer.Ordinal), skipped.Select(c => WaitsFor(c)!).Distinct().Order(StringComparer.Ordinal));
        Assert.True(results.Count(c => c.Status == CaseStatus.Passed) >= 437);
        Assert.Empty(skipped);
    }

    [Theory]
    [InlineData("real-configs", 48)]
    [InlineData("configs", 16)]
    public void Config_directories_pass_every_case_of_a_built_class(string folder, int cases)
    {
        var output = new StringWriter();
        var runner = ConformanceRunner.CreateDefault();
        var results = ConformanceRunner.Expand(Path.Combine(TestData.GoldenDir, folder)).Select(runner.CheckPath).SelectMany(f => f.Cases).ToList();
        Assert.Equal(0, results.Count(c => c.Status == CaseStatus.Failed));
        Assert.Equal(cases, results.Count(c => c.Status == CaseStatus.Passed));
        // Every other case is one of a class not built: each such class once per config file.
        var skipped = results.Where(c => c.Status == CaseStatus.Skipped).Select(WaitsFor).ToList();
        Assert.DoesNotContain(null, skipped);
        var perClass = skipped.GroupBy(c => c!).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(NotBuilt.Where(c => c.EndsWith("Scheduler", StringComparison.Ordinal)).Order(StringComparer.Ordinal), perClass.Keys.Order(StringComparer.Ordinal));
        // Each class not built is skipped the same number of times (once per config file); with every class built, none is.
        Assert.True(perClass.Values.Distinct().Count() <= 1);
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
    public void A_prng_file_without_the_threefry_answers_has_its_other_cases_checked_not_skipped()
    {
        var dir = Directory.CreateTempSubdirectory();
        try
        {
            var text = new StreamReader(new System.IO.Compression.GZipStream(File.OpenRead(TestData.Golden("jax_prng")), System.IO.Compression.CompressionMode.Decompress)).ReadToEnd();
            var root = (JsonValue.Object)Schedulers.Core.Json.parse(text);
            var without = JsonValue.NewObject(root.Item.Where(m => m.Item1 != "threefry2x32").ToArray());
            var path = Path.Combine(dir.FullName, "prng_without_threefry.json");
            File.WriteAllText(path, Schedulers.Core.Json.writeIndented(without));
            var full = ConformanceRunner.CreateDefault().CheckPath(TestData.Golden("jax_prng"));
            var result = ConformanceRunner.CreateDefault().CheckPath(path);
            Assert.Equal(0, result.Failed);
            Assert.Equal(0, result.Skipped);
            Assert.Equal(full.Passed - full.Cases.Count(c => c.Case.StartsWith("threefry2x32", StringComparison.Ordinal)), result.Passed);
            Assert.True(result.Passed >= 40);
        }
        finally
        {
            dir.Delete(true);
        }
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
