using System.IO.Compression;
using Schedulers.Conformance;

namespace Schedulers.Tests;

/// <summary>The KarrasVe golden checkers catch wrong values and skip what they do not understand.</summary>
public class KarrasVeConformanceTests
{
    private static string Text(string name)
    {
        using var gz = new GZipStream(File.OpenRead(TestData.Golden(name)), CompressionMode.Decompress);
        return new StreamReader(gz).ReadToEnd();
    }

    private static FileResult CheckEdited(string name, string from, string to)
    {
        var text = Text(name);
        var edited = text.Replace(from, to);
        Assert.NotEqual(text, edited);
        var dir = Directory.CreateTempSubdirectory();
        try
        {
            var path = Path.Combine(dir.FullName, name + ".json");
            File.WriteAllText(path, edited);
            return ConformanceRunner.CreateDefault().CheckPath(path);
        }
        finally
        {
            dir.Delete(true);
        }
    }

    [Fact]
    public void A_wrong_final_value_fails_that_run()
    {
        var result = CheckEdited("karras_ve_torch", "\"final\":{\"shape\":[4,3,8,8],\"dtype\":\"float32\",\"data\":[-1.0266937017440796,",
            "\"final\":{\"shape\":[4,3,8,8],\"dtype\":\"float32\",\"data\":[-1.0256937017440796,");
        var failed = Assert.Single(result.Cases, c => c.Status == CaseStatus.Failed);
        Assert.Equal("cases[0].runs[1] n=10", failed.Case);
        Assert.Equal("final", failed.FirstMismatch!.Field);
        Assert.Equal(2, result.Passed);
    }

    [Fact]
    public void Another_key_fails_every_flax_run_that_churns()
    {
        var result = CheckEdited("karras_ve_flax", "PRNGKey(1);", "PRNGKey(2);");
        // n = 2 visits σ = 10⁴ and 4·10⁻⁴, both outside [s_min, s_max]: γ = 0, so its noise never reaches the sample.
        Assert.Equal(new[] { "cases[0].runs[1] n=10", "cases[0].runs[2] n=50" },
            result.Cases.Where(c => c.Status == CaseStatus.Failed).Select(c => c.Case));
        Assert.Equal("cases[0].runs[0] n=2", Assert.Single(result.Cases, c => c.Status == CaseStatus.Passed).Case);
    }

    [Fact]
    public void An_unknown_run_field_skips_that_run()
    {
        var result = CheckEdited("karras_ve_flax", "\"num_inference_steps\":10,", "\"num_inference_steps\":10,\"eta\":0.5,");
        var skipped = Assert.Single(result.Cases, c => c.Status == CaseStatus.Skipped);
        Assert.Contains("'eta'", skipped.Reason);
        Assert.Equal(2, result.Passed);
    }

    [Fact]
    public void An_unknown_model_skips_every_run()
    {
        var result = CheckEdited("karras_ve_torch", "model(x, s) = -x*s/(s^2+1)", "model(x, s) = -x*s/(s^2+2)");
        Assert.Equal(3, result.Skipped);
        Assert.Equal(0, result.Passed + result.Failed);
    }
}
