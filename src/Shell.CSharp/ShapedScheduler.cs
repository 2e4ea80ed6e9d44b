using Microsoft.FSharp.Core;
using Schedulers.Core;
using static TorchSharp.torch;

namespace Schedulers;

/// <summary>
/// A scheduler class over a core scheduler of the one shape (<see cref="IScheduler{State, T, Output}"/>), written once:
/// the immutable state behind a compare-and-swap slot, <c>set_timesteps</c>, <c>init_noise_sigma</c>, one loop
/// iteration (<c>Step</c>) and whole runs (<c>Sample</c>, the core's <see cref="Loop.run"/>) on
/// TorchSharp tensors, plus the config half from <see cref="SchedulerBase{TSelf, TConfig}"/>. A new scheduler's shell
/// class derives from it and adds only what its own API has (a σ table, say).
/// </summary>
/// <typeparam name="TSelf">The scheduler class.</typeparam>
/// <typeparam name="TConfig">Its config record.</typeparam>
/// <typeparam name="TState">Its core state.</typeparam>
/// <typeparam name="TOutput">What one loop iteration returns.</typeparam>
public abstract class ShapedScheduler<TSelf, TConfig, TState, TOutput> : SchedulerBase<TSelf, TConfig>
    where TSelf : ShapedScheduler<TSelf, TConfig, TState, TOutput>, ISchedulerClass<TSelf, TConfig>
    where TState : class
{
    private readonly IScheduler<TState, Tensor, TOutput> _core;
    private readonly StateSlot<TState> _state;

    /// <summary>A scheduler with <paramref name="config"/>, its core object made by <paramref name="core"/>, computing
    /// with <paramref name="flavour"/>'s rounding (torch's by default, as diffusers' torch classes do).</summary>
    protected ShapedScheduler(TConfig config, Func<TConfig, IScheduler<TState, Tensor, TOutput>> core, Flavour? flavour = null)
    {
        ArgumentNullException.ThrowIfNull(core);
        Config = config;
        _core = core(config);
        _state = new StateSlot<TState>(_core.Create(flavour ?? Flavour.Torch), typeof(TSelf).Name);
    }

    /// <inheritdoc />
    public override TConfig Config { get; }

    /// <summary>The current immutable core state.</summary>
    public TState State => _state.Current;

    /// <summary><c>init_noise_sigma</c>: the scale of the initial noise.</summary>
    public double InitNoiseSigma => _core.InitNoiseSigma(State);

    /// <summary>The number of loop iterations after <see cref="SetTimesteps"/>.</summary>
    public int Steps => _core.Steps(State);

    /// <summary>The model evaluations (NFE) of a run of <paramref name="steps"/> iterations.</summary>
    public int Evaluations(int steps) => _core.Evaluations(steps);

    /// <summary><c>set_timesteps(n)</c> for samples of <paramref name="shape"/> (needed by schedulers whose state is
    /// sized by the sample).</summary>
    public void SetTimesteps(int numInferenceSteps, long[]? shape = null)
    {
        var dims = shape is null ? Array.Empty<int>() : shape.Select(d => checked((int)d)).ToArray();
        _state.Update(state => _core.SetTimesteps(numInferenceSteps, dims, state), nameof(SetTimesteps));
    }

    private static FSharpFunc<Tensor, FSharpFunc<ModelQuery, Tensor>> Model(Func<Tensor, ModelQuery, Tensor> model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return FuncConvert.FromFunc(model);
    }

    /// <summary>Iteration <paramref name="index"/> of the sampling loop from <paramref name="sample"/>: the model calls
    /// the scheduler's pipeline makes and the update, noise (if any) from <paramref name="generator"/>. The state
    /// advances; the output is the scheduler's own record.</summary>
    public TOutput Step(Func<Tensor, ModelQuery, Tensor> model, int index, Tensor sample, Generator? generator = null) =>
        Step(model, index, sample, NoiseSource.Of(generator));

    /// <summary>Iteration <paramref name="index"/> with noise (if any) from <paramref name="noise"/> (a managed torch
    /// stream, a generator or a key).</summary>
    public TOutput Step(Func<Tensor, ModelQuery, Tensor> model, int index, Tensor sample, NoiseSource noise)
    {
        ArgumentNullException.ThrowIfNull(sample);
        ArgumentNullException.ThrowIfNull(noise);
        var before = State;
        var (next, output) = _core.Step(TorchBackend.Instance, Model(model), FuncConvert.FromFunc<Unit, NoiseSource>(_ => noise), before, index, sample);
        _state.Commit(before, next, nameof(Step));
        return output;
    }

    /// <summary>Runs every iteration from <paramref name="latents"/> (already scaled by <see cref="InitNoiseSigma"/>)
    /// with the core's one loop, noise from <paramref name="generator"/>; intermediates are freed as the loop goes.
    /// Returns what the scheduler's pipeline returns.</summary>
    public Tensor Sample(Tensor latents, Func<Tensor, ModelQuery, Tensor> model, Generator? generator = null, Action<StepProgress<TOutput>>? progress = null) =>
        Sample(latents, model, NoiseSource.Of(generator), progress);

    /// <summary>Runs every iteration with noise from <paramref name="noise"/>, shared by every step (a managed torch
    /// stream or a generator advances from step to step).</summary>
    public Tensor Sample(Tensor latents, Func<Tensor, ModelQuery, Tensor> model, NoiseSource noise, Action<StepProgress<TOutput>>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(latents);
        ArgumentNullException.ThrowIfNull(noise);
        var before = State;
        var stream = FuncConvert.FromFunc<NoiseSource, ValueTuple<NoiseSource, NoiseSource>>(n => (n, n));
        var report = FuncConvert.FromAction<StepProgress<TOutput>>(p => progress?.Invoke(p));
        var result = Loop.run(_core, TorchBackend.Instance, Model(model), stream, noise, report, before, latents);
        _state.Commit(before, result.State, nameof(Sample));
        return ReferenceEquals(result.Sample, latents) ? latents.clone() : result.Sample;
    }
}
