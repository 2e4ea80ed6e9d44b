using Microsoft.FSharp.Core;
using Schedulers.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Schedulers;

/// <summary>
/// diffusers' <c>ScoreSdeVeScheduler</c>: the variance-exploding SDE predictor–corrector scheduler (Song et al. 2021)
/// on TorchSharp tensors. The maths is the core's (<see cref="ScoreSdeVe"/>, torch flavour) run through
/// <see cref="TorchBackend"/> on the device of the sample; the schedule tables stay on the host. The instance holds
/// an immutable core <see cref="State"/> and replaces it when <see cref="SetTimesteps"/> or <see cref="SetSigmas"/> run.
/// <para>Thread safety: an instance may be shared between threads. Every call reads one whole state, and
/// <see cref="SetTimesteps"/>, <see cref="SetSigmas"/> and a pipeline run replace the state they started from in one
/// compare-and-swap; a change that overlaps another change of the same instance is refused with an
/// <see cref="InvalidOperationException"/> (the other change is kept), so no update is ever lost silently. Steps
/// only read the state and may run concurrently.</para>
/// </summary>
public sealed partial class ScoreSdeVeScheduler
{
    /// <summary>A scheduler with diffusers' constructor arguments (defaults: 2000, 0.15, 0.01, 1348, 1e-5, 1).</summary>
    public ScoreSdeVeScheduler(
        int numTrainTimesteps = 2000,
        double snr = 0.15,
        double sigmaMin = 0.01,
        double sigmaMax = 1348.0,
        double samplingEps = 1e-5,
        int correctSteps = 1)
        : this(new ScoreSdeVeConfig(numTrainTimesteps, snr, sigmaMin, sigmaMax, samplingEps, correctSteps))
    {
    }

    /// <summary>A scheduler with the given configuration; throws <see cref="ArgumentException"/> naming an invalid key.</summary>
    public ScoreSdeVeScheduler(ScoreSdeVeConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        Config = ScoreSdeVe.validate(config);
        _state = new StateSlot<ScoreSdeVeState>(ScoreSdeVe.createStateWith(Flavour.Torch, Config), nameof(ScoreSdeVeScheduler));
    }

    /// <summary>The configuration (diffusers' <c>config</c>).</summary>
    public override ScoreSdeVeConfig Config { get; }

    private readonly StateSlot<ScoreSdeVeState> _state;

    /// <summary>The current immutable core state (timesteps, discrete sigmas, sigmas).</summary>
    public ScoreSdeVeState State
    {
        get => _state.Current;
        internal init => _state = new StateSlot<ScoreSdeVeState>(value, nameof(ScoreSdeVeScheduler));
    }

    /// <summary>Replaces <paramref name="expected"/> with <paramref name="next"/>, or refuses (see the class remarks).</summary>
    internal void CommitState(ScoreSdeVeState expected, ScoreSdeVeState next, string operation) => _state.Commit(expected, next, operation);

    /// <summary><c>init_noise_sigma</c>: <c>sigma_max</c>, the scale of the initial noise.</summary>
    public double InitNoiseSigma => Config.SigmaMax;

    /// <summary>diffusers' <c>order</c>: 1.</summary>
    public int Order => 1;

    /// <summary><c>len(scheduler)</c>: <c>num_train_timesteps</c>.</summary>
    public int Length => ScoreSdeVe.length(Config);

    /// <summary><c>timesteps</c> as a float32 CPU tensor (continuous times from 1 to eps), or null before any are set.</summary>
    public Tensor? Timesteps => HostTensor(State.Timesteps);

    /// <summary><c>sigmas</c> as a float32 CPU tensor (σ for each current timestep).</summary>
    public Tensor? Sigmas => HostTensor(State.Sigmas);

    /// <summary><c>discrete_sigmas</c> as a float32 CPU tensor (the geometric levels the predictor indexes).</summary>
    public Tensor? DiscreteSigmas => HostTensor(State.DiscreteSigmas);

    private static Tensor? HostTensor(FSharpOption<float[]>? values) =>
        values is null ? null : tensor(values.Value, dtype: ScalarType.Float32);

    private static FSharpOption<double> Option(double? value) =>
        value is { } v ? FSharpOption<double>.Some(v) : FSharpOption<double>.None;

    /// <summary><c>set_timesteps(num_inference_steps, sampling_eps)</c>: <c>torch.linspace(1, eps, n)</c>; sigmas are left as they are.</summary>
    public void SetTimesteps(int numInferenceSteps, double? samplingEps = null) =>
        _state.Update(state => ScoreSdeVe.setTimestepsWith(Config, numInferenceSteps, Option(samplingEps), state), nameof(SetTimesteps));

    /// <summary>
    /// <c>set_sigmas(num_inference_steps, sigma_min, sigma_max, sampling_eps)</c>: sets timesteps first only when there are
    /// none (existing ones are reused whatever their length), then <c>discrete_sigmas</c> (n entries) and <c>sigmas</c>
    /// (one per current timestep).
    /// </summary>
    public void SetSigmas(int numInferenceSteps, double? sigmaMin = null, double? sigmaMax = null, double? samplingEps = null) =>
        _state.Update(state => ScoreSdeVe.setSigmasWith(Config, numInferenceSteps, Option(sigmaMin), Option(sigmaMax), Option(samplingEps), state), nameof(SetSigmas));

    /// <summary><c>get_adjacent_sigma(timesteps_idx, t)</c>: 0 where the index is 0, else <c>discrete_sigmas[idx − 1]</c>,
    /// on the index tensor's device (<paramref name="t"/> only gives the shape in diffusers and must match it).</summary>
    public Tensor GetAdjacentSigma(Tensor timestepsIdx, Tensor t)
    {
        ArgumentNullException.ThrowIfNull(timestepsIdx);
        ArgumentNullException.ThrowIfNull(t);
        if (!timestepsIdx.shape.SequenceEqual(t.shape))
            throw new ArgumentException($"timesteps_idx has shape {TensorChecks.ShapeText(timestepsIdx)} but t has {TensorChecks.ShapeText(t)}", nameof(t));
        using var host = timestepsIdx.to(CPU).to_type(ScalarType.Int64);
        var indices = host.data<long>().Select(i => checked((int)i)).ToArray();
        var values = ScoreSdeVe.getAdjacentSigma(State, indices);
        return tensor(values, timestepsIdx.shape, ScalarType.Float32).to(timestepsIdx.device);
    }

    /// <summary>
    /// <c>step_pred(model_output, timestep, sample, generator)</c>: the reverse-diffusion predictor at continuous time
    /// <paramref name="timestep"/> (a value of <see cref="Timesteps"/>), drawing one normal of the sample's shape from
    /// <paramref name="generator"/> (a CPU generator draws on the CPU, as <c>randn_tensor</c> does).
    /// </summary>
    public SdeVeOutput StepPred(Tensor modelOutput, double timestep, Tensor sample, Generator? generator = null) =>
        StepPred(modelOutput, timestep, sample, NoiseSource.Of(generator));

    /// <summary><c>step_pred</c> with the Flax scheduler's noise: <c>jax.random.normal(split(key, 1)[0], shape)</c>.</summary>
    public SdeVeOutput StepPred(Tensor modelOutput, double timestep, Tensor sample, PrngKey key) =>
        StepPred(modelOutput, timestep, sample, NoiseSource.Of(ScoreSdeVe.flaxNoiseKey(key)));

    /// <summary><c>step_pred</c> drawing from any noise source (used as given: no key split).</summary>
    public SdeVeOutput StepPred(Tensor modelOutput, double timestep, Tensor sample, NoiseSource noise)
    {
        ArgumentNullException.ThrowIfNull(noise);
        var state = State;
        CheckStep(state, modelOutput, sample);
        // No dispose scope: TorchTensorOps disposes its own temporaries (the draw included), so the step creates only
        // its two outputs, and a scope would cost more than the fast path's whole pass on small tensors.
        var output = ScoreSdeVe.stepPredOn(TorchBackend.Instance, state, modelOutput, (float)timestep, sample, noise);
        return new SdeVeOutput(output.PrevSample, output.PrevSampleMean!.Value);
    }

    /// <summary><c>step_pred</c> with the noise <paramref name="varianceNoise"/> given instead of drawn (the draw the step would make).</summary>
    public SdeVeOutput StepPred(Tensor modelOutput, double timestep, Tensor sample, Tensor varianceNoise)
    {
        var state = State;
        CheckStep(state, modelOutput, sample);
        using var z = GivenNoise(varianceNoise, sample);
        var output = ScoreSdeVe.stepPredWithNoise(TorchBackend.Instance, state, modelOutput, (float)timestep, sample, z);
        return new SdeVeOutput(output.PrevSample, output.PrevSampleMean!.Value);
    }

    /// <summary>
    /// <c>step_correct(model_output, sample, generator)</c>: one Langevin corrector step with step size
    /// 2·(snr·‖z‖/‖score‖)², the norms being batch means of per-sample L2 norms (torch's rule).
    /// </summary>
    public SdeVeCorrectorOutput StepCorrect(Tensor modelOutput, Tensor sample, Generator? generator = null) =>
        StepCorrect(modelOutput, sample, NoiseSource.Of(generator));

    /// <summary><c>step_correct</c> with the Flax scheduler's noise, <c>normal(split(key, 1)[0], shape)</c> (the norms stay torch's).</summary>
    public SdeVeCorrectorOutput StepCorrect(Tensor modelOutput, Tensor sample, PrngKey key) =>
        StepCorrect(modelOutput, sample, NoiseSource.Of(ScoreSdeVe.flaxNoiseKey(key)));

    /// <summary><c>step_correct</c> drawing from any noise source (used as given: no key split).</summary>
    public SdeVeCorrectorOutput StepCorrect(Tensor modelOutput, Tensor sample, NoiseSource noise)
    {
        ArgumentNullException.ThrowIfNull(noise);
        var state = State;
        CheckStep(state, modelOutput, sample);
        using var scope = NewDisposeScope();
        var output = ScoreSdeVe.stepCorrectOn(TorchBackend.Instance, Config, state, modelOutput, sample, noise);
        return new SdeVeCorrectorOutput(output.PrevSample.MoveToOuterDisposeScope());
    }

    /// <summary><c>step_correct</c> with the noise <paramref name="varianceNoise"/> given instead of drawn.</summary>
    public SdeVeCorrectorOutput StepCorrect(Tensor modelOutput, Tensor sample, Tensor varianceNoise)
    {
        var state = State;
        CheckStep(state, modelOutput, sample);
        using var scope = NewDisposeScope();
        var z = GivenNoise(varianceNoise, sample);
        var output = ScoreSdeVe.stepCorrectWithNoise(TorchBackend.Instance, Config, state, modelOutput, sample, z);
        return new SdeVeCorrectorOutput(output.PrevSample.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// <c>add_noise(original_samples, noise, timesteps)</c>: the VE forward process <c>x + σ[t]·noise</c>, where
    /// <paramref name="timesteps"/> are integer indices into <see cref="DiscreteSigmas"/>, one per batch element.
    /// </summary>
    public Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps)
    {
        TensorChecks.Float32("original_samples", originalSamples);
        TensorChecks.Float32("noise", noise);
        ArgumentNullException.ThrowIfNull(timesteps);
        TensorChecks.SameShape("original_samples", originalSamples, "noise", noise);
        using var scope = NewDisposeScope();
        var onDevice = SameDevice(noise, originalSamples) ? noise : noise.to(originalSamples.device);
        using var host = timesteps.to(CPU).to_type(ScalarType.Int64).flatten();
        var indices = host.data<long>().Select(i => checked((int)i)).ToArray();
        return ScoreSdeVe.addNoiseOn(TorchBackend.Instance, State, originalSamples, onDevice, indices).MoveToOuterDisposeScope();
    }

    /// <summary><c>scale_model_input(sample, timestep)</c>: the sample itself (the VE SDE needs no input scaling).</summary>
    public Tensor ScaleModelInput(Tensor sample, double? timestep = null)
    {
        ArgumentNullException.ThrowIfNull(sample);
        return ScoreSdeVe.scaleModelInput(sample);
    }

    private static void CheckStep(ScoreSdeVeState state, Tensor modelOutput, Tensor sample)
    {
        if (state.Timesteps is null)
            throw new InvalidOperationException("the scheduler has no timesteps: call SetTimesteps (set_timesteps) and SetSigmas before stepping");
        TensorChecks.Float32("sample", sample);
        TensorChecks.Float32("model_output", modelOutput);
        TensorChecks.SameShape("sample", sample, "model_output", modelOutput);
        if (!SameDevice(modelOutput, sample))
            throw new ArgumentException($"model_output is on device {modelOutput.device} but sample is on {sample.device}", "model_output");
    }

    private static bool SameDevice(Tensor a, Tensor b) => a.device_type == b.device_type && a.device_index == b.device_index;

    private static Tensor GivenNoise(Tensor noise, Tensor sample)
    {
        TensorChecks.Float32("variance_noise", noise);
        TensorChecks.SameShape("sample", sample, "variance_noise", noise);
        return SameDevice(noise, sample) ? noise.alias() : noise.to(sample.device);
    }
}
