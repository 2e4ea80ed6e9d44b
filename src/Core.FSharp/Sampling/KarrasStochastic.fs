namespace Schedulers.Core

open System

/// One step of the stochastic Karras loop as the progress callback sees it. Tensors in it are valid during the
/// callback only: the loop releases the ones it no longer needs right after.
type KarrasStochasticStep<'T> =
    {
        /// The loop index i (0 for the first step).
        Index: int
        /// The timestep t = timesteps[i] (n−1−i).
        Timestep: int
        /// σ = schedule[t].
        Sigma: float
        /// σ_prev = schedule[t−1], or 0 at t = 0.
        SigmaPrev: float
        /// σ̂ after the churn.
        SigmaHat: float
        /// x̂ after the churn.
        SampleHat: 'T
        /// The Euler stage's outputs.
        Step: KarrasVeOutput<'T>
        /// The Heun correction's outputs, when σ_prev ≠ 0.
        Corrected: KarrasVeOutput<'T> option
    }

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
    /// the final sample. Every intermediate tensor the loop made is released (`IBackend.Release`) once it is no
    /// longer needed; the input sample is never released.
    let run
        (ops: IBackend<'T, 'Noise>)
        (hooks: KarrasStochasticHooks<'T, 'Noise>)
        (state: KarrasVeState)
        (noise: 'Noise)
        (sample: 'T)
        : 'T =
        let timesteps =
            match state.Timesteps with
            | Some ts -> ts
            | None -> invalidOp "the loop needs timesteps: call KarrasVe.setTimesteps (set_timesteps) first"
        let mutable x = sample
        let mutable source = noise
        for i in 0 .. timesteps.Length - 1 do
            let t = timesteps[i]
            let struct (sigma, sigmaPrev) = KarrasVe.sigmasAt state t
            let struct (carry, draw) = hooks.NextNoise source
            source <- carry
            let noised = KarrasVe.addNoiseToInputWith ops state x sigma draw
            let output = hooks.Model noised.SampleHat noised.SigmaHat
            let euler = KarrasVe.stepWith ops state output noised.SigmaHat sigmaPrev noised.SampleHat
            // A model may hand back its input (an identity denoiser); the loop still needs that tensor.
            if not (obj.ReferenceEquals(output, noised.SampleHat)) then ops.Release output
            let corrected =
                if sigmaPrev <> 0.0 then
                    let output2 = hooks.Model euler.PrevSample sigmaPrev
                    let c =
                        KarrasVe.stepCorrectWith
                            ops state output2 noised.SigmaHat sigmaPrev noised.SampleHat euler.PrevSample euler.Derivative
                    if not (obj.ReferenceEquals(output2, euler.PrevSample)) then ops.Release output2
                    Some c
                else
                    None
            hooks.Progress
                { Step = i
                  Steps = timesteps.Length
                  Timestep = float t
                  Output =
                    { Index = i
                      Timestep = t
                      Sigma = sigma
                      SigmaPrev = sigmaPrev
                      SigmaHat = noised.SigmaHat
                      SampleHat = noised.SampleHat
                      Step = euler
                      Corrected = corrected } }
            let next =
                match corrected with
                | Some c ->
                    ops.Release euler.PrevSample
                    ops.Release c.PredOriginalSample
                    c.PrevSample
                | None -> euler.PrevSample
            ops.Release euler.Derivative
            ops.Release euler.PredOriginalSample
            ops.Release noised.SampleHat
            if not (obj.ReferenceEquals(x, sample)) then ops.Release x
            x <- next
        x
