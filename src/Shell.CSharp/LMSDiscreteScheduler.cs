using Microsoft.FSharp.Core;
using Schedulers.Core;
using static TorchSharp.torch;

namespace Schedulers;

/// <summary>diffusers' <c>LMSDiscreteSchedulerOutput</c>: the next sample and the predicted clean sample.</summary>
/// <param name="PrevSample">x at the next sigma (<c>prev_sample</c>).</param>
/// <param name="PredOriginalSample">The predicted x0 (<c>pred_original_sample</c>).</param>
public sealed record LMSDiscreteSchedulerOutput(Tensor PrevSample, Tensor PredOriginalSample);

/// <summary>
/// diffusers' <c>LMSDiscreteScheduler</c>: the linear multistep sampler on the VE-parameterised sigmas (Karras et al.
/// 2022, k-diffusion's <c>sample_lms</c>) over TorchSharp tensors on any device, with the core's <see cref="Lms"/>
/// maths and <see cref="TorchBackend"/>. The coefficients integrate the Lagrange basis over the sigmas numerically.
/// An instance may be shared between threads only to read it: a step that overlaps another change is refused, never
/// lost.
/// </summary>
public sealed class LMSDiscreteScheduler : SchedulerBase<LMSDiscreteScheduler, LmsConfig>, ISchedulerClass<LMSDiscreteScheduler, LmsConfig>
{
    private readonly StateSlot<LmsState<Tensor>> _state;

    /// <summary>A scheduler with the given config (diffusers' defaults when null; validated, an invalid value throws
    /// an <see cref="ArgumentException"/> naming its key).</summary>
    public LMSDiscreteScheduler(LmsConfig? config = null)
    {
        _state = new StateSlot<LmsState<Tensor>>(Lms.create<Tensor>(config ?? Lms.defaults), nameof(LMSDiscreteScheduler));
    }

    static ConfigSchema<LmsConfig> ISchedulerClass<LMSDiscreteScheduler, LmsConfig>.Schema => LmsConfig.Schema;

    static LMSDiscreteScheduler ISchedulerClass<LMSDiscreteScheduler, LmsConfig>.Create(LmsConfig config) => new(config);

    /// <inheritdoc />
    public override LmsConfig Config => State.Config;

    /// <summary>The immutable core state (tables, timesteps, sigmas, derivative history, indices).</summary>
    public LmsState<Tensor> State => _state.Current;

    /// <summary>diffusers' <c>order</c>: 1 (one model evaluation per step).</summary>
    public int Order => 1;

    /// <summary><c>init_noise_sigma</c>: the largest sigma (linspace, trailing) or √(σ_max² + 1) (leading).</summary>
    public double InitNoiseSigma => Lms.initNoiseSigma(State);

    /// <summary><c>num_inference_steps</c> (the number of training timesteps until <see cref="SetTimesteps"/>).</summary>
    public int NumInferenceSteps => State.NumInferenceSteps;

    /// <summary><c>timesteps</c> (float32, descending).</summary>
    public float[] Timesteps => (float[])State.Timesteps.Clone();

    /// <summary><c>sigmas</c>: the sigmas of the timesteps followed by 0 (float32).</summary>
    public float[] Sigmas => (float[])State.Sigmas.Clone();

    /// <summary><c>alphas_cumprod</c> (float32).</summary>
    public float[] AlphasCumprod => (float[])State.Common.AlphasCumprod.Clone();

    /// <summary><c>step_index</c>, or null before the first <see cref="ScaleModelInput"/> or <see cref="Step"/>.</summary>
    public int? StepIndex => OptionModule.IsSome(State.StepIndex) ? State.StepIndex!.Value : null;

    /// <summary><c>begin_index</c>, or null unless <see cref="SetBeginIndex"/> set it.</summary>
    public int? BeginIndex => OptionModule.IsSome(State.BeginIndex) ? State.BeginIndex!.Value : null;

    /// <summary>The number of training timesteps (<c>len(scheduler)</c>).</summary>
    public int Length => State.Config.NumTrainTimesteps;

    /// <summary><c>set_timesteps(num_inference_steps)</c>: the config's spacing and sigma option; clears the history.</summary>
    public void SetTimesteps(int numInferenceSteps) =>
        _state.Update(state => Lms.setTimesteps(numInferenceSteps, state), nameof(SetTimesteps));

    /// <summary><c>set_begin_index(i)</c>: the first step starts at index <paramref name="beginIndex"/>.</summary>
    public void SetBeginIndex(int beginIndex = 0) =>
        _state.Update(state => Lms.setBeginIndex(beginIndex, state), nameof(SetBeginIndex));

    /// <summary><c>scale_model_input(sample, timestep)</c>: x/√(σ² + 1) with σ at the step index (looked up from the
    /// timestep on the first call).</summary>
    public Tensor ScaleModelInput(Tensor sample, float timestep)
    {
        ArgumentNullException.ThrowIfNull(sample);
        var state = State;
        var r = Lms.scaleModelInputOn(TorchBackend.Instance, state, sample, timestep);
        _state.Commit(state, r.Item1, nameof(ScaleModelInput), () => r.Item2.Dispose());
        return r.Item2;
    }

    /// <summary>
    /// <c>step(model_output, timestep, sample, order)</c>: one linear multistep step on the sample's device. The
    /// derivative (x − x0)/σ joins the history (the last <paramref name="order"/> kept) and the update uses
    /// min(step index + 1, <paramref name="order"/>) of them.
    /// </summary>
    public LMSDiscreteSchedulerOutput Step(Tensor modelOutput, float timestep, Tensor sample, int order = 4)
    {
        ArgumentNullException.ThrowIfNull(modelOutput);
        ArgumentNullException.ThrowIfNull(sample);
        var state = State;
        LmsOutput<Tensor> r;
        Tensor prev, pred;
        using (NewDisposeScope())
        {
            r = Lms.stepOn(TorchBackend.Instance, state, modelOutput, timestep, sample, order);
            // The newest derivative belongs to the scheduler's history: no dispose scope may free it.
            r.State.Derivatives[^1].DetachFromDisposeScope();
            prev = r.PrevSample.MoveToOuterDisposeScope();
            pred = ReferenceEquals(r.PredOriginalSample, modelOutput) ? modelOutput : r.PredOriginalSample.MoveToOuterDisposeScope();
        }
        var newest = r.State.Derivatives[^1];
        _state.Commit(state, r.State, nameof(Step), () =>
        {
            newest.Dispose();
            prev.Dispose();
            if (!ReferenceEquals(pred, modelOutput)) pred.Dispose();
        });
        return new LMSDiscreteSchedulerOutput(prev, pred);
    }

    /// <summary><c>add_noise(original_samples, noise, timesteps)</c>: x + σ·ε with σ of each batch element's timestep
    /// (its position in <see cref="Timesteps"/>, or the begin/step index when set).</summary>
    public Tensor AddNoise(Tensor originalSamples, Tensor noise, float[] timesteps)
    {
        ArgumentNullException.ThrowIfNull(originalSamples);
        ArgumentNullException.ThrowIfNull(noise);
        ArgumentNullException.ThrowIfNull(timesteps);
        return Lms.addNoiseOn(TorchBackend.Instance, State, originalSamples, noise, timesteps);
    }
}
