using Schedulers.Core;
using static Schedulers.Tests.DpmSolverTestKit;

namespace Schedulers.Tests;

/// <summary>The Flax flavour against the spec's cross-check values (§4.8) and the torch flavour.</summary>
public class DpmSolverFlaxTests
{
    private static double FlaxMeanAbs(bool lowerOrderFinal, int order = 2)
    {
        var config = DpmSolverConfig.Schema.SetValues(new Dictionary<string, object?>
        {
            ["lower_order_final"] = lowerOrderFinal, ["solver_order"] = order,
        }, DpmSolverConfig.Schema.Defaults);
        var state = DpmSolverMultistepFlax.createState(config);
        var sample = NdArrayModule.create(new[] { 4, 3, 8, 8 }, Deter().data<float>().ToArray());
        var steps = new List<int>();
        var (final, _) = MultistepSampling.runFlax(
            Microsoft.FSharp.Core.FuncConvert.FromFunc<NdArray, int, NdArray>((x, t) => NdArrayModule.create(x.Shape, x.ToArray().Select(v => v * t / (float)(t + 1)).ToArray())),
            Microsoft.FSharp.Core.FuncConvert.FromAction<StepProgress<FlaxDpmStepOutput>>(p => steps.Add(p.Output.Order)),
            10, sample, state).ToValueTuple();
        Assert.Equal(10, steps.Count);
        return NdArrayModule.meanAbs(final);
    }

    [Fact]
    public void Without_lower_order_final_the_flax_loop_matches_torch_with_sigma_min() =>
        // Flax's last step targets t = 0, i.e. torch's final_sigmas_type = "sigma_min": diffusers' 0.3301.
        Assert.True(Math.Abs(FlaxMeanAbs(lowerOrderFinal: false) - 0.330145) < 1e-4);

    [Fact]
    public void With_lower_order_final_the_flax_loop_ends_first_order() =>
        Assert.True(Math.Abs(FlaxMeanAbs(lowerOrderFinal: true) - 0.244210) < 1e-4);

    [Fact]
    public void Flax_add_noise_indexes_alphas_cumprod_by_timestep()
    {
        var state = DpmSolverMultistepFlax.createState(DpmSolverConfig.Schema.Defaults);
        var x = NdArrayModule.full(new[] { 2, 1 }, 1.0f);
        var z = NdArrayModule.zeros(new[] { 2, 1 });
        var noisy = DpmSolverMultistepFlax.addNoise(state, x, z, new[] { 0, 999 });
        Assert.Equal(MathF.Sqrt(state.Tables.AlphasCumprod[0]), noisy[0]);
        Assert.Equal(MathF.Sqrt(state.Tables.AlphasCumprod[999]), noisy[1]);
    }
}

/// <summary>The DPM checkers compare real values: a corrupted golden number fails its case.</summary>
public class DpmSolverCheckerTests
{
    private static string Text(string name)
    {
        using var gz = new System.IO.Compression.GZipStream(File.OpenRead(TestData.Golden(name)), System.IO.Compression.CompressionMode.Decompress);
        return new StreamReader(gz).ReadToEnd();
    }

    private static Conformance.FileResult Check(string text)
    {
        var dir = Directory.CreateTempSubdirectory();
        try
        {
            var path = Path.Combine(dir.FullName, "corrupted.json");
            File.WriteAllText(path, text);
            return Conformance.ConformanceRunner.CreateDefault().CheckPath(path);
        }
        finally
        {
            dir.Delete(true);
        }
    }

    [Fact]
    public void A_corrupted_torch_mean_fails_that_case_only()
    {
        var text = Text("dpm_torch");
        var corrupted = text.Replace("\"mean_abs\":0.22430236637592316", "\"mean_abs\":0.2253");
        Assert.NotEqual(text, corrupted);
        var result = Check(corrupted);
        var failed = result.Cases.Where(c => c.Status == Conformance.CaseStatus.Failed).ToList();
        Assert.Equal(2, failed.Count); // cases 0 and 1 record the same loop result
        Assert.All(failed, f => Assert.Equal("mean_abs", f.FirstMismatch?.Field));
    }

    [Fact]
    public void A_corrupted_flax_step_value_fails()
    {
        var text = Text("dpm_flax");
        var at = text.IndexOf("\"samples\":[{\"shape\":[4,3,8,8],\"dtype\":\"float32\",\"data\":[", StringComparison.Ordinal);
        Assert.True(at > 0);
        var start = text.IndexOf("\"data\":[", at, StringComparison.Ordinal) + 8;
        var end = text.IndexOf(',', start);
        var corrupted = text[..start] + "0.5" + text[end..];
        var result = Check(corrupted);
        var failed = result.Cases.Single(c => c.Status == Conformance.CaseStatus.Failed);
        Assert.Equal("samples[0]", failed.FirstMismatch?.Field);
        Assert.Equal(0, failed.FirstMismatch?.Index);
    }
}
