namespace Schedulers.Core

open System

/// What the stochastic Karras loop calls: the denoiser, how the noise source advances, and progress.
type KarrasStochasticHooks<'T, 'Noise> =
    {
        /// The model output that `step` expects for (x, σ): a scaled negative score, D(x; σ) = x + σ·output.
        Model: 'T -> float -> 'T
        /// From the carried noise source: the one to carry on and the one this step draws from.
        NextNoise: 'Noise -> struct ('Noise * 'Noise)
        /// Called after every step with its record (before its tensors are released).
        Progress: StepProgress<KarrasStochasticStep<'T>> -> unit
    }

/// diffusers' stochastic Karras sampler loop (KarrasVePipeline, spec §6.2; Karras et al. 2022, Algorithm 2) as a
/// pure function over any `ITensorOps` backend: for each t = n−1 … 0, churn (γ, σ̂, x̂), Euler step to σ_prev, and
/// Heun's correction when σ_prev ≠ 0.
module KarrasStochastic =

    /// Hooks with the given model that report nothing and draw every step from the same source
    /// (right for a stateful `torch.Generator`, which advances by itself).
    let hooks (model: 'T -> float -> 'T) : KarrasStochasticHooks<'T, 'Noise> =
        { Model = model
          NextNoise = fun n -> struct (n, n)
          Progress = ignore }

    /// The Flax loop's key discipline: `key, sub = split(key)` before each `add_noise_to_input`, which then draws
    /// from `split(sub, 1)[0]`. Returns (the key to carry, the key to draw from).
    let flaxKeyChainWith (mode: ThreefryMode) (key: PrngKey) : struct (PrngKey * PrngKey) =
        let ks = Prng.splitWith mode 2 key
        struct (ks[0], KarrasVe.drawKeyWith mode ks[1])

    /// `flaxKeyChainWith` in JAX's default (partitionable) threefry mode.
    let flaxKeyChain (key: PrngKey) : struct (PrngKey * PrngKey) = flaxKeyChainWith ThreefryMode.Partitionable key

    /// Runs the loop from `sample` (already scaled by `init_noise_sigma`) on a state after `setTimesteps`, returning
    /// the final sample: `Loop.run` with `KarrasVe.scheduler`. Every intermediate tensor the loop made is released
    /// (`IBackend.Release`) once it is no longer needed; the input sample is never released.
    let run
        (ops: IBackend<'T, 'Noise>)
        (hooks: KarrasStochasticHooks<'T, 'Noise>)
        (state: KarrasVeState)
        (noise: 'Noise)
        (sample: 'T)
        : 'T =
        if state.Timesteps.IsNone then invalidOp "the loop needs timesteps: call KarrasVe.setTimesteps (set_timesteps) first"
        let scheduler = KarrasVe.scheduler state.Config
        (Loop.run scheduler ops (fun x q -> hooks.Model x q.Sigma) hooks.NextNoise noise hooks.Progress state sample).Sample
