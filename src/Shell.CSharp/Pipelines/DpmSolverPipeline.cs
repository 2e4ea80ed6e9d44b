using TorchSharp;
using static TorchSharp.torch;

namespace Schedulers.Pipelines;

/// <summary>The progress of a DPM-Solver sampling run: the step just finished, the step count, its timestep and the new sample.</summary>
/// <param name="Step">The index of the step just finished (0-based).</param>
/// <param name="Steps">The number of steps of the run.</param>
/// <param name="Timestep">The timestep the model was evaluated at.</param>
/// <param name="Sample">The sample after the step (owned by the pipeline; copy it to keep it).</param>
public sealed record DpmSolverProgress(int Step, int Steps, long Timestep, Tensor Sample);

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
    public Tensor Call(long[] shape, int numInferenceSteps, Generator? generator = null, Device? device = null, Action<DpmSolverProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(shape);
        var target = device ?? CPU;
        Scheduler.SetTimesteps(numInferenceSteps, target);
        using var noise = Noise.Randn(NoiseSource.Of(generator), shape, target);
        return Run(noise.mul(Scheduler.InitNoiseSigma), generator, progress);
    }

    /// <summary>
    /// Runs the scheduler's timesteps (set_timesteps already called; from the begin index when one is set) from
    /// <paramref name="latents"/>, as img2img does after <c>add_noise</c>.
    /// </summary>
    public Tensor Run(Tensor latents, Generator? generator = null, Action<DpmSolverProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(latents);
        var timesteps = Scheduler.State.Timesteps;
        int start = Scheduler.BeginIndex ?? 0;
        // An explicit begin index (0 for a whole run) keeps a duplicated first timestep from being looked up at its
        // second occurrence (diffusers' img2img rule), which would skip a step.
        if (Scheduler.StepIndex is null) Scheduler.SetBeginIndex(start);
        var x = latents.alias();
        for (int i = start; i < timesteps.Length; i++)
        {
            long t = timesteps[i];
            using var input = Scheduler.ScaleModelInput(x, t).alias();
            using var output = _model(input, t);
            var next = Scheduler.Step(output, t, x, generator).PrevSample;
            x.Dispose();
            x = next;
            progress?.Invoke(new DpmSolverProgress(i, timesteps.Length, t, x));
        }
        return x;
    }
}
