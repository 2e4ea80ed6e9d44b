using Microsoft.FSharp.Core;
using Schedulers.Core;
using static TorchSharp.torch;

namespace Schedulers;

/// <summary>diffusers' <c>DDIMSchedulerOutput</c>: the previous sample and the predicted clean sample.</summary>
/// <param name="PrevSample">x at the previous timestep (<c>prev_sample</c>).</param>
/// <param name="PredOriginalSample">The predicted x0, after clipping or thresholding (<c>pred_original_sample</c>).</param>
public sealed record DDIMSchedulerOutput(Tensor PrevSample, Tensor PredOriginalSample);

/// <summary>
/// diffusers' <c>DDIMScheduler</c> (Song et al. 2021, "Denoising Diffusion Implicit Models") over TorchSharp tensors on
/// any device: the core's <see cref="Ddim"/> maths with <see cref="TorchBackend"/>. <c>eta</c> = 0 is deterministic DDIM;
/// <c>eta</c> = 1 the DDPM posterior's variance, its noise drawn from a <see cref="Generator"/> as diffusers'
/// <c>randn_tensor</c> draws it (or given as <c>variance_noise</c>). An instance may be shared between threads: a
/// <see cref="SetTimesteps"/> that overlaps another change is refused, never lost.
/// </summary>
public sealed class DDIMScheduler : SchedulerBase<DDIMScheduler, DdimConfig>, ISchedulerClass<DDIMScheduler, DdimConfig>
{
    private readonly StateSlot<DdimState> _state;

    /// <summary>A scheduler with the given config (diffusers' defaults when null; validated, an invalid value throws
    /// an <see cref="ArgumentException"/> naming its key).</summary>
    public DDIMScheduler(DdimConfig? config = null)
    {
        _state = new StateSlot<DdimState>(Ddim.create(config ?? Ddim.defaults), nameof(DDIMScheduler));
    }

    static ConfigSchema<DdimConfig> ISchedulerClass<DDIMScheduler, DdimConfig>.Schema => DdimConfig.Schema;

    static DDIMScheduler ISchedulerClass<DDIMScheduler, DdimConfig>.Create(DdimConfig config) => new(config);

    /// <inheritdoc />
    public override DdimConfig Config => State.Config;

    /// <summary>The immutable core state (tables and timesteps).</summary>
    public DdimState State => _state.Current;

    /// <summary>diffusers' <c>order</c>: 1.</summary>
    public int Order => 1;

    /// <summary><c>init_noise_sigma</c>: 1.</summary>
    public double InitNoiseSigma => Ddim.initNoiseSigma;

    /// <summary><c>num_inference_steps</c>, or null before <see cref="SetTimesteps"/>.</summary>
    public int? NumInferenceSteps => State.NumInferenceSteps?.Value;

    /// <summary><c>timesteps</c> (int64, descending; all N training timesteps before <see cref="SetTimesteps"/>).</summary>
    public long[] Timesteps => (long[])State.Timesteps.Clone();

    /// <summary><c>alphas_cumprod</c> (float32).</summary>
    public float[] AlphasCumprod => (float[])State.Common.AlphasCumprod.Clone();

    /// <summary><c>set_timesteps(num_inference_steps)</c> with the config's <c>timestep_spacing</c>.</summary>
    public void SetTimesteps(int numInferenceSteps) =>
        _state.Update(state => Ddim.setTimesteps(numInferenceSteps, state), nameof(SetTimesteps));

    /// <summary><c>begin_index</c>: where a run starts (img2img), or null for the whole schedule.</summary>
    public int? BeginIndex => State.BeginIndex?.Value;

    /// <summary><c>set_begin_index(begin_index)</c>: runs start at <c>Timesteps[beginIndex]</c> (img2img: the sample is
    /// <see cref="AddNoise"/> at that timestep).</summary>
    public void SetBeginIndex(int beginIndex) =>
        _state.Update(state => Ddim.setBeginIndex(beginIndex, state), nameof(SetBeginIndex));

    /// <summary><c>scale_model_input</c>: the sample unchanged.</summary>
    public Tensor ScaleModelInput(Tensor sample, long? timestep = null)
    {
        ArgumentNullException.ThrowIfNull(sample);
        return sample;
    }

    /// <summary>
    /// <c>step(model_output, timestep, sample, eta, use_clipped_model_output, generator, variance_noise)</c>: one DDIM
    /// step on the sample's device. With <paramref name="eta"/> &gt; 0 one full-shape normal is drawn from
    /// <paramref name="generator"/> (the default generator when null) unless <paramref name="varianceNoise"/> is given.
    /// </summary>
    public DDIMSchedulerOutput Step(
        Tensor modelOutput, long timestep, Tensor sample, double eta = 0.0, bool useClippedModelOutput = false,
        Generator? generator = null, Tensor? varianceNoise = null)
    {
        if (generator is not null && varianceNoise is not null)
            throw new ArgumentException("generator and variance_noise cannot both be given: the noise comes from one of them", nameof(varianceNoise));
        return StepWith(modelOutput, timestep, sample, eta, useClippedModelOutput, NoiseSource.Of(generator), varianceNoise);
    }

    /// <summary><c>step</c> drawing its normal (when <paramref name="eta"/> &gt; 0) from <paramref name="noise"/> (a
    /// managed torch stream, a generator or a key).</summary>
    public DDIMSchedulerOutput Step(
        Tensor modelOutput, long timestep, Tensor sample, NoiseSource noise, double eta = 0.0, bool useClippedModelOutput = false)
    {
        ArgumentNullException.ThrowIfNull(noise);
        return StepWith(modelOutput, timestep, sample, eta, useClippedModelOutput, noise, null);
    }

    private DDIMSchedulerOutput StepWith(
        Tensor modelOutput, long timestep, Tensor sample, double eta, bool useClippedModelOutput, NoiseSource source, Tensor? varianceNoise)
    {
        ArgumentNullException.ThrowIfNull(modelOutput);
        ArgumentNullException.ThrowIfNull(sample);
        var state = State;
        if (state.NumInferenceSteps is null)
            throw new InvalidOperationException("the number of inference steps is not set; call SetTimesteps before Step");
        var noise = varianceNoise is not null
            ? StepNoise<Tensor, NoiseSource>.NewTensor(FuncConvert.FromFunc<Unit, Tensor>(_ =>
                varianceNoise.to(modelOutput.dtype).to(modelOutput.device).alias()))
            : Noise.ForStep(source, modelOutput, TensorShapes.Of(modelOutput));
        var output = Ddim.stepWith(TorchBackend.Instance, state, modelOutput, timestep, sample, eta, useClippedModelOutput,
            FSharpValueOption<StepNoise<Tensor, NoiseSource>>.NewValueSome(noise));
        return new DDIMSchedulerOutput(output.PrevSample, output.PredOriginalSample);
    }

    /// <summary><c>add_noise(original_samples, noise, timesteps)</c>: √ᾱ_t·x + √(1 − ᾱ_t)·ε, one timestep per batch element.</summary>
    public Tensor AddNoise(Tensor originalSamples, Tensor noise, long[] timesteps)
    {
        ArgumentNullException.ThrowIfNull(originalSamples);
        ArgumentNullException.ThrowIfNull(noise);
        ArgumentNullException.ThrowIfNull(timesteps);
        return Ddim.addNoiseOn(TorchBackend.Instance, State, originalSamples, noise, timesteps);
    }

    /// <summary><c>get_velocity(sample, noise, timesteps)</c>: √ᾱ_t·ε − √(1 − ᾱ_t)·x, one timestep per batch element.</summary>
    public Tensor GetVelocity(Tensor sample, Tensor noise, long[] timesteps)
    {
        ArgumentNullException.ThrowIfNull(sample);
        ArgumentNullException.ThrowIfNull(noise);
        ArgumentNullException.ThrowIfNull(timesteps);
        return Ddim.getVelocityOn(TorchBackend.Instance, State, sample, noise, timesteps);
    }
}
