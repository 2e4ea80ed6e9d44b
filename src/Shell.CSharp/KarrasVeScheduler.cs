using Schedulers.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Schedulers;

/// <summary>
/// diffusers' <c>KarrasVeScheduler</c> (the stochastic sampler of Karras et al. 2022, Algorithm 2, for VE models) over
/// TorchSharp tensors on any device. It holds an immutable core <see cref="State"/> and runs the core's
/// <see cref="KarrasVe"/> functions with <see cref="TorchBackend"/>, rounding per-step scalars as torch does.
/// Quirks kept from diffusers: <see cref="Schedule"/> holds σ² values that the pipeline uses as σ; every
/// <see cref="AddNoiseToInput(Tensor, float, TorchSharp.torch.Generator?)"/> draws one full-shape normal even when γ = 0;
/// <see cref="StepCorrect"/> returns the first-stage derivative.
/// <para>Thread safety: an instance may be shared between threads. Every call reads one whole state (the core state
/// with its <see cref="Timesteps"/> and <see cref="Schedule"/> tensors), and <see cref="SetTimesteps"/> replaces the
/// state it started from in one compare-and-swap; a call that overlaps another change of the same instance is refused
/// with an <see cref="InvalidOperationException"/> (the other change is kept), so no update is ever lost silently.
/// Steps only read the state and may run concurrently.</para>
/// </summary>
public sealed partial class KarrasVeScheduler
{
    /// <summary>The core state with the tensors made from it, swapped together.</summary>
    private sealed record Held(KarrasVeState State, Tensor? Timesteps, Tensor? Schedule);

    private readonly StateSlot<Held> _held;

    /// <summary>A scheduler with diffusers' config keys (<c>sigma_min</c>, <c>sigma_max</c>, <c>s_noise</c>,
    /// <c>s_churn</c>, <c>s_min</c>, <c>s_max</c>) and their defaults; invalid values throw an
    /// <see cref="ArgumentException"/> naming the key.</summary>
    public KarrasVeScheduler(
        double sigmaMin = 0.02, double sigmaMax = 100, double sNoise = 1.007, double sChurn = 80, double sMin = 0.05, double sMax = 50)
        : this(new KarrasVeConfig(sigmaMin, sigmaMax, sNoise, sChurn, sMin, sMax))
    {
    }

    /// <summary>A scheduler with the given core config (validated).</summary>
    public KarrasVeScheduler(KarrasVeConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        _held = new StateSlot<Held>(new Held(KarrasVe.createState(Flavour.Torch, config), null, null), nameof(KarrasVeScheduler));
    }

    /// <summary>The solver order diffusers declares (<c>order = 2</c>).</summary>
    public const int Order = KarrasVe.Order;

    /// <summary>The configuration (diffusers' <c>config</c>).</summary>
    public override KarrasVeConfig Config => State.Config;

    /// <summary>The immutable core state; each <see cref="SetTimesteps"/> swaps in a new one.</summary>
    public KarrasVeState State => _held.Current.State;

    /// <summary><c>init_noise_sigma</c> = σ_max, the scale of the initial noise.</summary>
    public double InitNoiseSigma => KarrasVe.initNoiseSigma(State);

    /// <summary><c>num_inference_steps</c>, or null before <see cref="SetTimesteps"/>.</summary>
    public int? NumInferenceSteps => State.NumInferenceSteps?.Value;

    /// <summary><c>timesteps</c> = [n−1, …, 0] as int64, or null before <see cref="SetTimesteps"/>.</summary>
    public Tensor? Timesteps => _held.Current.Timesteps;

    /// <summary><c>schedule</c>: float32 σ² values, <c>schedule[t]</c> = σ_max²·(σ_min²/σ_max²)^((n−1−t)/(n−1)), or null
    /// before <see cref="SetTimesteps"/>. The pipeline indexes it by the (descending) timestep.</summary>
    public Tensor? Schedule => _held.Current.Schedule;

    /// <summary><c>set_timesteps(num_inference_steps, device)</c>; n must be at least 2 (n = 1 would divide by zero).</summary>
    public void SetTimesteps(int numInferenceSteps, Device? device = null)
    {
        var before = _held.Current;
        var next = KarrasVe.setTimesteps(numInferenceSteps, before.State);
        var target = device ?? CPU;
        // The scheduler owns these tables: a caller's dispose scope must not free them.
        var timesteps = tensor(next.Timesteps!.Value.Select(t => (long)t).ToArray(), ScalarType.Int64, target).DetachFromDisposeScope();
        var schedule = tensor(next.Schedule!.Value, ScalarType.Float32, target).DetachFromDisposeScope();
        _held.Commit(before, new Held(next, timesteps, schedule), nameof(SetTimesteps), () =>
        {
            timesteps.Dispose();
            schedule.Dispose();
        });
        before.Timesteps?.Dispose();
        before.Schedule?.Dispose();
    }

    /// <summary>The schedule as host floats (a copy); throws before <see cref="SetTimesteps"/>.</summary>
    public float[] ScheduleValues() => KarrasVe.schedule(RequireTimesteps(nameof(ScheduleValues)));

    /// <summary>The current state, read once so that a call works on one whole state; throws before any timesteps.</summary>
    private KarrasVeState RequireTimesteps(string method)
    {
        var state = State;
        if (state.NumInferenceSteps is null)
            throw new InvalidOperationException($"{method} needs the number of inference steps: call SetTimesteps first");
        return state;
    }

    /// <summary>σ = <c>schedule[t]</c> and σ_prev = <c>schedule[t−1]</c> (0 at t = 0), as the pipeline reads them.</summary>
    public (float Sigma, float SigmaPrev) SigmasAt(int timestep)
    {
        var state = RequireTimesteps(nameof(SigmasAt));
        var (sigma, sigmaPrev) = KarrasVe.sigmasAt(state, timestep);
        return ((float)sigma, (float)sigmaPrev);
    }

    /// <summary><c>scale_model_input</c>: the identity (returns <paramref name="sample"/> itself).</summary>
    public Tensor ScaleModelInput(Tensor sample, long? timestep = null)
    {
        ArgumentNullException.ThrowIfNull(sample);
        return sample;
    }

    /// <summary>
    /// <c>add_noise_to_input(sample, sigma, generator)</c>: γ = min(s_churn/n, √2 − 1) when s_min ≤ σ ≤ s_max (else 0),
    /// ε = s_noise·randn drawn from <paramref name="generator"/> on the CPU (one full-shape draw even when γ = 0),
    /// σ̂ = σ + γσ, x̂ = x + √(σ̂² − σ²)·ε, computed on the sample's device.
    /// </summary>
    public KarrasVeNoisedSample AddNoiseToInput(Tensor sample, float sigma, torch.Generator? generator = null) =>
        AddNoise(sample, sigma, NoiseSource.Of(generator));

    /// <summary>
    /// <c>add_noise_to_input</c> with Flax's noise: ε = s_noise·<c>jax.random.normal(split(key, 1)[0])</c> (the draw
    /// FlaxKarrasVeScheduler makes for this key), with torch's float32 scalars.
    /// </summary>
    public KarrasVeNoisedSample AddNoiseToInput(Tensor sample, float sigma, PrngKey key) =>
        AddNoise(sample, sigma, NoiseSource.Of(KarrasVe.drawKeyWith(ThreefryMode.Partitionable, key)));

    /// <summary><c>add_noise_to_input</c> drawing ε from <paramref name="noise"/> (a managed torch stream, a generator
    /// or a key drawn from as it is).</summary>
    public KarrasVeNoisedSample AddNoiseToInput(Tensor sample, float sigma, NoiseSource noise)
    {
        ArgumentNullException.ThrowIfNull(noise);
        return AddNoise(sample, sigma, noise);
    }

    private KarrasVeNoisedSample AddNoise(Tensor sample, float sigma, NoiseSource noise)
    {
        TensorChecks.Float32("sample", sample);
        var state = RequireTimesteps(nameof(AddNoiseToInput));
        using var scope = NewDisposeScope();
        var noised = KarrasVe.addNoiseToInputOn(TorchBackend.Instance, state, sample, sigma, noise);
        return new KarrasVeNoisedSample(noised.SampleHat.MoveToOuterDisposeScope(), (float)noised.SigmaHat);
    }

    /// <summary>
    /// <c>step(model_output, sigma_hat, sigma_prev, sample_hat)</c>, the Euler stage: x0 = x̂ + σ̂·model_output,
    /// d = (x̂ − x0)/σ̂, prev = x̂ + (σ_prev − σ̂)·d. No randomness.
    /// </summary>
    public KarrasVeOutput Step(Tensor modelOutput, float sigmaHat, float sigmaPrev, Tensor sampleHat)
    {
        TensorChecks.Float32("model_output", modelOutput);
        TensorChecks.Float32("sample_hat", sampleHat);
        var state = RequireTimesteps(nameof(Step));
        using var scope = NewDisposeScope();
        var o = KarrasVe.stepOn(TorchBackend.Instance, state, modelOutput, sigmaHat, sigmaPrev, sampleHat);
        return new KarrasVeOutput(
            o.PrevSample.MoveToOuterDisposeScope(), o.Derivative.MoveToOuterDisposeScope(), o.PredOriginalSample.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// <c>step_correct(model_output, sigma_hat, sigma_prev, sample_hat, sample_prev, derivative)</c>, Heun's
    /// correction with model_output evaluated at (sample_prev, σ_prev): x_prev' = x̂ + (σ_prev − σ̂)·(½d + ½d').
    /// The returned <see cref="KarrasVeOutput.Derivative"/> is <paramref name="derivative"/> itself (diffusers quirk).
    /// σ_prev = 0 throws: the last step takes no correction.
    /// </summary>
    public KarrasVeOutput StepCorrect(
        Tensor modelOutput, float sigmaHat, float sigmaPrev, Tensor sampleHat, Tensor samplePrev, Tensor derivative)
    {
        TensorChecks.Float32("model_output", modelOutput);
        TensorChecks.Float32("sample_hat", sampleHat);
        TensorChecks.Float32("sample_prev", samplePrev);
        TensorChecks.Float32("derivative", derivative);
        var state = RequireTimesteps(nameof(StepCorrect));
        using var scope = NewDisposeScope();
        var o = KarrasVe.stepCorrectOn(
            TorchBackend.Instance, state, modelOutput, sigmaHat, sigmaPrev, sampleHat, samplePrev, derivative);
        return new KarrasVeOutput(o.PrevSample.MoveToOuterDisposeScope(), derivative, o.PredOriginalSample.MoveToOuterDisposeScope());
    }
}
