/// An EDM Euler-ancestral sampler written outside the library, against the core's public extension points only:
/// an immutable config and state, `setTimesteps`, a per-step scalar plan and a step applied through
/// `IBackend<'T,'Noise>`, so the same code runs on the core's NdArray (JAX keys) and on the shell's torch tensors
/// (torch.Generator).
///
/// The maths. Data are noised as x_σ = x0 + σ·z (the VE/EDM parametrisation of Karras et al. 2022), and D(x; σ)
/// is the denoiser E[x0 | x_σ = x]. Going from σ to σ' < σ, the exact posterior of the noisier-to-cleaner step,
/// given x0, is Gaussian (condition x_σ = x_σ' + √(σ² − σ'²)·n on x_σ' = x0 + σ'·z):
///
///     x_σ' | x_σ, x0  ~  N( x0 + (σ'²/σ²)·(x_σ − x0),  σ'²(σ² − σ'²)/σ² · I ).
///
/// Ancestral sampling (Ho et al. 2020, in VE form) draws from it with x0 replaced by D(x_σ; σ). Written as an
/// Euler step of the probability-flow ODE dx/dσ = (x − D)/σ to σ_down followed by fresh noise of std σ_up
/// (k-diffusion's `get_ancestral_step`, η = 1):
///
///     σ_up   = min(σ', η·√(σ'²(σ² − σ'²)/σ²)),   σ_down = √(σ'² − σ_up²),
///     d      = (x − D(x; σ)) / σ
///     x'     = x + (σ_down − σ)·d + σ_up·z,     z ~ N(0, I).
///
/// With η = 1, σ_down = σ'²/σ and x + (σ_down − σ)·d = D + (σ'²/σ²)·(x − D): exactly the posterior mean above,
/// and σ_up² its variance. With η = 0 the step is the deterministic Euler (DDIM-like) step to σ'. The last step
/// goes to σ' = 0, where σ_up = σ_down = 0 and x' = D(x; σ_last).
///
/// The noise levels are the ρ-schedule of Karras et al. 2022, Eq. 5:
///     σ_i = (σ_max^{1/ρ} + i/(N−1)·(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ,  i = 0 … N−1,  then σ_N = 0.
module OwnScheduler.EulerAncestral

open System
open Schedulers.Core

/// What the sampler needs: the ρ-schedule's ends and curvature, and the share η of ancestral noise.
type EulerAncestralConfig =
    { /// σ_min, the last non-zero noise level.
      SigmaMin: float
      /// σ_max, the first noise level (the initial noise is σ_max·z).
      SigmaMax: float
      /// ρ of the schedule (7 in the paper).
      Rho: float
      /// η: 1 is ancestral sampling, 0 the deterministic Euler step.
      Eta: float }

/// The immutable state: the config and, after `setTimesteps`, the N + 1 noise levels (ending with 0).
type EulerAncestralState =
    { /// The validated config.
      Config: EulerAncestralConfig
      /// σ_0 > … > σ_{N−1} = σ_min > σ_N = 0, or None before `setTimesteps`.
      Sigmas: float32[] option }

/// The float32 scalars of one step, computed once on the host: the same numbers whatever the backend.
type EulerAncestralPlan =
    { /// σ of this step (the divisor of d).
      Sigma: float32
      /// σ_down − σ, the Euler step length.
      Delta: float32
      /// σ_up, the std of the fresh noise (0 on the last step).
      NoiseScale: float32 }

/// The paper's ρ-schedule ends with ring-sized σ_max, plain ancestral sampling.
let defaults = { SigmaMin = 0.002; SigmaMax = 20.0; Rho = 7.0; Eta = 1.0 }

/// The config, or an ArgumentException naming the key whose value is out of range.
let validate (c: EulerAncestralConfig) =
    let fail key (value: float) expected = raise (ArgumentException(sprintf "%s is %g but it must be %s" key value expected, key))
    if not (c.SigmaMin > 0.0 && Double.IsFinite c.SigmaMin) then fail "sigma_min" c.SigmaMin "positive and finite"
    if not (c.SigmaMax > c.SigmaMin && Double.IsFinite c.SigmaMax) then fail "sigma_max" c.SigmaMax "finite and greater than sigma_min"
    if not (c.Rho > 0.0 && Double.IsFinite c.Rho) then fail "rho" c.Rho "positive and finite"
    if not (c.Eta >= 0.0 && c.Eta <= 1.0) then fail "eta" c.Eta "between 0 and 1"
    c

/// A state with a validated config and no schedule yet.
let createState (config: EulerAncestralConfig) = { Config = validate config; Sigmas = None }

/// The state with the schedule of `n` steps (the given state is unchanged: records are immutable).
let setTimesteps (n: int) (state: EulerAncestralState) =
    if n < 1 then raise (ArgumentOutOfRangeException("n", n, "the number of steps must be at least 1"))
    let c = state.Config
    let hi, lo = c.SigmaMax ** (1.0 / c.Rho), c.SigmaMin ** (1.0 / c.Rho)
    // In float64, rounded once to float32; one step is a single jump from σ_max to 0.
    let level i = if n = 1 then c.SigmaMax else (hi + float i / float (n - 1) * (lo - hi)) ** c.Rho
    { state with Sigmas = Some(Array.append (Array.init n (level >> float32)) [| 0.0f |]) }

/// The noise levels; throws, saying what to call, before `setTimesteps`.
let sigmas (state: EulerAncestralState) =
    match state.Sigmas with
    | Some s -> s
    | None -> invalidOp "the schedule is not set: call setTimesteps n state before stepping"

/// The scalars of step i (σ_i → σ_{i+1}), in float64, each rounded once to float32.
let plan (state: EulerAncestralState) (i: int) : EulerAncestralPlan =
    let s = sigmas state
    if i < 0 || i >= s.Length - 1 then raise (ArgumentOutOfRangeException("i", i, sprintf "step index must be in 0..%d" (s.Length - 2)))
    let sigma, next = float s[i], float s[i + 1]
    let up = min next (state.Config.Eta * sqrt (next * next * (sigma * sigma - next * next) / (sigma * sigma)))
    let down = sqrt (max 0.0 (next * next - up * up))
    { Sigma = s[i]; Delta = float32 (down - sigma); NoiseScale = float32 up }

/// One step on any backend: x' = x + Δ·(x − D)/σ (+ σ_up·z, z drawn from `noise` when σ_up > 0).
let step (ops: IBackend<'T, 'Noise>) (p: EulerAncestralPlan) (x: 'T) (denoised: 'T) (noise: 'Noise) : 'T =
    let d = ops.Divide(ops.Combine [| struct (Scalar 1.0f, x); struct (Scalar -1.0f, denoised) |], Scalar p.Sigma)
    if p.NoiseScale > 0.0f then
        ops.Combine [| struct (Scalar 1.0f, x); struct (Scalar p.Delta, d); struct (Scalar p.NoiseScale, ops.Normal(noise, x)) |]
    else
        ops.Combine [| struct (Scalar 1.0f, x); struct (Scalar p.Delta, d) |]

/// The whole loop from x (already scaled by σ_max): `denoiser x σ` is D(x; σ), `noiseAt i` the noise source of
/// step i (for JAX keys, `Prng.foldIn (uint32 i) key`, so every step draws independent normals).
let run (ops: IBackend<'T, 'Noise>) (denoiser: 'T -> float -> 'T) (noiseAt: int -> 'Noise) (state: EulerAncestralState) (x: 'T) : 'T =
    let n = (sigmas state).Length - 1
    let mutable sample = x
    for i in 0 .. n - 1 do
        let p = plan state i
        sample <- step ops p sample (denoiser sample (float p.Sigma)) (noiseAt i)
    sample
