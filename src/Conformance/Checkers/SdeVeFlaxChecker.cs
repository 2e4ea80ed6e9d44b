using Microsoft.FSharp.Core;
using Schedulers.Core;

namespace Schedulers.Conformance.Checkers;

/// <summary>
/// Checks <c>sde_ve_flax.json</c>-shaped files (FlaxScoreSdeVeScheduler) through the F# core: <c>create_state</c>,
/// per <c>num_inference_steps</c> the schedule after <c>set_timesteps</c> + <c>set_sigmas</c>, <c>get_adjacent_sigma</c>
/// at every index, <c>step_pred</c>/<c>step_correct</c> with the recorded key, and the predictor–corrector loop.
/// </summary>
public sealed class SdeVeFlaxChecker() : SdeVeChecker("flax", casesRequired: true, moreRootFields: [], moreRunFields: ["pc_loop"])
{
    private const string KeyDiscipline = "key, sub = split(key) before every step_correct and step_pred; PRNGKey(0)";

    private protected override ScoreSdeVeState CreateState(ScoreSdeVeConfig config) => ScoreSdeVe.createState(config);

    private protected override IEnumerable<CaseResult> Run(string name, ScoreSdeVeConfig config, int n, JsonValue run, NdArray sample)
    {
        // The pipeline's order: set_timesteps(n), then set_sigmas(n) (which reuses those timesteps).
        ScoreSdeVeState? state = null;
        ScoreSdeVeState Schedule() => state ??= ScoreSdeVe.setSigmas(config, n, ScoreSdeVe.setTimesteps(config, n, ScoreSdeVe.createState(config)));
        yield return CaseChecker.Run(name + "/schedule", c =>
        {
            CompareState(c, run, Schedule());
            if (Golden.Field(run, "adjacent_sigma_all_indices") is { } adjacent)
            {
                var indices = Enumerable.Range(0, Schedule().DiscreteSigmas!.Value.Length).ToArray();
                c.Compare("adjacent_sigma_all_indices", GoldenArray.Parse(adjacent, c.Name), ScoreSdeVe.getAdjacentSigma(Schedule(), indices), Tolerance.Schedule);
            }
        });
        var steps = Golden.Field(run, "steps") is { } s ? Golden.Items(s, name + ".steps") : Array.Empty<JsonValue>();
        for (int k = 0; k < steps.Length; k++)
        {
            var stepName = $"{name}/steps[{k}]";
            var stepReason = SdeVeGolden.Unknown(stepName, steps[k], "i", "timestep", "key", "model_output", "step_pred", "step_correct")
                ?? (Golden.Field(steps[k], "step_pred") is { } sp ? SdeVeGolden.Unknown(stepName + ".step_pred", sp, "prev_sample", "prev_sample_mean") : null)
                ?? (Golden.Field(steps[k], "step_correct") is { } sc ? SdeVeGolden.Unknown(stepName + ".step_correct", sc, "prev_sample", "prev_sample_mean") : null);
            if (stepReason is not null)
            {
                yield return CaseResult.Skip(stepName, stepReason);
                continue;
            }
            var step = steps[k];
            yield return CaseChecker.Run(stepName, c => Step(c, config, Schedule(), step, sample));
        }
        if (Golden.Field(run, "pc_loop") is { } loop)
        {
            var loopName = name + "/pc_loop";
            var loopReason = SdeVeGolden.Unknown(loopName, loop, "key_discipline", "samples");
            if (loopReason is null && Golden.Field(loop, "key_discipline") is { } kd && Golden.Text(kd, loopName) != KeyDiscipline)
                loopReason = $"{loopName}: key discipline '{Golden.Text(kd, loopName)}' not understood by this runner";
            yield return loopReason is not null
                ? CaseResult.Skip(loopName, loopReason)
                : CaseChecker.Run(loopName, c => Loop(c, config, n, loop, sample));
        }
    }

    private static void Step(CaseChecker c, ScoreSdeVeConfig config, ScoreSdeVeState state, JsonValue step, NdArray sample)
    {
        int i = SdeVeGolden.Index(step, c.Name);
        var timestep = (float)Golden.Number(Golden.Require(step, "timestep", c.Name), c.Name + ".timestep");
        c.Compare("timestep", timestep, state.Timesteps!.Value[i], Tolerance.Schedule);
        var keyWords = Golden.Items(Golden.Require(step, "key", c.Name), c.Name + ".key").Select(v => checked((uint)Golden.Number(v, c.Name + ".key"))).ToArray();
        var key = Prng.ofWords(keyWords[0], keyWords[1]);
        var modelOutputGolden = Golden.Array(step, "model_output", c.Name);
        var modelOutput = modelOutputGolden.ToNdArray();
        c.Compare("model_output", modelOutputGolden, SdeVeGolden.Model(sample, state.Sigmas!.Value[i]).Span, Tolerance.Step);
        if (Golden.Field(step, "step_pred") is { } pred)
        {
            var output = ScoreSdeVe.stepPred(state, modelOutput, timestep, sample, key);
            c.Compare("step_pred.prev_sample", Golden.Array(pred, "prev_sample", c.Name), output.PrevSample.Span, Tolerance.Step);
            if (Golden.Field(pred, "prev_sample_mean") is not null)
                c.Compare("step_pred.prev_sample_mean", Golden.Array(pred, "prev_sample_mean", c.Name), output.PrevSampleMean!.Value.Span, Tolerance.Step);
        }
        if (Golden.Field(step, "step_correct") is { } correct)
        {
            if (Golden.Field(correct, "prev_sample_mean") is { } mean && !mean.IsNull)
                throw new InvalidOperationException("step_correct.prev_sample_mean is recorded but Flax returns None for it");
            var output = ScoreSdeVe.stepCorrect(config, state, modelOutput, sample, key);
            c.Compare("step_correct.prev_sample", Golden.Array(correct, "prev_sample", c.Name), output.PrevSample.Span, Tolerance.Step);
        }
    }

    private static void Loop(CaseChecker c, ScoreSdeVeConfig config, int n, JsonValue loop, NdArray sample)
    {
        var expected = Golden.Items(Golden.Require(loop, "samples", c.Name), c.Name + ".samples");
        if (expected.Length != n) throw new GoldenFormatException($"{c.Name}: {expected.Length} samples for {n} steps");
        var actual = new List<StepProgress<ScoreSdeVeOutput<NdArray>>>();
        var model = FuncConvert.FromFunc<NdArray, float, NdArray>(SdeVeGolden.Model);
        var onStep = FuncConvert.FromAction<StepProgress<ScoreSdeVeOutput<NdArray>>>(actual.Add);
        var next = FuncConvert.FromFunc<PrngKey, ValueTuple<PrngKey, PrngKey>>(k => PredictorCorrector.nextKey(k));
        var result = PredictorCorrector.runFromOn(
            NdArrayBackend.Default, Flavour.Flax, config, n, model, next,
            onStep, sample, Prng.key(0));
        for (int i = 0; i < n; i++)
        {
            // Each iteration's sample is the predictor's prev_sample.
            c.Compare($"samples[{i}]", GoldenArray.Parse(expected[i], c.Name), actual[i].Output.PrevSample.Span, Tolerance.Loop);
        }
    }
}
