using Microsoft.FSharp.Core;
using Schedulers.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Schedulers;

/// <summary>
/// diffusers' <c>DPMSolverMultistepScheduler</c> (DPM-Solver and DPM-Solver++, orders 1–3, ODE and SDE variants) over
/// TorchSharp tensors on any device. It holds an immutable core state (<see cref="State"/>) and swaps it on every
/// call; the maths is the core's <see cref="DpmSolverMultistep"/>, run with <see cref="TorchBackend"/>.
/// <para>Thread safety: an instance may be shared between threads. Every call reads one whole state, and
/// <see cref="Step(Tensor, long, Tensor, Generator?, Tensor?)"/>, <see cref="SetTimesteps(int, Device?, double?)"/> and
/// <see cref="SetBeginIndex"/> replace the state they started from in one compare-and-swap; a call that overlaps
/// another change of the same instance (two threads stepping it at once) is refused with an
/// <see cref="InvalidOperationException"/> and the other call's update is kept, so no step is ever lost or applied
/// twice silently. A multistep sampler is sequential: share an instance only to read it.</para>
/// </summary>
public sealed partial class DPMSolverMultistepScheduler
{
    /// <summary>The core state with the device its timesteps are reported on, swapped together.</summary>
    private sealed record Held(DpmSolverState<Tensor> State, Device TimestepsDevice);

    private readonly StateSlot<Held> _held;

    /// <summary>A scheduler with the given config (diffusers defaults when null); throws <see cref="ArgumentException"/> naming a bad key.</summary>
    public DPMSolverMultistepScheduler(DpmSolverConfig? config = null)
    {
        _held = new StateSlot<Held>(new Held(DpmSolverMultistep.create<Tensor>(config ?? DpmSolverConfig.Schema.Defaults), CPU), nameof(DPMSolverMultistepScheduler));
    }

    /// <summary>A scheduler from diffusers config keys (<c>solver_order</c>, <c>algorithm_type</c>, …) over the defaults.</summary>
    public DPMSolverMultistepScheduler(IEnumerable<KeyValuePair<string, object?>> overrides)
        : this(FromPairs(overrides))
    {
    }

    private static DpmSolverConfig FromPairs(IEnumerable<KeyValuePair<string, object?>> overrides)
    {
        ArgumentNullException.ThrowIfNull(overrides);
        return DpmSolverConfig.Schema.SetValues(overrides, DpmSolverConfig.Schema.Defaults);
    }

    /// <summary>The immutable core state (config, tables, timesteps, sigmas, history, indices).</summary>
    public DpmSolverState<Tensor> State => _held.Current.State;

    /// <summary>
    /// Replaces <paramref name="expected"/> with <paramref name="next"/> (a loop's step), or refuses when the
    /// scheduler changed in between; the model-output history of <paramref name="next"/> is detached from dispose
    /// scopes, as <see cref="Step(Tensor, long, Tensor, Generator?, Tensor?)"/> keeps it.
    /// </summary>
    internal void CommitState(DpmSolverState<Tensor> expected, DpmSolverState<Tensor> next, string operation)
    {
        var held = _held.Current;
        if (!ReferenceEquals(held.State, expected))
            throw new InvalidOperationException($"{nameof(DPMSolverMultistepScheduler)} changed while {operation} ran; the run's state was not kept");
        foreach (var output in next.ModelOutputs)
        {
            if (output is not null) output.Value.DetachFromDisposeScope();
        }
        _held.Commit(held, held with { State = next }, operation);
    }

    /// <summary>The validated config.</summary>
    public override DpmSolverConfig Config => State.Config;

    /// <summary><c>init_noise_sigma</c>: the standard deviation of the initial noise (1).</summary>
    public float InitNoiseSigma => DpmSolverMultistep.initNoiseSigma;

    /// <summary>diffusers' class attribute <c>order</c> (1: one model evaluation per step).</summary>
    public int Order => 1;

    /// <summary>The number of inference steps after <see cref="SetTimesteps(int, Device?, double?)"/>, else null.</summary>
    public int? NumInferenceSteps => OptionModule.IsSome(State.NumInferenceSteps) ? State.NumInferenceSteps!.Value : null;

    /// <summary>The index of the next step, once a step has run.</summary>
    public int? StepIndex => OptionModule.IsSome(State.StepIndex) ? State.StepIndex!.Value : null;

    /// <summary>The index the first step starts from, when set.</summary>
    public int? BeginIndex => OptionModule.IsSome(State.BeginIndex) ? State.BeginIndex!.Value : null;

    /// <summary>The timesteps (int64, descending) on the device given to set_timesteps.</summary>
    public Tensor Timesteps
    {
        get
        {
            var held = _held.Current;
            return tensor(held.State.Timesteps, ScalarType.Int64, held.TimestepsDevice);
        }
    }

    /// <summary>The sigmas (float32, on the CPU as in diffusers): one per timestep plus the final sigma.</summary>
    public Tensor Sigmas => tensor(State.Sigmas, ScalarType.Float32, CPU);

    /// <summary>The number of training timesteps (<c>len(scheduler)</c>).</summary>
    public int Length => State.Config.NumTrainTimesteps;

    /// <summary><c>set_begin_index(i)</c>: the first step starts at index <paramref name="beginIndex"/>.</summary>
    public void SetBeginIndex(int beginIndex = 0) =>
        _held.Update(held => held with { State = DpmSolverMultistep.setBeginIndex(beginIndex, held.State) }, nameof(SetBeginIndex));

    /// <summary><c>set_timesteps(n, device, mu)</c>: the schedule of <paramref name="numInferenceSteps"/> steps; <paramref name="mu"/> (dynamic shifting) sets flow_shift = e^mu.</summary>
    public void SetTimesteps(int numInferenceSteps, Device? device = null, double? mu = null)
    {
        _held.Update(held => new Held(
            DpmSolverMultistep.setTimestepsWith(
                FSharpOption<int>.Some(numInferenceSteps), FSharpOption<long[]>.None,
                mu is { } m ? FSharpOption<double>.Some(m) : FSharpOption<double>.None, held.State),
            device ?? CPU), nameof(SetTimesteps));
    }

    /// <summary><c>set_timesteps(timesteps=…, device)</c>: custom descending integer timesteps.</summary>
    public void SetTimesteps(long[] timesteps, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(timesteps);
        _held.Update(held => new Held(DpmSolverMultistep.setCustomTimesteps(timesteps, held.State), device ?? CPU), nameof(SetTimesteps));
    }

    /// <summary><c>scale_model_input</c>: the sample unchanged (DPM-Solver needs no input scaling).</summary>
    public Tensor ScaleModelInput(Tensor sample, long? timestep = null)
    {
        ArgumentNullException.ThrowIfNull(sample);
        return sample;
    }

    /// <summary>
    /// <c>step(model_output, timestep, sample, generator, variance_noise)</c>: one multistep DPM-Solver update on the
    /// sample's device. SDE variants draw one full-shape normal from <paramref name="generator"/> (diffusers'
    /// <c>randn_tensor</c> stream) unless <paramref name="varianceNoise"/> is given.
    /// </summary>
    public SchedulerOutput Step(Tensor modelOutput, long timestep, Tensor sample, Generator? generator = null, Tensor? varianceNoise = null) =>
        Step(modelOutput, timestep, sample, NoiseSource.Of(generator), varianceNoise);

    /// <summary><c>step</c> with the SDE noise drawn from <paramref name="noise"/> (a managed torch stream such as
    /// <see cref="NoiseSource.FromTorchCpuSeed"/>, a generator or a key) unless <paramref name="varianceNoise"/> is given.</summary>
    public SchedulerOutput Step(Tensor modelOutput, long timestep, Tensor sample, NoiseSource noise, Tensor? varianceNoise = null)
    {
        ArgumentNullException.ThrowIfNull(noise);
        ArgumentNullException.ThrowIfNull(modelOutput);
        ArgumentNullException.ThrowIfNull(sample);
        var held = _held.Current;
        var state = held.State;
        if (OptionModule.IsNone(state.NumInferenceSteps))
            throw new InvalidOperationException("the number of inference steps is not set; call SetTimesteps before Step");
        if (!modelOutput.is_floating_point())
            throw new ArgumentException($"model_output has dtype {modelOutput.dtype} but a floating-point tensor is expected", "model_output");
        if (!sample.is_floating_point())
            throw new ArgumentException($"sample has dtype {sample.dtype} but a floating-point tensor is expected", nameof(sample));
        if (modelOutput.device_type != sample.device_type || modelOutput.device_index != sample.device_index)
            throw new ArgumentException($"model_output is on {modelOutput.device} but sample is on {sample.device}", nameof(modelOutput));
        // diffusers computes the update in float32 and casts prev_sample back to the model output's dtype.
        var outputDtype = modelOutput.dtype;
        DpmStepResult<Tensor> result;
        Tensor prev;
        // The step's temporaries (conversions, divided differences, the draw) are freed when it returns.
        using (NewDisposeScope())
        {
            // The history may keep the converted output itself (prediction "sample", or ε for dpmsolver), so it gets its
            // own handle: a caller that disposes its model output does not free the scheduler's history.
            var output32 = modelOutput.dtype == ScalarType.Float32 ? modelOutput.alias() : modelOutput.to(ScalarType.Float32);
            var sample32 = sample.dtype == ScalarType.Float32 ? sample : sample.to(ScalarType.Float32);
            var given = varianceNoise is null ? FSharpValueOption<Tensor>.None : FSharpValueOption<Tensor>.Some(varianceNoise.to(ScalarType.Float32).to(sample.device));
            result = DpmSolverMultistep.stepOn(TorchBackend.Instance, noise, given, output32, timestep, sample32, state);
            // The newest history entry belongs to the scheduler: neither this scope nor the caller's may free it.
            result.State.ModelOutputs[^1]!.Value.DetachFromDisposeScope();
            prev = (outputDtype == ScalarType.Float32 ? result.PrevSample : result.PrevSample.to(outputDtype)).MoveToOuterDisposeScope();
        }
        var newest = result.State.ModelOutputs[^1]!.Value;
        _held.Commit(held, held with { State = result.State }, nameof(Step), () =>
        {
            // Refused: the history entry and the output were this call's alone.
            newest.Dispose();
            prev.Dispose();
        });
        return new SchedulerOutput(prev);
    }

    /// <summary><c>step</c> with a 0-d timestep tensor (read on the host, as diffusers' index lookup does).</summary>
    public SchedulerOutput Step(Tensor modelOutput, Tensor timestep, Tensor sample, Generator? generator = null, Tensor? varianceNoise = null) =>
        Step(modelOutput, timestep, sample, NoiseSource.Of(generator), varianceNoise);

    /// <summary><c>step</c> with a 0-d timestep tensor and the SDE noise drawn from <paramref name="noise"/>.</summary>
    public SchedulerOutput Step(Tensor modelOutput, Tensor timestep, Tensor sample, NoiseSource noise, Tensor? varianceNoise = null)
    {
        ArgumentNullException.ThrowIfNull(timestep);
        long value;
        using (var host = timestep.to(CPU))
        using (var integer = host.to(ScalarType.Int64))
        {
            value = integer.item<long>();
        }
        return Step(modelOutput, value, sample, noise, varianceNoise);
    }

    /// <summary>
    /// <c>add_noise(original_samples, noise, timesteps)</c>: α·x + σ·noise at each batch element's timestep (its
    /// position in <see cref="Timesteps"/>; before set_timesteps that is diffusers' reversed training order).
    /// </summary>
    public Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps)
    {
        ArgumentNullException.ThrowIfNull(originalSamples);
        ArgumentNullException.ThrowIfNull(noise);
        ArgumentNullException.ThrowIfNull(timesteps);
        TensorChecks.SameShape("original_samples", originalSamples, nameof(noise), noise);
        var ts = timesteps.to(CPU).to(ScalarType.Int64).flatten().data<long>().ToArray();
        return DpmSolverMultistep.addNoise(TorchBackend.Instance, originalSamples, noise, ts, State);
    }
}
