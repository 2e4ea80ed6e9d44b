using static TorchSharp.torch;

namespace Schedulers;

/// <summary>diffusers' <c>SchedulerOutput</c>: the sample of the previous (less noisy) timestep.</summary>
/// <param name="PrevSample">The sample after the step (<c>prev_sample</c>).</param>
public sealed record SchedulerOutput(Tensor PrevSample);
