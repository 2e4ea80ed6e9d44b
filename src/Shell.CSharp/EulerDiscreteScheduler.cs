using Microsoft.FSharp.Core;
using Schedulers.Core;
using static TorchSharp.torch;

namespace Schedulers;

/// <summary>diffusers' <c>EulerDiscreteSchedulerOutput</c>: the next sample and the denoised sample.</summary>
/// <param name="PrevSample">x at the next sigma (<c>prev_sample</c>).</param>
/// <param name="PredOriginalSample">The predicted x0 (<c>pred_original_sample</c>).</param>
public sealed record EulerDiscreteSchedulerOutput(Tensor PrevSample, Tensor PredOriginalSample);

/// <summary>
/// diffusers' <c>EulerDiscreteScheduler</c> (the Euler sampler of Karras et al. 2022 on the VE sigmas
/// σ = √((1 − ᾱ)/ᾱ) of a VP training schedule) over TorchSharp tensors on any device: the core's <see cref="Euler"/>
/// maths with <see cref="TorchBackend"/>. With <c>s_churn</c> &gt; 0 a step first raises the noise level, drawing a
/// normal from a <see cref="Generator"/> as diffusers' <c>randn_tensor</c> does. Timesteps are float32. An instance
/// may be shared between threads: a change that overlaps another one is refused, never lost.
/// </summary>
public sealed class EulerDiscreteScheduler : SchedulerBase<EulerDiscreteScheduler, EulerConfig>, ISchedulerClass<EulerDiscreteScheduler, EulerConfig>
{
    private readonly StateSlot<EulerState> _state;

    /// <summary>A scheduler with the given config (diffusers' defaults when null; validated, an invalid value throws
    /// an <see cref="ArgumentException"/> naming its key).</summary>
    public EulerDiscreteScheduler(EulerConfig? config = null)
    {
        _state = new StateSlot<EulerState>(Euler.create(config ?? Euler.defaults), nameof(EulerDiscreteScheduler));
    }

    static ConfigSchema<EulerConfig> ISchedulerClass<EulerDiscreteScheduler, EulerConfig>.Schema => EulerConfig.Schema;

    static EulerDiscreteScheduler ISchedulerClass<EulerDiscreteScheduler, EulerConfig>.Create(EulerConfig config) => new(config);

    /// <inheritdoc />
    public override EulerConfig Config => State.Config;

    /// <summary>The immutable core state (tables, timesteps, sigmas and indices).</summary>
    public EulerState State => _state.Current;

    /// <summary>diffusers' <c>order</c>: 1.</summary>
    public int Order => 1;

    /// <summary><c>init_noise_sigma</c>: the largest sigma, or √(σ_max² + 1) with "leading" spacing.</summary>
    public double InitNoiseSigma => Euler.initNoiseSigma(State);

    /// <summary><c>num_inference_steps</c>, or null before <see cref="SetTimesteps(int)"/>.</summary>
    public int? NumInferenceSteps => OptionModule.IsSome(State.NumInferenceSteps) ? State.NumInferenceSteps!.Value : null;

    /// <summary><c>step_index</c>, or null before the first <see cref="ScaleModelInput"/> or <c>Step</c>.</summary>
    public int? StepIndex => OptionModule.IsSome(State.StepIndex) ? State.StepIndex!.Value : null;

    /// <summary><c>begin_index</c>, or null unless <see cref="SetBeginIndex"/> was called.</summary>
    public int? BeginIndex => OptionModule.IsSome(State.BeginIndex) ? State.BeginIndex!.Value : null;

    /// <summary><c>timesteps</c> (float32, in loop order).</summary>
    public float[] Timesteps => (float[])State.Timesteps.Clone();

    /// <summary><c>sigmas</c> (float32, one per timestep, then the final sigma).</summary>
    public float[] Sigmas => (float[])State.Sigmas.Clone();

    /// <summary><c>alphas_cumprod</c> (float32).</summary>
    public float[] AlphasCumprod => (float[])State.Common.AlphasCumprod.Clone();

    /// <summary>diffusers' <c>len(scheduler)</c>: <c>num_train_timesteps</c>.</summary>
    public int Length => State.Config.NumTrainTimesteps;

    /// <summary><c>set_timesteps(num_inference_steps)</c> with the config's spacing, interpolation and sigma schedule.</summary>
    public void SetTimesteps(int numInferenceSteps) =>
        _state.Update(state => Euler.setTimesteps(numInferenceSteps, state), nameof(SetTimesteps));

    /// <summary><c>set_timesteps(timesteps=…)</c>: custom timesteps, their sigmas interpolated from the training ones.</summary>
    public void SetTimesteps(float[] timesteps)
    {
        ArgumentNullException.ThrowIfNull(timesteps);
        var copy = (float[])timesteps.Clone();
        _state.Update(state => Euler.setTimestepsWith(null, copy, null, state), nameof(SetTimesteps));
    }

    /// <summary><c>set_timesteps(sigmas=…)</c>: custom sigmas (the last is the final one), their timesteps found by
    /// interpolating in log σ.</summary>
    public void SetSigmas(double[] sigmas)
    {
        ArgumentNullException.ThrowIfNull(sigmas);
        var copy = (double[])sigmas.Clone();
        _state.Update(state => Euler.setTimestepsWith(null, null, copy, state), nameof(SetTimesteps));
    }

    /// <summary><c>set_begin_index(begin_index)</c>.</summary>
    public void SetBeginIndex(int beginIndex = 0) =>
        _state.Update(state => Euler.setBeginIndex(beginIndex, state), nameof(SetBeginIndex));

    /// <summary><c>scale_model_input(sample, timestep)</c>: x/√(σ² + 1) at the current step (the step index is set from
    /// <paramref name="timestep"/> when it is not set yet).</summary>
    public Tensor ScaleModelInput(Tensor sample, float timestep)
    {
        ArgumentNullException.ThrowIfNull(sample);
        var state = State;
        var r = Euler.scaleModelInputOn(TorchBackend.Instance, state, sample, timestep);
        if (!ReferenceEquals(r.Item2, state)) _state.Commit(state, r.Item2, nameof(ScaleModelInput), () => r.Item1.Dispose());
        return r.Item1;
    }

    /// <summary>
    /// <c>step(model_output, timestep, sample, s_churn, s_tmin, s_tmax, s_noise, generator)</c>: one Euler step on the
    /// sample's device; advances <see cref="StepIndex"/>. When <paramref name="sChurn"/> makes γ &gt; 0 one
    /// full-shape normal is drawn from <paramref name="generator"/> (the default generator when null).
    /// </summary>
    public EulerDiscreteSchedulerOutput Step(
        Tensor modelOutput, float timestep, Tensor sample, double sChurn = 0.0, double sTmin = 0.0,
        double sTmax = double.PositiveInfinity, double sNoise = 1.0, Generator? generator = null) =>
        Step(modelOutput, timestep, sample, NoiseSource.Of(generator), sChurn, sTmin, sTmax, sNoise);

    /// <summary><c>step</c> drawing its churn normal (when γ &gt; 0) from <paramref name="noise"/> (a managed torch
    /// stream, a generator or a key).</summary>
    public EulerDiscreteSchedulerOutput Step(
        Tensor modelOutput, float timestep, Tensor sample, NoiseSource noise, double sChurn = 0.0, double sTmin = 0.0,
        double sTmax = double.PositiveInfinity, double sNoise = 1.0)
    {
        ArgumentNullException.ThrowIfNull(noise);
        ArgumentNullException.ThrowIfNull(modelOutput);
        ArgumentNullException.ThrowIfNull(sample);
        var state = State;
        if (OptionModule.IsNone(state.NumInferenceSteps))
            throw new InvalidOperationException("the number of inference steps is not set; call SetTimesteps before Step");
        var draw = FSharpValueOption<StepNoise<Tensor, NoiseSource>>.NewValueSome(
            Noise.ForStep(noise, modelOutput, TensorShapes.Of(modelOutput)));
        var churn = new EulerChurn(sChurn, sTmin, sTmax, sNoise);
        // diffusers upcasts the sample to float32 for the update and casts the result back to the model's dtype.
        var upcast = sample.dtype == ScalarType.Float32 ? sample : sample.to(ScalarType.Float32);
        var r = Euler.stepWith(TorchBackend.Instance, state, modelOutput, timestep, upcast, churn, draw);
        if (!ReferenceEquals(upcast, sample)) upcast.Dispose();
        var output = r.Item1;
        _state.Commit(state, r.Item2, nameof(Step), () =>
        {
            output.PrevSample.Dispose();
            if (!ReferenceEquals(output.PredOriginalSample, modelOutput)) output.PredOriginalSample.Dispose();
        });
        if (output.PrevSample.dtype == modelOutput.dtype) return new EulerDiscreteSchedulerOutput(output.PrevSample, output.PredOriginalSample);
        var prev = output.PrevSample.to(modelOutput.dtype);
        output.PrevSample.Dispose();
        return new EulerDiscreteSchedulerOutput(prev, output.PredOriginalSample);
    }

    /// <summary><c>add_noise(original_samples, noise, timesteps)</c>: x + σ·ε, with the sigma of each timestep's step
    /// (or of the begin/current step index once <see cref="SetBeginIndex"/> was called).</summary>
    public Tensor AddNoise(Tensor originalSamples, Tensor noise, float[] timesteps)
    {
        ArgumentNullException.ThrowIfNull(originalSamples);
        ArgumentNullException.ThrowIfNull(noise);
        ArgumentNullException.ThrowIfNull(timesteps);
        return Euler.addNoiseOn(TorchBackend.Instance, State, originalSamples, noise, timesteps);
    }

    /// <summary><c>get_velocity(sample, noise, timesteps)</c>: √ᾱ·ε − √(1 − ᾱ)·x with ᾱ read, as diffusers does, at
    /// each timestep's index in the inference schedule.</summary>
    public Tensor GetVelocity(Tensor sample, Tensor noise, float[] timesteps)
    {
        ArgumentNullException.ThrowIfNull(sample);
        ArgumentNullException.ThrowIfNull(noise);
        ArgumentNullException.ThrowIfNull(timesteps);
        return Euler.getVelocityOn(TorchBackend.Instance, State, sample, noise, timesteps);
    }
}
