using static TorchSharp.torch;

namespace Schedulers;

/// <summary>
/// The output of <see cref="KarrasVeScheduler.Step"/> and <see cref="KarrasVeScheduler.StepCorrect"/>, with diffusers'
/// <c>KarrasVeOutput</c> fields. The caller owns the tensors.
/// </summary>
/// <param name="PrevSample"><c>prev_sample</c>: the sample at σ_prev, the next loop input.</param>
/// <param name="Derivative"><c>derivative</c>: the Euler stage's d = (x̂ − x0)/σ̂. <c>StepCorrect</c> returns the
/// first-stage d it was given, not the corrected slope (a diffusers quirk kept on purpose).</param>
/// <param name="PredOriginalSample"><c>pred_original_sample</c>: the stage's denoised estimate x0.</param>
public sealed record KarrasVeOutput(Tensor PrevSample, Tensor Derivative, Tensor PredOriginalSample);

/// <summary>The result of <see cref="KarrasVeScheduler.AddNoiseToInput(Tensor, float, TorchSharp.torch.Generator?)"/>:
/// diffusers' <c>(sample_hat, sigma_hat)</c>. The caller owns the tensor.</summary>
/// <param name="SampleHat"><c>sample_hat</c>: x̂ = x + √(σ̂² − σ²)·ε.</param>
/// <param name="SigmaHat"><c>sigma_hat</c>: σ̂ = σ + γσ, a float32 value as torch computes it.</param>
public readonly record struct KarrasVeNoisedSample(Tensor SampleHat, float SigmaHat);
