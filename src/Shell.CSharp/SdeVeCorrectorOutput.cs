using static TorchSharp.torch;

namespace Schedulers;

/// <summary>The result of <see cref="ScoreSdeVeScheduler.StepCorrect(Tensor, Tensor, Generator?)"/> (diffusers returns a
/// <c>SchedulerOutput</c> holding only <c>prev_sample</c>).</summary>
/// <param name="PrevSample"><c>prev_sample</c>: the sample after the Langevin corrector step.</param>
public sealed record SdeVeCorrectorOutput(Tensor PrevSample);
