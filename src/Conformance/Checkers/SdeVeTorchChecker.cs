using System.Text.RegularExpressions;
using Schedulers.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Schedulers.Conformance.Checkers;

/// <summary>
/// Checks <c>sde_ve_torch.json</c>-shaped files (diffusers' torch ScoreSdeVeScheduler) through the C# shell on
/// TorchSharp CPU tensors: the schedule after <c>set_timesteps</c> + <c>set_sigmas</c>, <c>step_pred</c>/<c>step_correct</c>
/// with the recorded noise fed as the draw, and
/// <c>full_loop_generator</c>, diffusers' unit-test loop with one generator shared by every call.
/// </summary>
public sealed class SdeVeTorchChecker() : SdeVeChecker("torch", casesRequired: false, moreRootFields: ["full_loop_generator"], moreRunFields: [])
{
    private protected override ScoreSdeVeState CreateState(ScoreSdeVeConfig config) => new ScoreSdeVeScheduler(config).State;

    private protected override IEnumerable<CaseResult> CheckMore(JsonValue root, NdArray sample)
    {
        var loops = Golden.Field(root, "full_loop_generator") is { } fl ? Golden.Items(fl, "full_loop_generator") : Array.Empty<JsonValue>();
        for (int k = 0; k < loops.Length; k++)
        {
            var name = $"full_loop_generator[{k}]";
            var loop = loops[k];
            var reason = SdeVeGolden.Unknown(name, loop, "num_inference_steps", "generator", "samples", "sum_abs", "mean_abs", "config");
            long? seed = null;
            if (reason is null)
            {
                var text = Golden.Text(Golden.Require(loop, "generator", name), name + ".generator");
                var match = Regex.Match(text, @"^torch\.manual_seed\((\d+)\), shared by all calls$");
                if (match.Success) seed = long.Parse(match.Groups[1].Value);
                else reason = $"{name}: generator '{text}' not understood by this runner";
            }
            if (reason is null && Golden.Field(loop, "config") is { } lc) reason = SdeVeGolden.UnknownConfig(lc, name + ".config");
            yield return reason is not null
                ? CaseResult.Skip(name, reason)
                : CaseChecker.Run(name, ch => UnitTestLoop(ch, loop, seed!.Value, sample));
        }
    }

    private protected override IEnumerable<CaseResult> Run(string name, ScoreSdeVeConfig config, int n, JsonValue run, NdArray sample)
    {
        ScoreSdeVeScheduler? scheduler = null;
        ScoreSdeVeScheduler Scheduler()
        {
            if (scheduler is not null) return scheduler;
            // The pipeline's order: set_timesteps(n), then set_sigmas(n).
            scheduler = new ScoreSdeVeScheduler(config);
            scheduler.SetTimesteps(n);
            scheduler.SetSigmas(n);
            return scheduler;
        }
        yield return CaseChecker.Run(name + "/schedule", c =>
        {
            var s = Scheduler();
            foreach (var (field, tensor) in new[] { ("timesteps", s.Timesteps), ("discrete_sigmas", s.DiscreteSigmas), ("sigmas", s.Sigmas) })
            {
                using var t = tensor!;
                c.Compare(field, Golden.Array(run, field, c.Name), t.data<float>().ToArray(), Tolerance.Schedule);
            }
            if (Golden.Field(run, "adjacent_sigma_all_indices") is { } adjacent)
            {
                using var idx = arange(n, dtype: ScalarType.Int64);
                using var t = zeros(n);
                using var actual = s.GetAdjacentSigma(idx, t);
                c.Compare("adjacent_sigma_all_indices", GoldenArray.Parse(adjacent, c.Name), actual.data<float>().ToArray(), Tolerance.Schedule);
            }
        });
        var steps = Golden.Field(run, "steps") is { } st ? Golden.Items(st, name + ".steps") : Array.Empty<JsonValue>();
        for (int k = 0; k < steps.Length; k++)
        {
            var stepName = $"{name}/steps[{k}]";
            var step = steps[k];
            var stepReason = SdeVeGolden.Unknown(stepName, step, "i", "timestep", "noise_seed", "model_output", "noise", "step_pred", "step_correct")
                ?? (Golden.Field(step, "step_pred") is { } sp ? SdeVeGolden.Unknown(stepName + ".step_pred", sp, "prev_sample", "prev_sample_mean") : null)
                ?? (Golden.Field(step, "step_correct") is { } sc ? SdeVeGolden.Unknown(stepName + ".step_correct", sc, "prev_sample") : null);
            if (stepReason is null && Golden.Field(step, "noise") is null && (Golden.Field(step, "step_pred") is not null || Golden.Field(step, "step_correct") is not null))
                stepReason = $"{stepName}: a step without a recorded noise array is not understood by this runner";
            yield return stepReason is not null
                ? CaseResult.Skip(stepName, stepReason)
                : CaseChecker.Run(stepName, c => Step(c, Scheduler(), step, sample));
        }
    }

    private static Tensor ToTensor(NdArray a) => tensor(a.ToArray(), a.Shape.Select(d => (long)d).ToArray(), ScalarType.Float32);

    private static Tensor ToTensor(GoldenArray a) => tensor(a.ToFloat32(), a.Shape.Select(d => (long)d).ToArray(), ScalarType.Float32);

    private static float[] Values(Tensor t) => t.contiguous().data<float>().ToArray();

    /// <summary>The golden model <c>x·σ/(σ + 1)</c> as torch evaluates it.</summary>
    private static Tensor Model(Tensor x, float sigma) => x.mul(sigma).div(sigma + 1f);

    private static void Step(CaseChecker c, ScoreSdeVeScheduler scheduler, JsonValue step, NdArray sampleArray)
    {
        using var scope = NewDisposeScope();
        int i = SdeVeGolden.Index(step, c.Name);
        var timestep = (float)Golden.Number(Golden.Require(step, "timestep", c.Name), c.Name + ".timestep");
        var timesteps = scheduler.State.Timesteps!.Value;
        c.Compare("timestep", timestep, timesteps[i], Tolerance.Schedule);
        var sample = ToTensor(sampleArray);
        var modelOutputGolden = Golden.Array(step, "model_output", c.Name);
        var modelOutput = ToTensor(modelOutputGolden);
        c.Compare("model_output", modelOutputGolden, Values(Model(sample, scheduler.State.Sigmas!.Value[i])), Tolerance.Step);
        Tensor? noise = null;
        if (Golden.Field(step, "noise") is not null)
        {
            var noiseGolden = Golden.Array(step, "noise", c.Name);
            noise = ToTensor(noiseGolden);
            // `noise_seed` records how the golden generator seeded its draw; the draw itself is `noise`, which is fed
            // to the step. (It is not torch.manual_seed(noise_seed)'s randn(sample.shape): that stream is checked by
            // full_loop_generator instead.)
        }
        if (Golden.Field(step, "step_pred") is { } pred)
        {
            var output = scheduler.StepPred(modelOutput, timestep, sample, noise!);
            c.Compare("step_pred.prev_sample", Golden.Array(pred, "prev_sample", c.Name), Values(output.PrevSample), Tolerance.Step);
            if (Golden.Field(pred, "prev_sample_mean") is not null)
                c.Compare("step_pred.prev_sample_mean", Golden.Array(pred, "prev_sample_mean", c.Name), Values(output.PrevSampleMean), Tolerance.Step);
        }
        if (Golden.Field(step, "step_correct") is { } correct)
        {
            var output = scheduler.StepCorrect(modelOutput, sample, noise!);
            c.Compare("step_correct.prev_sample", Golden.Array(correct, "prev_sample", c.Name), Values(output.PrevSample), Tolerance.Step);
        }
    }

    /// <summary>diffusers' <c>test_full_loop_no_noise</c>: <c>set_sigmas(n)</c> then <c>set_timesteps(n)</c> (so sigmas keep
    /// the constructor's 2000 entries), one generator for every call, corrector then predictor per step.</summary>
    private static void UnitTestLoop(CaseChecker c, JsonValue loop, long seed, NdArray sampleArray)
    {
        using var scope = NewDisposeScope();
        int n = (int)Golden.Number(Golden.Require(loop, "num_inference_steps", c.Name), c.Name);
        var config = Golden.Field(loop, "config") is { } lc ? SdeVeGolden.ParseConfig(lc) : ScoreSdeVe.defaults;
        var expected = Golden.Field(loop, "samples") is { } s ? Golden.Items(s, c.Name + ".samples") : Array.Empty<JsonValue>();
        var sample = UnitTestLoopSample(config, n, seed, ToTensor(sampleArray), (i, x) =>
        {
            if (i < expected.Length) c.Compare($"samples[{i}]", GoldenArray.Parse(expected[i], c.Name), Values(x), Tolerance.Loop);
        });
        if (expected.Length != 0 && expected.Length != n) throw new GoldenFormatException($"{c.Name}: {expected.Length} samples for {n} steps");
        if (Golden.Field(loop, "sum_abs") is { } sum)
            c.Compare("sum_abs", Golden.Number(sum, c.Name), sample.abs().sum().item<float>(), Tolerance.Loop);
        if (Golden.Field(loop, "mean_abs") is { } mean)
            c.Compare("mean_abs", Golden.Number(mean, c.Name), sample.abs().mean().item<float>(), Tolerance.Loop);
    }

    /// <summary>The unit-test loop through the shell; <paramref name="onStep"/> sees each step's <c>prev_sample</c>.</summary>
    public static Tensor UnitTestLoopSample(ScoreSdeVeConfig config, int n, long seed, Tensor sample, Action<int, Tensor>? onStep = null)
    {
        var scheduler = new ScoreSdeVeScheduler(config);
        scheduler.SetSigmas(n);
        scheduler.SetTimesteps(n);
        var generator = new Generator((ulong)seed);
        var timesteps = scheduler.State.Timesteps!.Value;
        var sigmas = scheduler.State.Sigmas!.Value;
        var x = sample;
        for (int i = 0; i < timesteps.Length; i++)
        {
            var sigma = sigmas[i];
            x = scheduler.StepCorrect(Model(x, sigma), x, generator).PrevSample;
            x = scheduler.StepPred(Model(x, sigma), timesteps[i], x, generator).PrevSample;
            onStep?.Invoke(i, x);
        }
        return x;
    }
}
