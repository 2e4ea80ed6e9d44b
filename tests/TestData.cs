namespace Schedulers.Tests;

/// <summary>Paths of the test data copied into the repository (so a plain clone tests itself).</summary>
internal static class TestData
{
    /// <summary>The copied golden files (tests/data/golden, next to the test assembly).</summary>
    public static string GoldenDir => Path.Combine(AppContext.BaseDirectory, "data", "golden");

    /// <summary>One golden file by its base name, e.g. <c>jax_prng</c>.</summary>
    public static string Golden(string name) => Path.Combine(GoldenDir, name + ".json.gz");

    /// <summary>The repository's tests/data folder in the source tree, found by walking up from the assembly.</summary>
    public static string? SourceDataDir()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Schedulers.sln"))) return Path.Combine(dir.FullName, "tests", "data");
        }
        return null;
    }
}
