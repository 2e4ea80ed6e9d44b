using System.Text.RegularExpressions;
using Schedulers.Core;

namespace Schedulers.Conformance.Checkers;

/// <summary>One stage's outputs (<c>step</c> or <c>step_correct</c>) as host arrays.</summary>
internal sealed record KarrasVeStage(float[] PrevSample, float[] Derivative, float[] PredOriginalSample);

/// <summary>One loop step as the project computed it.</summary>
internal sealed record KarrasVeLoopStep(
    double Sigma, double SigmaPrev, double SigmaHat, float[] SampleHat, KarrasVeStage Step, KarrasVeStage? Corrected);

/// <summary>A whole loop: every step and the final sample.</summary>
internal sealed record KarrasVeLoop(IReadOnlyList<KarrasVeLoopStep> Steps, float[] Final);

/// <summary>Runs KarrasVe through one flavour of the project (the core with keys, or the shell on TorchSharp).</summary>
internal interface IKarrasVeBackend
{
    /// <summary><c>set_timesteps(n)</c> on a scheduler made from the config: its timesteps and schedule.</summary>
    (int[] Timesteps, float[] Schedule) SetTimesteps(KarrasVeConfig config, int n);

    /// <summary>The golden loop from <paramref name="x0"/> with the closed-form model and the given seed.</summary>
    KarrasVeLoop Loop(KarrasVeConfig config, int n, int[] shape, float[] x0, long seed);

    /// <summary><c>step</c> on recorded inputs, with model_output = model(sample_hat, sigma_hat).</summary>
    KarrasVeStage Step(KarrasVeConfig config, int n, int[] shape, float[] sampleHat, double sigmaHat, double sigmaPrev);

    /// <summary><c>step_correct</c> on recorded inputs, with model_output = model(sample_prev, sigma_prev).</summary>
    KarrasVeStage StepCorrect(
        KarrasVeConfig config, int n, int[] shape, float[] sampleHat, float[] samplePrev, float[] derivative, double sigmaHat, double sigmaPrev);
}

/// <summary>
/// Checks KarrasVe golden files (<c>karras_ve_flax.json</c>, <c>karras_ve_torch.json</c>): per run, the
/// <c>set_timesteps</c> arrays (schedule tolerance), each recorded stage of the loop on the golden's own inputs (step
/// tolerance), and the free-running loop's stages and final sample (loop tolerance). Recorded steps are matched to
/// loop steps by their σ (a file may record only some steps). Unknown fields skip the case.
/// </summary>
internal static class KarrasVeGolden
{
    private static readonly string[] RootFields = { "source", "notes", "framework", "scheduler", "cases", "sample" };
    private static readonly string[] CaseFields = { "config", "runs", "name", "error" };
    private static readonly string[] ConfigFields = [.. KarrasVeConfig.Schema.Keys, "_class_name", "_diffusers_version"];
    private static readonly string[] RunFields = { "num_inference_steps", "timesteps", "schedule", "loop" };
    private static readonly string[] LoopFields = { "key_discipline", "generator", "steps", "final" };
    private static readonly string[] StepFields = { "sigma", "sigma_prev", "sigma_hat", "sample_hat", "step", "step_correct" };
    private static readonly string[] StageFields = { "prev_sample", "derivative", "pred_original_sample" };

    /// <summary>True for a KarrasVe golden file of the given framework (<c>flax</c> or <c>torch</c>).</summary>
    public static bool Recognises(JsonValue root, string framework) =>
        Golden.Field(root, "scheduler") is JsonValue.String { Item: "KarrasVeScheduler" }
        && Golden.Field(root, "framework") is JsonValue.String f && f.Item == framework;

    /// <summary>The first member of an object whose key is not in <paramref name="known"/>, or null.</summary>
    private static string? Unknown(JsonValue value, string[] known) =>
        value is JsonValue.Object o ? o.Item.Select(t => t.Item1).FirstOrDefault(k => !known.Contains(k)) : null;

    /// <summary>diffusers' <c>dummy_sample_deter</c> (4, 3, 8, 8): element (b, c, h, w) = (((c·8 + h)·8 + w)·4 + b)/768.</summary>
    public static (int[] Shape, float[] Data) DummySampleDeter()
    {
        const int B = 4, C = 3, H = 8, W = 8, N = B * C * H * W;
        var data = new float[N];
        for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++)
        for (int h = 0; h < H; h++)
        for (int w = 0; w < W; w++)
            data[((b * C + c) * H + h) * W + w] = (float)(((c * H + h) * W + w) * B + b) / N;
        return (new[] { B, C, H, W }, data);
    }

    /// <summary>Checks every run of every case with the given backend.</summary>
    public static IEnumerable<CaseResult> Check(JsonValue root, string framework, IKarrasVeBackend backend)
    {
        var cases = Golden.Items(Golden.Require(root, "cases", "root"), "cases");
        var unknownRoot = Unknown(root, RootFields);
        var (shape, sample) = Golden.Field(root, "sample") is { } s
            ? (GoldenArray.Parse(s, "sample").Shape, GoldenArray.Parse(s, "sample").ToFloat32())
            : DummySampleDeter();
        for (int ci = 0; ci < cases.Length; ci++)
        {
            var kase = cases[ci];
            var runs = Golden.Field(kase, "runs") is { } r ? Golden.Items(r, $"cases[{ci}].runs") : System.Array.Empty<JsonValue>();
            string? skip = unknownRoot is not null ? $"top-level field '{unknownRoot}' is not understood"
                : Unknown(kase, CaseFields) is { } uc ? $"case field '{uc}' is not understood"
                : Golden.Field(kase, "config") is { } cfg && Unknown(cfg, ConfigFields) is { } uk ? $"config key '{uk}' is not understood"
                : runs.Length == 0 ? "the case records no runs"
                : null;
            if (skip is not null)
            {
                yield return CaseResult.Skip($"cases[{ci}]", skip);
                continue;
            }
            for (int ri = 0; ri < runs.Length; ri++)
            {
                var run = runs[ri];
                var name = $"cases[{ci}].runs[{ri}]";
                if (Golden.Field(run, "num_inference_steps") is JsonValue.Number nv) name += $" n={Json.numberValue(nv.text)}";
                if (Unknown(run, RunFields) is { } ur)
                {
                    yield return CaseResult.Skip(name, $"run field '{ur}' is not understood");
                    continue;
                }
                var loop = Golden.Field(run, "loop");
                string? loopSkip = loop is null ? null : LoopSkipReason(loop, framework);
                if (loopSkip is not null)
                {
                    yield return CaseResult.Skip(name, loopSkip);
                    continue;
                }
                bool recordsError = Golden.Field(kase, "error") is not null;
                yield return CaseChecker.Run(name, c => CheckRun(c, kase, run, shape, sample, backend, framework, recordsError));
            }
        }
    }

    private static string? LoopSkipReason(JsonValue loop, string framework)
    {
        if (Unknown(loop, LoopFields) is { } ul) return $"loop field '{ul}' is not understood";
        foreach (var step in Golden.Items(Golden.Require(loop, "steps", "loop"), "loop.steps"))
        {
            if (Unknown(step, StepFields) is { } us) return $"loop step field '{us}' is not understood";
            foreach (var stage in new[] { "step", "step_correct" })
                if (Golden.Field(step, stage) is { } st && Unknown(st, StageFields) is { } ust) return $"{stage} field '{ust}' is not understood";
        }
        var text = Golden.Field(loop, framework == "flax" ? "key_discipline" : "generator") is JsonValue.String t ? t.Item : "";
        if (!text.Contains("x0 = deter_sample * sigma_max") || !text.Contains("model(x, s) = -x*s/(s^2+1)"))
            return $"loop description '{text}' names an initial sample or model this runner does not know";
        if (Seed(text, framework) is null)
            return $"loop description '{text}' names a noise discipline this runner does not know";
        return null;
    }

    /// <summary>The seed of the loop's noise: <c>PRNGKey(s)</c> with the Flax split-before-each-call discipline, or a
    /// shared <c>torch.manual_seed(s)</c> generator.</summary>
    private static long? Seed(string text, string framework)
    {
        var m = framework == "flax"
            ? Regex.Match(text, @"^key, sub = split\(key\) before add_noise_to_input; PRNGKey\((\d+)\);")
            : Regex.Match(text, @"^torch\.manual_seed\((\d+)\), shared;");
        return m.Success ? long.Parse(m.Groups[1].Value) : null;
    }

    /// <summary>The config of a case, read by the schema (missing keys take diffusers' defaults).</summary>
    private static KarrasVeConfig Config(JsonValue kase) =>
        KarrasVeConfig.Schema.Read(new ConfigDict(Golden.Field(kase, "config") is JsonValue.Object o ? o.Item : []));

    private static void CheckRun(
        CaseChecker c, JsonValue kase, JsonValue run, int[] shape, float[] sample, IKarrasVeBackend backend, string framework,
        bool recordsError)
    {
        var config = Config(kase);
        int n = (int)Golden.Number(Golden.Require(run, "num_inference_steps", c.Name), c.Name);
        var sigmaMax = (float)config.SigmaMax;
        var x0 = sample.Select(v => v * sigmaMax).ToArray();
        if (recordsError)
        {
            // The reference raised: no values to compare; the project's loop must finish with finite values.
            var result = backend.Loop(config, n, shape, x0, 0);
            if (result.Final.Length != x0.Length || !result.Final.All(float.IsFinite))
                c.Compare("final (finite, same shape)", new double[] { 0 }, new double[] { double.NaN }, Tolerance.Exact);
            return;
        }

        var (timesteps, schedule) = backend.SetTimesteps(config, n);
        if (Golden.Field(run, "timesteps") is { } ts)
            c.Compare("timesteps", GoldenArray.Parse(ts, "timesteps").Data, timesteps.Select(t => (double)t).ToArray(), Tolerance.Exact);
        if (Golden.Field(run, "schedule") is { } sc)
            c.Compare("schedule", GoldenArray.Parse(sc, "schedule"), schedule, Tolerance.Schedule);

        var loop = Golden.Field(run, "loop");
        if (loop is null) return;
        var text = Golden.Field(loop, framework == "flax" ? "key_discipline" : "generator") is JsonValue.String t ? t.Item : "";
        var seed = Seed(text, framework)!.Value;
        var actual = backend.Loop(config, n, shape, x0, seed);
        if (actual.Steps.Count != n) c.Compare("loop step count", new double[] { n }, new double[] { actual.Steps.Count }, Tolerance.Exact);

        var recorded = Golden.Items(Golden.Require(loop, "steps", c.Name), "steps");
        for (int k = 0; k < recorded.Length; k++)
        {
            var g = recorded[k];
            var where = $"steps[{k}]";
            var sigma = (float)Golden.Number(Golden.Require(g, "sigma", where), where);
            // Match by σ (= schedule[t]); files may record only some of the steps.
            var mine = actual.Steps.FirstOrDefault(s => (float)s.Sigma == sigma);
            if (mine is null)
            {
                c.Compare($"{where}.sigma (no loop step has it)", new double[] { sigma }, new double[] { double.NaN }, Tolerance.Exact);
                return;
            }
            CheckStep(c, g, where, mine, shape, config, n, backend);
        }
        c.Compare("final", Golden.Array(loop, "final", c.Name), actual.Final, Tolerance.Loop);
    }

    private static void CheckStep(
        CaseChecker c, JsonValue g, string where, KarrasVeLoopStep mine, int[] shape, KarrasVeConfig config, int n, IKarrasVeBackend backend)
    {
        double Scalar(string key) => Golden.Number(Golden.Require(g, key, where), where);
        if (Golden.Field(g, "sigma_prev") is not null) c.Compare($"{where}.sigma_prev", Scalar("sigma_prev"), mine.SigmaPrev, Tolerance.Schedule);
        if (Golden.Field(g, "sigma_hat") is not null) c.Compare($"{where}.sigma_hat", Scalar("sigma_hat"), mine.SigmaHat, Tolerance.Step);

        // The free-running loop: trajectory tolerance.
        GoldenArray? sampleHat = Golden.Field(g, "sample_hat") is { } sh ? GoldenArray.Parse(sh, where + ".sample_hat") : null;
        if (sampleHat is not null) CompareArray(c, $"{where}.sample_hat", sampleHat, mine.SampleHat, shape, Tolerance.Loop);
        var step = Golden.Field(g, "step");
        var corr = Golden.Field(g, "step_correct");
        if (step is not null) CompareStage(c, $"{where}.step", step, mine.Step, shape, Tolerance.Loop);
        if (corr is not null)
        {
            if (mine.Corrected is null)
            {
                c.Compare($"{where}.step_correct (the loop made no correction)", new double[] { 1 }, new double[] { 0 }, Tolerance.Exact);
                return;
            }
            CompareStage(c, $"{where}.step_correct", corr, mine.Corrected, shape, Tolerance.Loop);
        }
        else if (mine.Corrected is not null && step is not null)
        {
            c.Compare($"{where}.step_correct (the reference made no correction)", new double[] { 0 }, new double[] { 1 }, Tolerance.Exact);
        }

        // Each stage alone on the golden's own inputs: single-step tolerance.
        if (sampleHat is null || step is null || Golden.Field(g, "sigma_hat") is null || Golden.Field(g, "sigma_prev") is null) return;
        double sigmaHat = Scalar("sigma_hat"), sigmaPrev = Scalar("sigma_prev");
        var xHat = sampleHat.ToFloat32();
        var single = backend.Step(config, n, shape, xHat, sigmaHat, sigmaPrev);
        CompareStage(c, $"{where}.step (on recorded inputs)", step, single, shape, Tolerance.Step);
        if (corr is not null)
        {
            var prev = Golden.Array(step, "prev_sample", where + ".step").ToFloat32();
            var derivative = Golden.Array(step, "derivative", where + ".step").ToFloat32();
            var singleCorr = backend.StepCorrect(config, n, shape, xHat, prev, derivative, sigmaHat, sigmaPrev);
            CompareStage(c, $"{where}.step_correct (on recorded inputs)", corr, singleCorr, shape, Tolerance.Step);
        }
    }

    private static void CompareStage(CaseChecker c, string where, JsonValue expected, KarrasVeStage actual, int[] shape, Tolerance tolerance)
    {
        if (Golden.Field(expected, "prev_sample") is { } p) CompareArray(c, where + ".prev_sample", GoldenArray.Parse(p, where), actual.PrevSample, shape, tolerance);
        if (Golden.Field(expected, "derivative") is { } d) CompareArray(c, where + ".derivative", GoldenArray.Parse(d, where), actual.Derivative, shape, tolerance);
        if (Golden.Field(expected, "pred_original_sample") is { } x) CompareArray(c, where + ".pred_original_sample", GoldenArray.Parse(x, where), actual.PredOriginalSample, shape, tolerance);
    }

    private static void CompareArray(CaseChecker c, string field, GoldenArray expected, float[] actual, int[] shape, Tolerance tolerance)
    {
        if (!expected.Shape.SequenceEqual(shape))
            c.Compare(field + " shape", expected.Shape.Select(v => (double)v).ToArray(), shape.Select(v => (double)v).ToArray(), Tolerance.Exact);
        c.Compare(field, expected, actual, tolerance);
    }
}
