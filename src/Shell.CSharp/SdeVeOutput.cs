using static TorchSharp.torch;

namespace Schedulers;

/// <summary>The result of <see cref="ScoreSdeVeScheduler.StepPred(Tensor, double, Tensor, Generator?)"/> (diffusers' <c>SdeVeOutput</c>).</summary>
/// <param name="PrevSample"><c>prev_sample</c>: the sample after the predictor step, noise included.</param>
/// <param name="PrevSampleMean"><c>prev_sample_mean</c>: the sample before the noise is added (what the pipeline returns at the end).</param>
public sealed record SdeVeOutput(Tensor PrevSample, Tensor PrevSampleMean);
