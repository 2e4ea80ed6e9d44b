using Microsoft.FSharp.Core;
using Schedulers.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Schedulers.Pipelines;

/// <summary>
/// A denoising network in diffusers' KarrasVe pipeline convention: given a sample in [0, 1] data space and the
/// halved noise level σ/2, it returns the UNet's <c>.sample</c> output (a new tensor the pipeline then owns).
/// </summary>
public delegate Tensor KarrasVeUnet(Tensor sample, float sigma);

/// <summary>
/// The model output that <see cref="KarrasVeScheduler.Step"/> expects at (x, σ): a scaled negative score, so that
/// x + σ·output is the denoised estimate. Return a new tensor (or the input itself).
/// </summary>
public delegate Tensor KarrasVeModel(Tensor sample, float sigma);

/// <summary>The pipeline's result: images in NHWC layout, float32 in [0, 1], on the CPU (diffusers' <c>output_type="np"</c>).</summary>
/// <param name="Images">The images, shape (batch, height, width, channels).</param>
public sealed record KarrasVePipelineOutput(Tensor Images);

/// <summary>
/// diffusers' <c>KarrasVePipeline</c> (stochastic Karras sampling, spec §6.2): x = randn·σ_max, then for t = n−1 … 0
/// churn, Euler step, Heun correction when σ_prev ≠ 0 — the core's <see cref="KarrasStochastic.run"/> on torch
/// tensors — and finally clamp(x/2 + 0.5, 0, 1). The UNet sees ((x+1)/2, σ/2) and its output is scaled by σ/2
/// (the EDM paper's VE adaptation, as diffusers does it).
/// </summary>
public sealed class KarrasVePipeline
{
    private readonly KarrasVeUnet _unet;

    /// <summary>A pipeline over a UNet delegate and a scheduler, making samples of (channels, size, size).</summary>
    public KarrasVePipeline(KarrasVeUnet unet, KarrasVeScheduler scheduler, int channels = 3, int sampleSize = 32)
    {
        ArgumentNullException.ThrowIfNull(unet);
        ArgumentNullException.ThrowIfNull(scheduler);
        if (channels < 1) throw new ArgumentOutOfRangeException(nameof(channels), channels, $"channels is {channels} but must be at least 1");
        if (sampleSize < 1) throw new ArgumentOutOfRangeException(nameof(sampleSize), sampleSize, $"sampleSize is {sampleSize} but must be at least 1");
        _unet = unet;
        Scheduler = scheduler;
        Channels = channels;
        SampleSize = sampleSize;
    }

    /// <summary>The scheduler (its timesteps are set by each call).</summary>
    public KarrasVeScheduler Scheduler { get; }

    /// <summary>The number of image channels the UNet works on.</summary>
    public int Channels { get; }

    /// <summary>The image height and width.</summary>
    public int SampleSize { get; }

    /// <summary>
    /// <c>__call__(batch_size, num_inference_steps, generator)</c>: one generator (or the default one when null) for
    /// the initial noise and every churn draw, in diffusers' order. <paramref name="progress"/> sees each step
    /// (its tensors are valid during the callback only).
    /// </summary>
    public KarrasVePipelineOutput Call(
        int batchSize = 1, int numInferenceSteps = 50, torch.Generator? generator = null, Device? device = null,
        Action<StepProgress<KarrasStochasticStep<Tensor>>>? progress = null) =>
        Call(batchSize, numInferenceSteps, NoiseSource.Of(generator), device, progress);

    /// <summary><c>__call__</c> with the initial noise and every churn draw from <paramref name="noise"/> (a managed
    /// torch stream or a generator shared in diffusers' order; a key follows the Flax loop discipline).</summary>
    public KarrasVePipelineOutput Call(
        int batchSize, int numInferenceSteps, NoiseSource noise, Device? device = null,
        Action<StepProgress<KarrasStochasticStep<Tensor>>>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(noise);
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, $"batch_size is {batchSize} but must be at least 1");
        var target = device ?? CPU;
        using var scope = NewDisposeScope();
        Scheduler.SetTimesteps(numInferenceSteps, target);
        using var initial = Noise.Randn(noise, new long[] { batchSize, Channels, SampleSize, SampleSize }, target);
        using var scaled = initial.mul((float)Scheduler.InitNoiseSigma);
        using var final = Sample(scaled, UnetModel, noise, progress);
        var images = final.div(2).add(0.5f).clamp(0, 1).cpu().permute(0, 2, 3, 1).contiguous();
        return new KarrasVePipelineOutput(images.MoveToOuterDisposeScope());
    }

    /// <summary>The pipeline's model: (σ/2)·unet((x + 1)/2, σ/2), as diffusers scales it.</summary>
    private Tensor UnetModel(Tensor x, float sigma)
    {
        var half = sigma / 2;
        using var input = x.add(1).div(2);
        using var output = _unet(input, half);
        return output.mul(half);
    }

    /// <summary>
    /// The loop alone, from an already scaled <paramref name="sample"/> on the scheduler's current timesteps, with a
    /// model in the scheduler's convention. A generator source is shared by every step (torch's stream); a key source
    /// follows the Flax loop discipline (<c>key, sub = split(key)</c> before each churn). Returns a new tensor.
    /// </summary>
    public Tensor Sample(Tensor sample, KarrasVeModel model, NoiseSource noise, Action<StepProgress<KarrasStochasticStep<Tensor>>>? progress = null) =>
        Run(Scheduler, sample, model, noise, progress);

    /// <summary>
    /// Runs the stochastic Karras loop (the core's <see cref="KarrasStochastic.run"/>) with torch tensors on a scheduler
    /// whose timesteps are set. Intermediate tensors are freed as soon as the loop is done with them.
    /// </summary>
    public static Tensor Run(
        KarrasVeScheduler scheduler, Tensor sample, KarrasVeModel model, NoiseSource noise,
        Action<StepProgress<KarrasStochasticStep<Tensor>>>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(noise);
        TensorChecks.Float32("sample", sample);
        if (scheduler.NumInferenceSteps is null)
            throw new InvalidOperationException("the sampling loop needs the scheduler's number of inference steps: call SetTimesteps first");
        Func<NoiseSource, ValueTuple<NoiseSource, NoiseSource>> next = noise switch
        {
            NoiseSource.FromKey { Mode: var mode } => source =>
            {
                var (carry, draw) = KarrasStochastic.flaxKeyChainWith(mode, ((NoiseSource.FromKey)source).Key);
                return (new NoiseSource.FromKey(carry, mode), new NoiseSource.FromKey(draw, mode));
            },
            _ => source => (source, source),
        };
        var hooks = new KarrasStochasticHooks<Tensor, NoiseSource>(
            FuncConvert.FromFunc<Tensor, double, Tensor>((x, sigma) => model(x, (float)sigma)),
            FuncConvert.FromFunc(next),
            FuncConvert.FromAction<StepProgress<KarrasStochasticStep<Tensor>>>(step => progress?.Invoke(step)));
        using var scope = NewDisposeScope();
        var result = KarrasStochastic.run(TorchBackend.Instance, hooks, scheduler.State, noise, sample);
        // With no step at all the loop hands back its input, which the caller owns: return a copy instead.
        return (ReferenceEquals(result, sample) ? sample.clone() : result).MoveToOuterDisposeScope();
    }
}
