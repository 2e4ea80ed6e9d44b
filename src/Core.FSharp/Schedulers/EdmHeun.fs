namespace Schedulers.Core

open System

/// `sigma_schedule`: how the noise levels are spaced between σ_max and σ_min (diffusers' `EDMEulerScheduler` key).
[<RequireQualifiedAccess>]
type SigmaSchedule =
    /// "karras": the ρ-schedule of Karras et al. 2022, Eq. 5.
    | Karras
    /// "exponential": evenly spaced in log σ (a geometric sequence; `rho` is not used).
    | Exponential

    /// The diffusers spelling.
    member s.Text =
        match s with
        | Karras -> "karras"
        | Exponential -> "exponential"

    /// The diffusers spelling.
    override s.ToString() = s.Text

/// The configuration of the deterministic EDM sampler (Karras et al. 2022, Algorithm 1, with the ρ-schedule of
/// their Eq. 5): `sigma_min`, `sigma_max`, `rho`.
type EdmHeunConfig =
    {
        /// `sigma_min`: σ_min, the last nonzero noise level of the schedule.
        SigmaMin: float
        /// `sigma_max`: σ_max, the first noise level (and the scale of the initial noise).
        SigmaMax: float
        /// `sigma_schedule`: "karras" (the ρ-schedule) or "exponential" (evenly in log σ).
        SigmaSchedule: SigmaSchedule
        /// `rho`: ρ, the schedule's warp (7 in the paper; larger spends more steps near σ_min).
        Rho: float
    }

/// The sampler state: the validated config and, after `setTimesteps`, the σ schedule. Immutable.
type EdmHeunState =
    {
        /// The validated configuration.
        Config: EdmHeunConfig
        /// N, the number of steps, None before `setTimesteps`.
        NumInferenceSteps: int option
        /// σ_0 > … > σ_{N−1} (Eq. 5) then σ_N = 0, in float32; None before `setTimesteps`. Never written after.
        Sigmas: float32[] option
    }

/// The float32 scalars of an Euler step from σ to σ_next: d = (x − D)/σ, x_next = x + (σ_next − σ)·d.
type EdmEulerPlan =
    {
        /// σ, the divisor of the derivative.
        Sigma: float32
        /// σ_next − σ (rounded once in float32), the factor of d.
        Delta: float32
    }

/// The float32 scalars of Heun's correction (Algorithm 1, lines 7–8): d' = (x_next − D')/σ_next,
/// x_next = x + ½Δ·d + ½Δ·d'.
type EdmHeunPlan =
    {
        /// σ_next, the divisor of the second derivative d'.
        SigmaNext: float32
        /// ½(σ_next − σ), the factor of both d and d' (halving is exact in float32).
        HalfDelta: float32
    }

/// Karras et al. 2022, Algorithm 1: the deterministic sampler of the probability-flow ODE dx/dσ = (x − D(x; σ))/σ
/// with Heun's second-order method on the ρ-schedule and an Euler step on the last interval to σ = 0. The maths is
/// written once over `ITensorOps`, so the same functions run on `NdArray` and on the shell's torch tensors.
module EdmHeun =

    /// The paper's values: σ_min 0.002, σ_max 80, ρ 7.
    let defaults: EdmHeunConfig = { SigmaMin = 0.002; SigmaMax = 80.0; SigmaSchedule = SigmaSchedule.Karras; Rho = 7.0 }

    let private fail (key: string) (value: float) (expected: string) =
        invalidArg key (sprintf "%s is %s but %s" key (value.ToString("R", Globalization.CultureInfo.InvariantCulture)) expected)

    let private finite (v: float) = not (Double.IsNaN v || Double.IsInfinity v)

    /// Returns the config when every field is usable, else throws an ArgumentException naming the key, its value and
    /// what was expected.
    let validate (config: EdmHeunConfig) : EdmHeunConfig =
        let c = config
        // σ_min must survive float32 rounding as a positive number: it is the divisor of the last Heun correction.
        if not (finite c.SigmaMin) || float32 c.SigmaMin <= 0.0f then
            fail "sigma_min" c.SigmaMin "it must be a finite number > 0 (and > 0 in float32)"
        if not (finite c.SigmaMax) || Single.IsInfinity(float32 c.SigmaMax) || float32 c.SigmaMax <= float32 c.SigmaMin then
            fail "sigma_max" c.SigmaMax (sprintf "it must be finite in float32 and greater than sigma_min (%g)" c.SigmaMin)
        if not (finite c.Rho) || c.Rho <= 0.0 then
            fail "rho" c.Rho "it must be a finite number > 0"
        config

    /// A state without a schedule for the (validated) config.
    let createState (config: EdmHeunConfig) : EdmHeunState =
        { Config = validate config; NumInferenceSteps = None; Sigmas = None }

    /// `init_noise_sigma` = σ_max: the scale of the initial noise x_0 ~ N(0, σ_max² I).
    let initNoiseSigma (state: EdmHeunState) : float = state.Config.SigmaMax

    /// The schedule for N steps (Eq. 5): σ_i = (σ_max^{1/ρ} + i/(N−1)·(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ for i < N, or
    /// with `sigma_schedule` "exponential" σ_i = exp(ln σ_max + i/(N−1)·(ln σ_min − ln σ_max)), computed in float64
    /// and rounded once to float32, then σ_N = 0. The endpoints are σ_max and σ_min exactly (as float32); N = 1 is
    /// the single level σ_max.
    let sigmas (config: EdmHeunConfig) (n: int) : float32[] =
        if n < 1 then invalidArg "num_inference_steps" (sprintf "num_inference_steps is %d but must be at least 1" n)
        ConfigLimits.inferenceSteps n
        let c = validate config
        // The schedule is a straight line from σ_max to σ_min in warped coordinates: σ^{1/ρ}, or ln σ.
        let warp, unwarp =
            match c.SigmaSchedule with
            | SigmaSchedule.Karras -> (fun (s: float) -> s ** (1.0 / c.Rho)), (fun (w: float) -> w ** c.Rho)
            | SigmaSchedule.Exponential -> Math.Log, Math.Exp
        let hi = warp c.SigmaMax
        let lo = warp c.SigmaMin
        Array.init (n + 1) (fun i ->
            if i = n then 0.0f
            elif i = 0 then float32 c.SigmaMax
            elif i = n - 1 then float32 c.SigmaMin
            else float32 (unwarp (hi + float i / float (n - 1) * (lo - hi))))

    /// A state with the schedule for `n` steps (the config is unchanged).
    let setTimesteps (n: int) (state: EdmHeunState) : EdmHeunState =
        let s = sigmas state.Config n
        { state with NumInferenceSteps = Some n; Sigmas = Some s }

    /// The schedule of a state after `setTimesteps`.
    let sigmasOf (state: EdmHeunState) : float32[] =
        match state.Sigmas with
        | Some s -> s
        | None -> invalidOp "the EDM sampler has no schedule: call EdmHeun.setTimesteps (set_timesteps) first"

    /// The number of denoiser evaluations of N steps: two per step but the last (Euler to σ = 0), 2N − 1.
    let nfe (steps: int) : int = max 0 (2 * steps - 1)

    let private checkIndex (s: float32[]) (i: int) =
        if i < 0 || i >= s.Length - 1 then
            invalidArg "index" (sprintf "index is %d but must be from 0 to %d (one less than the number of steps)" i (s.Length - 2))

    /// The Euler plan of step i (σ_i → σ_{i+1}).
    let eulerPlan (state: EdmHeunState) (i: int) : EdmEulerPlan =
        let s = sigmasOf state
        checkIndex s i
        { Sigma = s[i]; Delta = s[i + 1] - s[i] }

    /// The Heun plan of step i, or None on the last interval (σ_{i+1} = 0: Algorithm 1 keeps the Euler step there).
    let heunPlan (state: EdmHeunState) (i: int) : EdmHeunPlan option =
        let s = sigmasOf state
        checkIndex s i
        if s[i + 1] = 0.0f then None
        else Some { SigmaNext = s[i + 1]; HalfDelta = 0.5f * (s[i + 1] - s[i]) }

    /// d = (x − D)/σ: the ODE's slope dx/dσ from the denoised estimate D at (x, σ) (Algorithm 1, line 4).
    let derivative (b: ProgramBuilder) (sigma: float32) (x: Reg) (denoised: Reg) : Reg =
        b.Lin [ 1.0f, x; -1.0f, denoised ] |> b.Div sigma

    /// The Euler step: returns (x_next, d) with d = (x − D)/σ and x_next = x + Δ·d (Algorithm 1, lines 4–5), one
    /// program (one pass where the backend runs programs).
    let eulerStep (ops: IBackend<'T, 'Noise>) (plan: EdmEulerPlan) (x: 'T) (denoised: 'T) : struct ('T * 'T) =
        let b = ProgramBuilder(2)
        let xr = b.Input 0
        let d = derivative b plan.Sigma xr (b.Input 1)
        let next = b.Lin [ 1.0f, xr; plan.Delta, d ]
        let r = Backend.run ops (b.Build [ next; d ]) [| x; denoised |]
        struct (r[0], r[1])

    /// Heun's correction: d' = (x_euler − D')/σ_next, x_next = x + ½Δ·d + ½Δ·d' (Algorithm 1, lines 7–8), with D'
    /// the denoiser at (x_euler, σ_next); one program.
    let heunStep (ops: IBackend<'T, 'Noise>) (plan: EdmHeunPlan) (x: 'T) (d: 'T) (xEuler: 'T) (denoised: 'T) : 'T =
        let b = ProgramBuilder(4)
        let d2 = derivative b plan.SigmaNext (b.Input 2) (b.Input 3)
        let next = b.Lin [ 1.0f, b.Input 0; plan.HalfDelta, b.Input 1; plan.HalfDelta, d2 ]
        (Backend.run ops (b.Build [ next ]) [| x; d; xEuler; denoised |])[0]

    /// The scheduler of the one shape (`IScheduler`): iteration i of Algorithm 1 — the Euler step with the denoiser
    /// at σ_i, then Heun's correction with the denoiser at σ_{i+1} unless σ_{i+1} = 0. The model is the denoiser
    /// D(x; σ) (its query's timestep is σ too); the sampler draws no noise. Intermediates are released once used.
    let scheduler<'T> (config: EdmHeunConfig) : IScheduler<EdmHeunState, 'T, 'T> =
        let config = validate config
        { new IScheduler<EdmHeunState, 'T, 'T> with
            member _.ClassName = "EDMHeunScheduler"
            member _.Create(_) = createState config
            member _.SetTimesteps(n, _, state) = setTimesteps n state
            member _.Steps(state) = (sigmasOf state).Length - 1
            member _.FirstIndex(_) = 0
            member _.TimestepAt(state, i) = float (sigmasOf state).[i]
            member _.InitNoiseSigma(state) = initNoiseSigma state
            member _.Evaluations(steps) = nfe steps
            member _.Step(ops, model, _, state, i, x) =
                let denoise (y: 'T) (sigma: float32) = model y { Timestep = float sigma; Sigma = float sigma }
                // A denoiser may hand back its input; only tensors it made are released.
                let release (denoised: 'T) (input: 'T) = if not (obj.ReferenceEquals(denoised, input)) then ops.Release denoised
                let euler = eulerPlan state i
                let denoised = denoise x euler.Sigma
                let struct (xEuler, d) = eulerStep ops euler x denoised
                release denoised x
                match heunPlan state i with
                | None ->
                    ops.Release d
                    struct (state, xEuler)
                | Some heun ->
                    let denoised2 = denoise xEuler heun.SigmaNext
                    let next = heunStep ops heun x d xEuler denoised2
                    release denoised2 xEuler
                    ops.Release d
                    ops.Release xEuler
                    struct (state, next)
            member _.Sample(x) = x
            member _.Result(x) = x
            member _.Tensors(x) = [ x ]
            member _.StateTensors(_) = [] }

    /// One full step i: the Euler step, then Heun's correction unless σ_{i+1} = 0. `denoiser x σ` is D(x; σ).
    let step (ops: IBackend<'T, 'Noise>) (denoiser: 'T -> float -> 'T) (state: EdmHeunState) (i: int) (x: 'T) : 'T =
        let struct (_, next) =
            (scheduler state.Config).Step(ops, (fun y q -> denoiser y q.Sigma), (fun () -> invalidOp "the EDM sampler draws no noise"), state, i, x)
        next

    /// The core's default array operations (JAX's default threefry mode; the sampler draws no noise).
    let private ndOps = NdArrayBackend.Default :> IBackend<NdArray, PrngKey>

    /// `eulerStep` on NdArray: (x_next, d).
    let eulerStepArray (plan: EdmEulerPlan) (x: NdArray) (denoised: NdArray) : struct (NdArray * NdArray) =
        NdArray.checkSameShape "sample" x "denoised" denoised
        eulerStep ndOps plan x denoised

    /// `heunStep` on NdArray.
    let heunStepArray (plan: EdmHeunPlan) (x: NdArray) (d: NdArray) (xEuler: NdArray) (denoised: NdArray) : NdArray =
        NdArray.checkSameShape "sample" xEuler "denoised" denoised
        heunStep ndOps plan x d xEuler denoised

/// The config schema of the EDM Heun sampler. Its keys are those of diffusers' `EDMEulerScheduler` with the same
/// defaults, so an `EDMEulerScheduler` config (or a KarrasVe one) configures it.
module EdmHeunConfig =

    /// One entry per key; `EdmHeun.validate` checks the values.
    let schema: ConfigSchema<EdmHeunConfig> =
        ConfigSchema(
            "EDMHeunScheduler",
            [| "EDMHeunScheduler"; "EDMEulerScheduler"; "KarrasVeScheduler" |],
            EdmHeun.defaults,
            [ ConfigField.float "sigma_min" "0.002" (fun c -> c.SigmaMin) (fun v c -> { c with SigmaMin = v })
              ConfigField.float "sigma_max" "80.0" (fun c -> c.SigmaMax) (fun v c -> { c with SigmaMax = v })
              ConfigField.choice "sigma_schedule" (Choices.ofUnion (fun (s: SigmaSchedule) -> s.Text) [])
                  (fun c -> c.SigmaSchedule) (fun v c -> { c with SigmaSchedule = v })
              ConfigField.float "rho" "7.0" (fun c -> c.Rho) (fun v c -> { c with Rho = v }) ],
            EdmHeun.validate
        )

/// The schema as a static member, for C#: `EdmHeunConfig.Schema`.
type EdmHeunConfig with

    /// The config schema (see `EdmHeunConfig.schema`).
    static member Schema = EdmHeunConfig.schema
