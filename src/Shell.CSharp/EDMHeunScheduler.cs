using Schedulers.Core;
using static TorchSharp.torch;

namespace Schedulers;

/// <summary>
/// The deterministic EDM sampler (Karras et al. 2022, Algorithm 1: Heun's method on the ρ-schedule, Euler on the last
/// interval) on TorchSharp tensors: the core's <see cref="EdmHeun"/> through <see cref="ShapedScheduler{TSelf, TConfig, TState, TOutput}"/>.
/// Its model is the denoiser D(x; σ) (the query's <see cref="ModelQuery.Sigma"/>); its config reads
/// <c>EDMEulerScheduler</c> and <c>KarrasVeScheduler</c> files as well.
/// </summary>
public sealed class EDMHeunScheduler
    : ShapedScheduler<EDMHeunScheduler, EdmHeunConfig, EdmHeunState, Tensor>, ISchedulerClass<EDMHeunScheduler, EdmHeunConfig>
{
    /// <summary>A scheduler with <paramref name="config"/> (the paper's σ_min 0.002, σ_max 80, ρ 7 when null).</summary>
    public EDMHeunScheduler(EdmHeunConfig? config = null) : base(config ?? EdmHeun.defaults, c => EdmHeun.scheduler<Tensor>(c)) { }

    static ConfigSchema<EdmHeunConfig> ISchedulerClass<EDMHeunScheduler, EdmHeunConfig>.Schema => EdmHeunConfig.Schema;

    static EDMHeunScheduler ISchedulerClass<EDMHeunScheduler, EdmHeunConfig>.Create(EdmHeunConfig config) => new(config);

    /// <summary>The σ schedule after <see cref="ShapedScheduler{TSelf, TConfig, TState, TOutput}.SetTimesteps"/>: σ_0 … σ_{N−1}, then 0.</summary>
    public float[] Sigmas => (float[])EdmHeun.sigmasOf(State).Clone();
}
