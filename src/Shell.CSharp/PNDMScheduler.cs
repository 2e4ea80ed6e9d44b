using Microsoft.FSharp.Collections;
using Microsoft.FSharp.Core;
using Schedulers.Core;
using static TorchSharp.torch;

namespace Schedulers;

/// <summary>
/// diffusers' <c>PNDMScheduler</c> (Liu et al. 2022, "Pseudo Numerical Methods for Diffusion Models on Manifolds")
/// over TorchSharp tensors on any device: the core's <see cref="Pndm"/> maths with <see cref="TorchBackend"/>. A run
/// takes one <see cref="Step"/> per entry of <see cref="Timesteps"/>: the Runge–Kutta warm-up (12 entries, four per
/// step, unless <c>skip_prk_steps</c>) then the linear multistep steps. The history (<c>ets</c>, <c>counter</c>,
/// <c>cur_sample</c>, <c>cur_model_output</c>) lives in the immutable core state; the scheduler keeps its own handles
/// to the tensors it holds, so a caller may dispose its model outputs and samples. An instance may be shared between
/// threads: a change that overlaps another is refused, never lost.
/// </summary>
public sealed class PNDMScheduler : SchedulerBase<PNDMScheduler, PndmConfig>, ISchedulerClass<PNDMScheduler, PndmConfig>
{
    private readonly StateSlot<PndmState<Tensor>> _state;

    /// <summary>A scheduler with the given config (diffusers' defaults when null; validated, an invalid value throws
    /// an <see cref="ArgumentException"/> naming its key).</summary>
    public PNDMScheduler(PndmConfig? config = null)
    {
        _state = new StateSlot<PndmState<Tensor>>(Pndm.create<Tensor>(config ?? Pndm.defaults), nameof(PNDMScheduler));
    }

    static ConfigSchema<PndmConfig> ISchedulerClass<PNDMScheduler, PndmConfig>.Schema => PndmConfig.Schema;

    static PNDMScheduler ISchedulerClass<PNDMScheduler, PndmConfig>.Create(PndmConfig config) => new(config);

    /// <inheritdoc />
    public override PndmConfig Config => State.Config;

    /// <summary>The immutable core state (tables, timesteps and the multistep history).</summary>
    public PndmState<Tensor> State => _state.Current;

    /// <summary>diffusers' <c>order</c>: 1.</summary>
    public int Order => 1;

    /// <summary><c>pndm_order</c>: 4, the order of the linear multistep method.</summary>
    public int PndmOrder => Pndm.pndmOrder;

    /// <summary><c>init_noise_sigma</c>: 1.</summary>
    public double InitNoiseSigma => Pndm.initNoiseSigma;

    /// <summary><c>num_inference_steps</c>, or null before <see cref="SetTimesteps"/>.</summary>
    public int? NumInferenceSteps => State.NumInferenceSteps?.Value;

    /// <summary><c>timesteps</c>: the Runge–Kutta stage's then the linear multistep stage's (int64; all N training
    /// timesteps, descending, before <see cref="SetTimesteps"/>).</summary>
    public long[] Timesteps => (long[])State.Timesteps.Clone();

    /// <summary><c>prk_timesteps</c> (empty when the Runge–Kutta stage is skipped or before <see cref="SetTimesteps"/>).</summary>
    public long[] PrkTimesteps => (long[])State.PrkTimesteps.Clone();

    /// <summary><c>plms_timesteps</c> (empty before <see cref="SetTimesteps"/>).</summary>
    public long[] PlmsTimesteps => (long[])State.PlmsTimesteps.Clone();

    /// <summary><c>counter</c>: the steps taken since <see cref="SetTimesteps"/>.</summary>
    public int Counter => State.Counter;

    /// <summary><c>alphas_cumprod</c> (float32).</summary>
    public float[] AlphasCumprod => (float[])State.Common.AlphasCumprod.Clone();

    /// <summary><c>set_timesteps(num_inference_steps)</c>: the config's <c>timestep_spacing</c>, the two stages, and
    /// an empty history. With PRK steps and fewer than four inference steps (where diffusers raises) the steps are
    /// those of <c>skip_prk_steps</c>.</summary>
    public void SetTimesteps(int numInferenceSteps) =>
        _state.Update(state => Pndm.setTimesteps(numInferenceSteps, state), nameof(SetTimesteps));

    /// <summary><c>scale_model_input</c>: the sample unchanged.</summary>
    public Tensor ScaleModelInput(Tensor sample, long? timestep = null)
    {
        ArgumentNullException.ThrowIfNull(sample);
        return sample;
    }

    /// <summary>
    /// <c>step(model_output, timestep, sample)</c>: <c>step_prk</c> while the Runge–Kutta stage lasts, then
    /// <c>step_plms</c>, on the sample's device; the history moves on to the next state.
    /// </summary>
    public SchedulerOutput Step(Tensor modelOutput, long timestep, Tensor sample)
    {
        ArgumentNullException.ThrowIfNull(modelOutput);
        ArgumentNullException.ThrowIfNull(sample);
        var state = State;
        if (state.NumInferenceSteps is null)
            throw new InvalidOperationException("the number of inference steps is not set; call SetTimesteps before Step");
        if (modelOutput.device_type != sample.device_type || modelOutput.device_index != sample.device_index)
            throw new ArgumentException($"model_output is on {modelOutput.device} but sample is on {sample.device}", nameof(modelOutput));
        PndmState<Tensor> next;
        Tensor prev;
        var added = new List<Tensor>();
        using (NewDisposeScope())
        {
            // The state may keep the model output and the sample: it holds its own handles to them.
            var output = modelOutput.alias();
            var x = sample.alias();
            var result = Pndm.stepOn(TorchBackend.Instance, state, output, timestep, x);
            next = result.Item1;
            var held = Pndm.stateTensors(state);
            foreach (var t in Pndm.stateTensors(next))
            {
                if (ListModule.Exists(FuncConvert.FromFunc<Tensor, bool>(h => ReferenceEquals(h, t)), held)) continue;
                // A tensor the new state holds first belongs to the scheduler: this scope may not free it.
                t.DetachFromDisposeScope();
                added.Add(t);
            }
            prev = result.Item2.PrevSample.MoveToOuterDisposeScope();
        }
        _state.Commit(state, next, nameof(Step), () =>
        {
            // Refused: the new history entries and the output were this call's alone.
            foreach (var t in added) t.Dispose();
            prev.Dispose();
        });
        return new SchedulerOutput(prev);
    }

    /// <summary><c>add_noise(original_samples, noise, timesteps)</c>: √ᾱ_t·x + √(1 − ᾱ_t)·ε, one timestep per batch element.</summary>
    public Tensor AddNoise(Tensor originalSamples, Tensor noise, long[] timesteps)
    {
        ArgumentNullException.ThrowIfNull(originalSamples);
        ArgumentNullException.ThrowIfNull(noise);
        ArgumentNullException.ThrowIfNull(timesteps);
        return Pndm.addNoiseOn(TorchBackend.Instance, State, originalSamples, noise, timesteps);
    }
}
