using Microsoft.FSharp.Collections;
using Microsoft.FSharp.Core;
using Schedulers.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Schedulers.Pipelines;

/// <summary>
/// The generic DPM-Solver sampling loop of diffusers' pipelines (§6.3 of the spec): initial noise
/// <c>randn(shape, generator)·init_noise_sigma</c>, then for each timestep <c>x ← step(model(scale_model_input(x, t), t), t, x)</c>,
/// SDE noise drawn from the same generator. The model is any function of the sample and the integer timestep.
/// </summary>
public sealed class DpmSolverPipeline
{
    private readonly Func<Tensor, long, Tensor> _model;

    /// <summary>A pipeline over a model and a scheduler (the scheduler's state advances as the pipeline runs).</summary>
    public DpmSolverPipeline(Func<Tensor, long, Tensor> model, DPMSolverMultistepScheduler scheduler)
    {
        _model = model ?? throw new ArgumentNullException(nameof(model));
        Scheduler = scheduler ?? throw new ArgumentNullException(nameof(scheduler));
    }

    /// <summary>The scheduler the pipeline steps.</summary>
    public DPMSolverMultistepScheduler Scheduler { get; }

    /// <summary>
    /// Samples from pure noise of <paramref name="shape"/> on <paramref name="device"/> (CPU by default) in
    /// <paramref name="numInferenceSteps"/> steps; the initial noise and any SDE noise come from <paramref name="generator"/>.
    /// </summary>
    public Tensor Call(long[] shape, int numInferenceSteps, Generator? generator = null, Device? device = null, Action<StepProgress<DpmStepResult<Tensor>>>? progress = null) =>
        Call(shape, numInferenceSteps, NoiseSource.Of(generator), device, progress);

    /// <summary>Samples from pure noise with the initial and SDE noise from <paramref name="noise"/> (a managed torch
    /// stream such as <see cref="NoiseSource.FromTorchCudaSeed"/> reproduces a CUDA run), shared in order.</summary>
    public Tensor Call(long[] shape, int numInferenceSteps, NoiseSource noise, Device? device = null, Action<StepProgress<DpmStepResult<Tensor>>>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(noise);
        var target = device ?? CPU;
        Scheduler.SetTimesteps(numInferenceSteps, target);
        using var initial = Noise.Randn(noise, shape, target);
        return Run(initial.mul(Scheduler.InitNoiseSigma), noise, progress);
    }

    /// <summary>
    /// Runs the scheduler's timesteps (set_timesteps already called; from the begin index when one is set) from
    /// <paramref name="latents"/>, as img2img does after <c>add_noise</c>: the core's one loop
    /// (<see cref="Loop.run"/>) with the scheduler's state, on the latents' device. As the scheduler's
    /// <c>Step</c> does, the update runs in float32 and each new sample is rounded to the model output's dtype; the
    /// scheduler's state advances after every step.
    /// </summary>
    public Tensor Run(Tensor latents, Generator? generator = null, Action<StepProgress<DpmStepResult<Tensor>>>? progress = null) =>
        Run(latents, NoiseSource.Of(generator), progress);

    /// <summary>Runs the timesteps from <paramref name="latents"/> with any SDE noise from <paramref name="noise"/>.</summary>
    public Tensor Run(Tensor latents, NoiseSource noise, Action<StepProgress<DpmStepResult<Tensor>>>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(latents);
        ArgumentNullException.ThrowIfNull(noise);
        var before = Scheduler.State;
        if (OptionModule.IsNone(before.NumInferenceSteps))
            throw new InvalidOperationException("the number of inference steps is not set; call SetTimesteps before Run");
        // The scheduler advances with every step, as a diffusers pipeline's does (a model may read its step index).
        var scheduler = new ModelDtype(DpmSolverMultistep.scheduler<Tensor>(before.Config), (from, to) => Scheduler.CommitState(from, to, "pipeline step"));
        var model = FuncConvert.FromFunc<Tensor, ModelQuery, Tensor>((x, q) =>
        {
            var t = (long)q.Timestep;
            using var input = Scheduler.ScaleModelInput(scheduler.ToModel(x), t).alias();
            using var output = _model(input, t);
            return scheduler.FromModel(output);
        });
        var onStep = FuncConvert.FromAction<StepProgress<DpmStepResult<Tensor>>>(p => progress?.Invoke(p));
        using var start = latents.to(ScalarType.Float32);
        var result = Loop.run(scheduler, TorchBackend.Instance, model, FuncConvert.FromFunc<NoiseSource, ValueTuple<NoiseSource, NoiseSource>>(n => (n, n)), noise, onStep, before, start);
        var final = scheduler.ToModel(result.Sample);
        if (!ReferenceEquals(final, result.Sample)) result.Sample.Dispose();
        return ReferenceEquals(final, start) ? final.clone() : final;
    }

    /// <summary>
    /// The core scheduler with the torch class's dtype rule: the model sees the sample in its own dtype, its output is
    /// converted to float32 for the update, and each new sample is rounded to the model's dtype (diffusers casts
    /// <c>prev_sample</c> to the model output's dtype; converting it back to float32 for the next update is exact).
    /// </summary>
    private sealed class ModelDtype(
        IScheduler<DpmSolverState<Tensor>, Tensor, DpmStepResult<Tensor>> inner,
        Action<DpmSolverState<Tensor>, DpmSolverState<Tensor>> advanced)
        : IScheduler<DpmSolverState<Tensor>, Tensor, DpmStepResult<Tensor>>
    {
        private ScalarType _dtype = ScalarType.Float32;

        /// <summary>The sample in the model's dtype (the same tensor when that is float32).</summary>
        public Tensor ToModel(Tensor x) => x.dtype == _dtype ? x : x.to(_dtype);

        /// <summary>Records the model's dtype and returns its output in float32 (a new handle either way, so the loop
        /// may release it while the scheduler's history keeps its own).</summary>
        public Tensor FromModel(Tensor output)
        {
            _dtype = output.dtype;
            return output.dtype == ScalarType.Float32 ? output.alias() : output.to(ScalarType.Float32);
        }

        public string ClassName => inner.ClassName;
        public DpmSolverState<Tensor> Create(Flavour flavour) => inner.Create(flavour);
        public DpmSolverState<Tensor> SetTimesteps(int n, int[] shape, DpmSolverState<Tensor> state) => inner.SetTimesteps(n, shape, state);
        public int Steps(DpmSolverState<Tensor> state) => inner.Steps(state);
        public int FirstIndex(DpmSolverState<Tensor> state) => inner.FirstIndex(state);
        public double TimestepAt(DpmSolverState<Tensor> state, int index) => inner.TimestepAt(state, index);
        public double InitNoiseSigma(DpmSolverState<Tensor> state) => inner.InitNoiseSigma(state);
        public int Evaluations(int steps) => inner.Evaluations(steps);
        public Tensor Sample(DpmStepResult<Tensor> output) => inner.Sample(output);
        public Tensor Result(DpmStepResult<Tensor> output) => inner.Result(output);
        public FSharpList<Tensor> Tensors(DpmStepResult<Tensor> output) => inner.Tensors(output);
        public FSharpList<Tensor> StateTensors(DpmSolverState<Tensor> state) => inner.StateTensors(state);

        public ValueTuple<DpmSolverState<Tensor>, DpmStepResult<Tensor>> Step<N>(
            IBackend<Tensor, N> ops, FSharpFunc<Tensor, FSharpFunc<ModelQuery, Tensor>> model, FSharpFunc<Unit, N> draw,
            DpmSolverState<Tensor> state, int index, Tensor sample)
        {
            var (next, output) = inner.Step(ops, model, draw, state, index, sample);
            advanced(state, next);
            if (_dtype == ScalarType.Float32) return (next, output);
            // The new sample as the model's dtype holds it, back in float32 (exact).
            using var rounded = output.PrevSample.to(_dtype);
            var prev = rounded.to(ScalarType.Float32);
            output.PrevSample.Dispose();
            return (next, new DpmStepResult<Tensor>(prev, output.Order, output.State));
        }
    }
}
