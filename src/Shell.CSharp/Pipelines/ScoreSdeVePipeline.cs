using Microsoft.FSharp.Core;
using Schedulers.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Schedulers.Pipelines;

/// <summary>The result of <see cref="ScoreSdeVePipeline"/>.</summary>
/// <param name="Images">The last predictor's <c>prev_sample_mean</c> clamped to [0, 1], in NCHW layout (diffusers clamps, then converts to NHWC numpy).</param>
/// <param name="Sample">The last predictor's <c>prev_sample_mean</c> before the clamp.</param>
public sealed record ScoreSdeVePipelineOutput(Tensor Images, Tensor Sample);

/// <summary>
/// diffusers' <c>ScoreSdeVePipeline</c>: initial noise <c>randn·sigma_max</c>, then for every time <c>correct_steps</c>
/// Langevin corrector steps and one reverse-diffusion predictor step, all drawing from one generator in that order.
/// The loop is the core's <see cref="PredictorCorrector"/> on TorchSharp tensors, on the device given.
/// </summary>
public sealed class ScoreSdeVePipeline
{
    private readonly Func<Tensor, Tensor, Tensor> _model;

    /// <summary>A pipeline over a score model <c>model(sample, sigma)</c> (σ a float32 vector of shape (B,)) and a scheduler.
    /// The loop releases each model output once the step that used it is done, so the model should return a new tensor.</summary>
    public ScoreSdeVePipeline(Func<Tensor, Tensor, Tensor> model, ScoreSdeVeScheduler scheduler)
    {
        _model = model ?? throw new ArgumentNullException(nameof(model));
        Scheduler = scheduler ?? throw new ArgumentNullException(nameof(scheduler));
    }

    /// <summary>The scheduler; after a call its state is the loop's schedule (<c>set_timesteps(n)</c>, then <c>set_sigmas(n)</c>).
    /// A call that overlaps another change of the same scheduler (another run, say) throws
    /// <see cref="InvalidOperationException"/> when it ends, leaving the other change in place.</summary>
    public ScoreSdeVeScheduler Scheduler { get; }

    /// <summary>
    /// Samples <paramref name="shape"/> (batch first) in <paramref name="numInferenceSteps"/> steps with diffusers' torch
    /// noise stream: the initial noise is drawn from <paramref name="generator"/> on the CPU, then every corrector and
    /// predictor step draws from it in order. <paramref name="progress"/> sees each iteration's sample (valid during the call).
    /// </summary>
    public ScoreSdeVePipelineOutput Call(long[] shape, int numInferenceSteps = 2000, Generator? generator = null, Device? device = null, Action<StepProgress<ScoreSdeVeOutput<Tensor>>>? progress = null) =>
        Call(shape, numInferenceSteps, NoiseSource.Of(generator), device, progress);

    /// <summary>Samples with torch's stream order (initial noise, then every step's draw) from a shared source: a
    /// managed torch stream or a generator. A key source follows the Flax discipline of the key overload.</summary>
    public ScoreSdeVePipelineOutput Call(long[] shape, int numInferenceSteps, NoiseSource source, Device? device = null, Action<StepProgress<ScoreSdeVeOutput<Tensor>>>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (source is NoiseSource.FromKey fromKey)
            return Call(shape, numInferenceSteps, fromKey.Key, device, progress);
        var target = device ?? CPU;
        CheckArguments(shape, numInferenceSteps);
        using var scope = NewDisposeScope();
        using var noise = Noise.Randn(source, shape, target);
        var initial = noise.mul((float)Scheduler.InitNoiseSigma);
        return Loop(initial, numInferenceSteps, source, progress);
    }

    /// <summary>
    /// Samples with JAX keys: <c>key, sub = split(key)</c>, initial noise <c>normal(sub, shape)·sigma_max</c>, then
    /// <c>key, sub = split(key)</c> before every step, each step drawing <c>normal(split(sub, 1)[0])</c> as the Flax scheduler does.
    /// </summary>
    public ScoreSdeVePipelineOutput Call(long[] shape, int numInferenceSteps, PrngKey key, Device? device = null, Action<StepProgress<ScoreSdeVeOutput<Tensor>>>? progress = null)
    {
        var target = device ?? CPU;
        CheckArguments(shape, numInferenceSteps);
        var keys = Prng.split(2, key);
        using var scope = NewDisposeScope();
        using var noise = Noise.Randn(NoiseSource.Of(keys[1]), shape, target);
        var initial = noise.mul((float)Scheduler.InitNoiseSigma);
        return Loop(initial, numInferenceSteps, NoiseSource.Of(keys[0]), progress);
    }

    /// <summary>Runs the predictor–corrector loop from a given sample (diffusers' unit-test form), drawing from <paramref name="generator"/>.</summary>
    public ScoreSdeVePipelineOutput CallFrom(Tensor sample, int numInferenceSteps, Generator? generator = null, Action<StepProgress<ScoreSdeVeOutput<Tensor>>>? progress = null) =>
        CallFrom(sample, numInferenceSteps, NoiseSource.Of(generator), progress);

    /// <summary>Runs the loop from a given sample drawing from <paramref name="source"/> (a managed torch stream or a
    /// generator shared by every step; a key follows the Flax discipline).</summary>
    public ScoreSdeVePipelineOutput CallFrom(Tensor sample, int numInferenceSteps, NoiseSource source, Action<StepProgress<ScoreSdeVeOutput<Tensor>>>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        TensorChecks.Float32("sample", sample);
        CheckArguments(sample.shape, numInferenceSteps);
        using var scope = NewDisposeScope();
        return Loop(sample.alias(), numInferenceSteps, source, progress);
    }

    /// <summary>Runs the loop from a given sample with JAX keys: <c>key, sub = split(key)</c> before every step, each step
    /// drawing <c>normal(split(sub, 1)[0])</c> (the golden files' Flax loop discipline, from <paramref name="key"/> as given).</summary>
    public ScoreSdeVePipelineOutput CallFrom(Tensor sample, int numInferenceSteps, PrngKey key, Action<StepProgress<ScoreSdeVeOutput<Tensor>>>? progress = null)
    {
        TensorChecks.Float32("sample", sample);
        CheckArguments(sample.shape, numInferenceSteps);
        using var scope = NewDisposeScope();
        return Loop(sample.alias(), numInferenceSteps, NoiseSource.Of(key), progress);
    }

    private static void CheckArguments(long[] shape, int numInferenceSteps)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Length == 0 || shape.Any(d => d < 1))
            throw new ArgumentException($"shape is [{string.Join(",", shape)}] but must have at least one axis and positive sizes", nameof(shape));
        if (numInferenceSteps < 1)
            throw new ArgumentOutOfRangeException(nameof(numInferenceSteps), numInferenceSteps, $"num_inference_steps is {numInferenceSteps} but must be at least 1");
    }

    /// <summary>A shared generator is its own next source; a key advances as <c>key, sub = split(key)</c>.</summary>
    private static (NoiseSource Carry, NoiseSource Draw) Next(NoiseSource source)
    {
        if (source is NoiseSource.FromKey fromKey)
        {
            var (carry, draw) = PredictorCorrector.nextKey(fromKey.Key).ToTuple();
            return (new NoiseSource.FromKey(carry, fromKey.Mode), new NoiseSource.FromKey(draw, fromKey.Mode));
        }
        return (source, source);
    }

    private ScoreSdeVePipelineOutput Loop(Tensor initial, int numInferenceSteps, NoiseSource source, Action<StepProgress<ScoreSdeVeOutput<Tensor>>>? progress)
    {
        // The core loop releases each iteration's intermediates (TorchBackend.Release disposes them) once the next
        // iteration no longer needs them, so a long loop holds a few tensors at a time.
        // The state this run replaces: a run that overlaps another change of the scheduler is refused at the end.
        var before = Scheduler.State;
        var model = FuncConvert.FromFunc<Tensor, float, Tensor>((x, sigma) =>
        {
            using var sigmas = full(x.shape[0], sigma, ScalarType.Float32, x.device);
            return _model(x, sigmas);
        });
        var next = FuncConvert.FromFunc<NoiseSource, ValueTuple<NoiseSource, NoiseSource>>(s => Next(s));
        var onStep = FuncConvert.FromAction<StepProgress<ScoreSdeVeOutput<Tensor>>>(step => progress?.Invoke(step));
        var result = PredictorCorrector.runFromOn(
            TorchBackend.Instance, Flavour.Torch, Scheduler.Config, numInferenceSteps, model, next, onStep, initial, source);
        Scheduler.CommitState(before, result.State, "pipeline run");
        if (!ReferenceEquals(result.LastPrevSample, result.Sample)) result.LastPrevSample.Dispose();
        var sample = result.Sample.MoveToOuterDisposeScope();
        return new ScoreSdeVePipelineOutput(sample.clamp(0.0f, 1.0f).MoveToOuterDisposeScope(), sample);
    }
}
