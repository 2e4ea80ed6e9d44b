using Schedulers.Core;
using static TorchSharp.torch;

namespace Schedulers.Pipelines;

/// <summary>
/// diffusers' pipeline loop over any scheduler of the compatible family (<see cref="IPipelineScheduler"/>):
/// <c>set_timesteps</c> → latents·<c>init_noise_sigma</c> → for each timestep <c>scale_model_input</c> → model →
/// <c>step</c>; and the img2img start (<see cref="Img2Img.beginIndex"/>: the image noised with <c>add_noise</c> to
/// the first kept timestep, <c>set_begin_index</c> where the class has it). The model is called as
/// <c>model(input, t)</c> with t in the scheduler's units. Every tensor the loop makes and no longer needs is
/// disposed as it goes (the schedulers keep their own handles to what their history holds); the caller's tensors
/// are never disposed.
/// </summary>
public static class FamilyPipeline
{
    /// <summary>
    /// Text-to-image style: <paramref name="steps"/> steps from noise of <paramref name="shape"/> drawn from
    /// <paramref name="generator"/> (diffusers' <c>randn_tensor</c>; the default generator when null) on
    /// <paramref name="device"/> (the CPU when null), scaled by <c>init_noise_sigma</c>.
    /// </summary>
    public static Tensor Generate(
        IPipelineScheduler scheduler, Func<Tensor, double, Tensor> model, long[] shape, int steps,
        Generator? generator = null, Device? device = null, Action<StepProgress<Tensor>>? progress = null) =>
        Generate(scheduler, model, shape, steps, NoiseSource.Of(generator), device, progress);

    /// <summary><see cref="Generate(IPipelineScheduler, Func{Tensor, double, Tensor}, long[], int, Generator?, Device?, Action{StepProgress{Tensor}}?)"/>
    /// with the noise from any <see cref="NoiseSource"/> (e.g. <see cref="NoiseSource.FromTorchCudaSeed"/> to
    /// reproduce a CUDA generator's run anywhere).</summary>
    public static Tensor Generate(
        IPipelineScheduler scheduler, Func<Tensor, double, Tensor> model, long[] shape, int steps,
        NoiseSource noise, Device? device = null, Action<StepProgress<Tensor>>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(noise);
        scheduler.SetTimesteps(steps);
        using var start = Noise.Randn(noise, shape, device ?? CPU);
        var latents = start * scheduler.InitNoiseSigma;
        return Run(scheduler, model, latents, 0, noise, progress, ownsLatents: true);
    }

    /// <summary>
    /// Image-to-image style: of <paramref name="steps"/> steps, <paramref name="strength"/> ∈ [0, 1] keeps the last
    /// ⌊steps·strength⌋; <paramref name="image"/> is noised to the first kept timestep with noise drawn from
    /// <paramref name="generator"/> and denoised from there. Strength 0 returns a copy of the image.
    /// </summary>
    public static Tensor FromImage(
        IPipelineScheduler scheduler, Func<Tensor, double, Tensor> model, Tensor image, double strength, int steps,
        Generator? generator = null, Action<StepProgress<Tensor>>? progress = null) =>
        FromImage(scheduler, model, image, strength, steps, NoiseSource.Of(generator), progress);

    /// <summary><see cref="FromImage(IPipelineScheduler, Func{Tensor, double, Tensor}, Tensor, double, int, Generator?, Action{StepProgress{Tensor}}?)"/>
    /// with the noise from any <see cref="NoiseSource"/>.</summary>
    public static Tensor FromImage(
        IPipelineScheduler scheduler, Func<Tensor, double, Tensor> model, Tensor image, double strength, int steps,
        NoiseSource noise, Action<StepProgress<Tensor>>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(noise);
        scheduler.SetTimesteps(steps);
        var begin = Img2Img.beginIndex(steps, scheduler.Order, strength);
        var timesteps = scheduler.Timesteps;
        if (begin >= timesteps.Count) return image.clone();
        if (scheduler.HasBeginIndex) scheduler.SetBeginIndex(begin);
        using var drawn = Noise.Randn(noise, TensorShapes.Of(image), image.device).to(image.dtype);
        var latents = scheduler.AddNoise(image, drawn, timesteps[begin]);
        return Run(scheduler, model, latents, begin, noise, progress, ownsLatents: true);
    }

    /// <summary>
    /// The loop from index <paramref name="begin"/> over the scheduler's timesteps, starting at
    /// <paramref name="latents"/> (already scaled or noised; not disposed unless <paramref name="ownsLatents"/>).
    /// </summary>
    public static Tensor Run(
        IPipelineScheduler scheduler, Func<Tensor, double, Tensor> model, Tensor latents, int begin = 0,
        Generator? generator = null, Action<StepProgress<Tensor>>? progress = null, bool ownsLatents = false) =>
        Run(scheduler, model, latents, begin, NoiseSource.Of(generator), progress, ownsLatents);

    /// <summary>The loop with the step noise from any <see cref="NoiseSource"/>.</summary>
    public static Tensor Run(
        IPipelineScheduler scheduler, Func<Tensor, double, Tensor> model, Tensor latents, int begin,
        NoiseSource noise, Action<StepProgress<Tensor>>? progress = null, bool ownsLatents = false)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        ArgumentNullException.ThrowIfNull(noise);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(latents);
        var timesteps = scheduler.Timesteps;
        if (begin < 0 || begin > timesteps.Count)
            throw new ArgumentOutOfRangeException(nameof(begin), begin, $"begin must lie in [0, {timesteps.Count}]");
        var x = latents;
        var owned = ownsLatents;
        for (var i = begin; i < timesteps.Count; i++)
        {
            var t = timesteps[i];
            var input = scheduler.ScaleModelInput(x, t);
            var output = model(input, t) ?? throw new InvalidOperationException($"the model returned null at timestep {t}");
            var next = scheduler.Step(output, t, x, noise);
            if (!ReferenceEquals(output, input) && !ReferenceEquals(output, x) && !ReferenceEquals(output, next)) output.Dispose();
            if (!ReferenceEquals(input, x) && !ReferenceEquals(input, next)) input.Dispose();
            progress?.Invoke(new StepProgress<Tensor>(i, timesteps.Count, t, next));
            if (owned && !ReferenceEquals(x, next)) x.Dispose();
            x = next;
            owned = true;
        }
        return owned || !ReferenceEquals(x, latents) ? x : x.clone();
    }
}
