using Schedulers.Core;
using static TorchSharp.torch;

namespace Schedulers;

/// <summary>diffusers' <c>DDPMSchedulerOutput</c>: the previous sample and the predicted clean sample.</summary>
/// <param name="PrevSample">x at the previous timestep (<c>prev_sample</c>).</param>
/// <param name="PredOriginalSample">The predicted x0, after clipping or thresholding (<c>pred_original_sample</c>).</param>
public sealed record DDPMSchedulerOutput(Tensor PrevSample, Tensor PredOriginalSample);

/// <summary>
/// diffusers' <c>DDPMScheduler</c> (Ho et al. 2020, "Denoising Diffusion Probabilistic Models") over TorchSharp tensors
/// on any device: the core's <see cref="Ddpm"/> maths with <see cref="TorchBackend"/>. Every step with t &gt; 0 adds the
/// posterior noise, drawn from a <see cref="Generator"/> as diffusers' <c>randn_tensor</c> draws it. With
/// <c>variance_type</c> "learned" or "learned_range" the model output has twice the sample's channels, the second half
/// the variance. An instance may be shared between threads: a <see cref="SetTimesteps(int)"/> that overlaps another
/// change is refused, never lost.
/// </summary>
public sealed class DDPMScheduler : SchedulerBase<DDPMScheduler, DdpmConfig>, ISchedulerClass<DDPMScheduler, DdpmConfig>
{
    private readonly StateSlot<DdpmState> _state;

    /// <summary>A scheduler with the given config (diffusers' defaults when null; validated, an invalid value throws
    /// an <see cref="ArgumentException"/> naming its key).</summary>
    public DDPMScheduler(DdpmConfig? config = null)
    {
        _state = new StateSlot<DdpmState>(Ddpm.create(config ?? Ddpm.defaults), nameof(DDPMScheduler));
    }

    static ConfigSchema<DdpmConfig> ISchedulerClass<DDPMScheduler, DdpmConfig>.Schema => DdpmConfig.Schema;

    static DDPMScheduler ISchedulerClass<DDPMScheduler, DdpmConfig>.Create(DdpmConfig config) => new(config);

    /// <inheritdoc />
    public override DdpmConfig Config => State.Config;

    /// <summary>The immutable core state (tables and timesteps).</summary>
    public DdpmState State => _state.Current;

    /// <summary>diffusers' <c>order</c>: 1.</summary>
    public int Order => 1;

    /// <summary><c>init_noise_sigma</c>: 1.</summary>
    public double InitNoiseSigma => Ddpm.initNoiseSigma;

    /// <summary><c>num_inference_steps</c>, or null before <see cref="SetTimesteps(int)"/> and with custom timesteps.</summary>
    public int? NumInferenceSteps => State.NumInferenceSteps?.Value;

    /// <summary><c>custom_timesteps</c>: whether the timesteps were given to <see cref="SetTimesteps(long[])"/>.</summary>
    public bool CustomTimesteps => State.CustomTimesteps;

    /// <summary><c>timesteps</c> (int64, descending; all N training timesteps before <see cref="SetTimesteps(int)"/>).</summary>
    public long[] Timesteps => (long[])State.Timesteps.Clone();

    /// <summary><c>alphas_cumprod</c> (float32).</summary>
    public float[] AlphasCumprod => (float[])State.Common.AlphasCumprod.Clone();

    /// <summary><c>set_timesteps(num_inference_steps)</c> with the config's <c>timestep_spacing</c>.</summary>
    public void SetTimesteps(int numInferenceSteps) =>
        _state.Update(state => Ddpm.setTimesteps(numInferenceSteps, state), nameof(SetTimesteps));

    /// <summary><c>set_timesteps(timesteps=…)</c>: custom timesteps, strictly descending, each in [0, N).</summary>
    public void SetTimesteps(long[] timesteps)
    {
        ArgumentNullException.ThrowIfNull(timesteps);
        _state.Update(state => Ddpm.setTimestepsCustom(timesteps, state), nameof(SetTimesteps));
    }

    /// <summary><c>previous_timestep(timestep)</c>: the next of the timesteps (−1 after the last) once they are set,
    /// else <c>timestep − 1</c>.</summary>
    public long PreviousTimestep(long timestep) => Ddpm.previousTimestep(State, timestep);

    /// <summary><c>scale_model_input</c>: the sample unchanged.</summary>
    public Tensor ScaleModelInput(Tensor sample, long? timestep = null)
    {
        ArgumentNullException.ThrowIfNull(sample);
        return sample;
    }

    /// <summary>
    /// <c>step(model_output, timestep, sample, generator)</c>: one DDPM step on the sample's device. For
    /// <paramref name="timestep"/> &gt; 0 one normal of the sample's shape is drawn from <paramref name="generator"/>
    /// (the default generator when null).
    /// </summary>
    public DDPMSchedulerOutput Step(Tensor modelOutput, long timestep, Tensor sample, Generator? generator = null) =>
        Step(modelOutput, timestep, sample, NoiseSource.Of(generator));

    /// <summary><c>step</c> drawing its normal from <paramref name="noise"/> (a managed torch stream, a generator or a key).</summary>
    public DDPMSchedulerOutput Step(Tensor modelOutput, long timestep, Tensor sample, NoiseSource noise)
    {
        ArgumentNullException.ThrowIfNull(modelOutput);
        ArgumentNullException.ThrowIfNull(sample);
        ArgumentNullException.ThrowIfNull(noise);
        var state = State;
        var output = Ddpm.stepWith(TorchBackend.Instance, state, modelOutput, timestep, sample,
            Noise.ForStep(noise, modelOutput, TensorShapes.Of(sample)));
        return new DDPMSchedulerOutput(output.PrevSample, output.PredOriginalSample);
    }

    /// <summary><c>add_noise(original_samples, noise, timesteps)</c>: √ᾱ_t·x + √(1 − ᾱ_t)·ε, one timestep per batch element.</summary>
    public Tensor AddNoise(Tensor originalSamples, Tensor noise, long[] timesteps)
    {
        ArgumentNullException.ThrowIfNull(originalSamples);
        ArgumentNullException.ThrowIfNull(noise);
        ArgumentNullException.ThrowIfNull(timesteps);
        return Ddpm.addNoiseOn(TorchBackend.Instance, State, originalSamples, noise, timesteps);
    }

    /// <summary><c>get_velocity(sample, noise, timesteps)</c>: √ᾱ_t·ε − √(1 − ᾱ_t)·x, one timestep per batch element.</summary>
    public Tensor GetVelocity(Tensor sample, Tensor noise, long[] timesteps)
    {
        ArgumentNullException.ThrowIfNull(sample);
        ArgumentNullException.ThrowIfNull(noise);
        ArgumentNullException.ThrowIfNull(timesteps);
        return Ddpm.getVelocityOn(TorchBackend.Instance, State, sample, noise, timesteps);
    }
}
