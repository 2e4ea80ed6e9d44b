namespace Schedulers.Core

open System

/// The configuration of the KarrasVe scheduler (Karras et al. 2022, Algorithm 2, specialised to VE models), with
/// diffusers' field meanings: `sigma_min`, `sigma_max`, `s_noise`, `s_churn`, `s_min`, `s_max`.
type KarrasVeConfig =
    {
        /// `sigma_min`: the smallest noise level σ_min (the schedule ends at σ_min²).
        SigmaMin: float
        /// `sigma_max`: the largest noise level σ_max (the schedule starts at σ_max²; also `init_noise_sigma`).
        SigmaMax: float
        /// `s_noise`: S_noise, the scale of the churn noise ε ~ N(0, S_noise² I).
        SNoise: float
        /// `s_churn`: S_churn, the total stochasticity; γ = min(S_churn / n, √2 − 1).
        SChurn: float
        /// `s_min`: S_tmin, the lower end of the σ range where churn is added.
        SMin: float
        /// `s_max`: S_tmax, the upper end of the σ range where churn is added.
        SMax: float
    }

/// The scheduler state (diffusers' `KarrasVeSchedulerState` plus the flavour and config it was made with).
/// Immutable: every function returns a new state.
type KarrasVeState =
    {
        /// Which reference's rounding the per-step scalars follow.
        Flavour: Flavour
        /// The validated configuration.
        Config: KarrasVeConfig
        /// `num_inference_steps`, None before `setTimesteps`.
        NumInferenceSteps: int option
        /// `timesteps` = [n−1, …, 0], None before `setTimesteps`. Never written after it is made.
        Timesteps: int[] option
        /// `schedule[k]` = σ_max²·(σ_min²/σ_max²)^((n−1−k)/(n−1)) in float32 (σ² values), None before `setTimesteps`.
        /// Never written after it is made.
        Schedule: float32[] option
    }

/// The outputs of `step` / `stepCorrect` with diffusers' field names (`prev_sample`, `derivative`,
/// `pred_original_sample`). Flax's `FlaxKarrasVeOutput` has no `pred_original_sample`; torch's has it.
type KarrasVeOutput<'T> =
    {
        /// `prev_sample`: the sample at σ_prev.
        PrevSample: 'T
        /// `derivative`: the first-stage derivative d = (x̂ − x0)/σ̂ (also from `stepCorrect`: a diffusers quirk).
        Derivative: 'T
        /// `pred_original_sample`: the denoised estimate x0 of the stage.
        PredOriginalSample: 'T
    }

/// The result of `addNoiseToInput`: the churned sample x̂ and its noise level σ̂ (diffusers' `(sample_hat, sigma_hat)`).
type KarrasVeNoised<'T> =
    {
        /// `sample_hat`: x̂ = x + √(σ̂² − σ²)·ε.
        SampleHat: 'T
        /// `sigma_hat`: σ̂ = σ + γσ.
        SigmaHat: float
    }

/// The scalars of one churn (`add_noise_to_input`), rounded as the flavour's reference rounds them.
type KarrasVeChurnPlan =
    {
        /// γ: min(S_churn / n, √2 − 1) inside [s_min, s_max], else 0.
        Gamma: float
        /// σ̂ = σ + γσ (a float32 value in the torch flavour, a float64 one in the Flax flavour).
        SigmaHat: float
        /// √(σ̂² − σ²) as the float32 factor applied to ε.
        NoiseScale: float32
        /// S_noise as the float32 factor applied to the standard normal draw.
        SNoise: float32
    }

/// The scalars of one Euler or Heun stage (`step` / `step_correct`), rounded as the flavour's reference rounds them.
type KarrasVeStepPlan =
    {
        /// σ̂ as the float32 factor of model_output and the divisor of the derivative.
        SigmaHat: float32
        /// σ_prev as the float32 factor of the corrector's model_output and its divisor.
        SigmaPrev: float32
        /// (σ_prev − σ̂) as the float32 factor of the derivative.
        Delta: float32
        /// True when "x / σ" is computed as x·f32(1/σ): XLA:CPU rewrites a division by a scalar into a multiplication by
        /// its float32 reciprocal (the Flax golden values show it on every element); torch divides.
        DivideByReciprocal: bool
    }

/// Backends that run KarrasVe's stages each in one pass (`FusedKernels.scaledNoiseAdd`, `karrasEuler`,
/// `karrasHeun`), with the same roundings as the op-by-op form. Each member returns ValueNone when it cannot take the
/// given tensors (another dtype or device, say); the step then uses the op-by-op form.
type IKarrasFusedOps<'T> =

    /// The churn x̂ = x + scale·(sNoise·z) with the noise z already drawn.
    abstract TryChurn: sNoise: float32 * scale: float32 * sample: 'T * z: 'T -> 'T voption

    /// The Euler stage: (x0, d, prev) from x̂ and model_output under the plan.
    abstract TryEuler: plan: KarrasVeStepPlan * sampleHat: 'T * modelOutput: 'T -> struct ('T * 'T * 'T) voption

    /// The Heun correction: (x0, prev) from x̂, the Euler sample, model_output and the Euler derivative.
    abstract TryHeun: plan: KarrasVeStepPlan * sampleHat: 'T * samplePrev: 'T * modelOutput: 'T * derivative: 'T -> struct ('T * 'T) voption

/// diffusers' KarrasVeScheduler (torch) / FlaxKarrasVeScheduler as pure functions over `KarrasVeState`: the maths is
/// written once over `ITensorOps`, so the same functions run on the core's `NdArray` (Flax flavour, JAX keys) and on
/// the shell's torch tensors (torch flavour, `torch.Generator`).
module KarrasVe =

    /// The solver order diffusers declares (`order = 2`: Heun's method needs two model calls per step).
    [<Literal>]
    let Order = 2

    /// diffusers' defaults: sigma_min 0.02, sigma_max 100, s_noise 1.007, s_churn 80, s_min 0.05, s_max 50.
    let defaults: KarrasVeConfig =
        { SigmaMin = 0.02
          SigmaMax = 100.0
          SNoise = 1.007
          SChurn = 80.0
          SMin = 0.05
          SMax = 50.0 }

    let private fail (key: string) (value: float) (expected: string) =
        invalidArg key (sprintf "%s is %s but %s" key (value.ToString("R", Globalization.CultureInfo.InvariantCulture)) expected)

    /// Returns the config when every field is usable, else throws an ArgumentException naming the diffusers key,
    /// its value and what was expected.
    let validate (config: KarrasVeConfig) : KarrasVeConfig =
        let c = config
        if Double.IsNaN c.SigmaMin || Double.IsInfinity c.SigmaMin || c.SigmaMin <= 0.0 then
            fail "sigma_min" c.SigmaMin "it must be a finite number > 0"
        if Double.IsNaN c.SigmaMax || Double.IsInfinity c.SigmaMax || c.SigmaMax <= c.SigmaMin then
            fail "sigma_max" c.SigmaMax (sprintf "it must be finite and greater than sigma_min (%g)" c.SigmaMin)
        // The schedule is a float32 table of σ² values: σ_max² must not overflow, nor σ_min²/σ_max² underflow to 0.
        if Single.IsInfinity(float32 (c.SigmaMax * c.SigmaMax)) then
            fail "sigma_max" c.SigmaMax "sigma_max squared must be finite in float32 (sigma_max below about 1.8e19)"
        if float32 (c.SigmaMin * c.SigmaMin / (c.SigmaMax * c.SigmaMax)) = 0.0f then
            fail "sigma_min" c.SigmaMin "(sigma_min / sigma_max) squared must not underflow to 0 in float32"
        if Double.IsNaN c.SNoise || Double.IsInfinity c.SNoise || c.SNoise < 0.0 then
            fail "s_noise" c.SNoise "it must be a finite number >= 0"
        if Double.IsNaN c.SChurn || Double.IsInfinity c.SChurn || c.SChurn < 0.0 then
            fail "s_churn" c.SChurn "it must be a finite number >= 0"
        if Double.IsNaN c.SMin || c.SMin < 0.0 then
            fail "s_min" c.SMin "it must be a number >= 0"
        if Double.IsNaN c.SMax || c.SMax < c.SMin then
            fail "s_max" c.SMax (sprintf "it must be a number >= s_min (%g)" c.SMin)
        config

    /// `create_state()`: a state without timesteps for the given flavour and (validated) config.
    let createState (flavour: Flavour) (config: KarrasVeConfig) : KarrasVeState =
        if flavour <> Flavour.Torch && flavour <> Flavour.Flax then
            invalidArg "flavour" (sprintf "flavour is %A but must be Torch or Flax" flavour)
        { Flavour = flavour
          Config = validate config
          NumInferenceSteps = None
          Timesteps = None
          Schedule = None }

    /// `init_noise_sigma` = σ_max: the scale of the initial noise (while the schedule itself holds σ² values).
    let initNoiseSigma (state: KarrasVeState) : float = state.Config.SigmaMax

    /// The schedule table σ²_k, k = 0..n−1: `σ_max² · (σ_min²/σ_max²)^(i/(n−1))` for i = n−1−k, the exponent an
    /// integer divided by (n−1) in float32, the power and the product in float32, as both references evaluate it.
    let scheduleValues (config: KarrasVeConfig) (n: int) : float32[] =
        let maxSq = float32 (config.SigmaMax * config.SigmaMax)
        let ratio = float32 (config.SigmaMin * config.SigmaMin / (config.SigmaMax * config.SigmaMax))
        let den = float32 (n - 1)
        Array.init n (fun k ->
            let exponent = float32 (n - 1 - k) / den
            maxSq * float32 (Math.Pow(float ratio, float exponent)))

    /// `set_timesteps(n)`: timesteps [n−1, …, 0] and the σ² schedule. n must be at least 2 (diffusers divides by
    /// n − 1 and would produce NaN for n = 1).
    let setTimesteps (numInferenceSteps: int) (state: KarrasVeState) : KarrasVeState =
        if numInferenceSteps < 2 then
            invalidArg
                "num_inference_steps"
                (sprintf
                    "num_inference_steps is %d but must be at least 2 (the schedule divides by num_inference_steps - 1)"
                    numInferenceSteps)
        ConfigLimits.inferenceSteps numInferenceSteps
        { state with
            NumInferenceSteps = Some numInferenceSteps
            Timesteps = Some(Array.init numInferenceSteps (fun k -> numInferenceSteps - 1 - k))
            Schedule = Some(scheduleValues state.Config numInferenceSteps) }

    let private requireSteps (what: string) (state: KarrasVeState) : int =
        match state.NumInferenceSteps with
        | Some n -> n
        | None ->
            invalidOp (sprintf "%s needs the number of inference steps: call setTimesteps (set_timesteps) first" what)

    /// The schedule of a state after `setTimesteps` (throws, saying what to call, before it).
    let schedule (state: KarrasVeState) : float32[] =
        match state.Schedule with
        | Some s -> Array.copy s
        | None -> invalidOp "the schedule is not set: call setTimesteps (set_timesteps) first"

    /// `sigma` of loop step t (σ = schedule[t]) and `sigma_prev` (schedule[t−1], or 0 at t = 0), as the pipeline
    /// reads them: the σ² table values are used as σ (diffusers quirk, spec §6.2).
    let sigmasAt (state: KarrasVeState) (t: int) : struct (float * float) =
        let s =
            match state.Schedule with
            | Some s -> s
            | None -> invalidOp "the schedule is not set: call setTimesteps (set_timesteps) first"
        if t < 0 || t >= s.Length then
            raise (ArgumentOutOfRangeException("t", t, sprintf "t is %d but must lie in [0, %d)" t s.Length))
        struct (float s[t], (if t > 0 then float s[t - 1] else 0.0))

    let private checkSigma (name: string) (sigma: float) =
        if Double.IsNaN sigma || Double.IsInfinity sigma || sigma < 0.0 then
            invalidArg name (sprintf "%s is %g but must be a finite number >= 0" name sigma)

    /// γ_i of Algorithm 2: min(S_churn / n, √2 − 1) when s_min ≤ σ ≤ s_max, else 0. The torch flavour compares the
    /// float32 σ with the float32-rounded bounds (a 0-d tensor against Python floats); Flax compares in float64.
    let gamma (state: KarrasVeState) (sigma: float) : float =
        let n = requireSteps "add_noise_to_input" state
        let c = state.Config
        let inRange =
            match state.Flavour with
            | Flavour.Torch ->
                let s = float32 sigma
                float32 c.SMin <= s && s <= float32 c.SMax
            | _ -> c.SMin <= sigma && sigma <= c.SMax
        if inRange then min (c.SChurn / float n) (Math.Sqrt 2.0 - 1.0) else 0.0

    /// The scalars of `add_noise_to_input` at σ. Torch: σ is a float32 0-d tensor, so σ̂ = σ + f32(γ)·σ and
    /// √(σ̂² − σ²) are float32 operations. Flax (σ a Python float): both in float64, the factor rounded to float32
    /// where it meets the array.
    let churnPlan (state: KarrasVeState) (sigma: float) : KarrasVeChurnPlan =
        checkSigma "sigma" sigma
        let g = gamma state sigma
        let sNoise = float32 state.Config.SNoise
        match state.Flavour with
        | Flavour.Torch ->
            let s = float32 sigma
            let sigmaHat = s + float32 g * s
            { Gamma = g
              SigmaHat = float sigmaHat
              NoiseScale = MathF.Sqrt(sigmaHat * sigmaHat - s * s)
              SNoise = sNoise }
        | _ ->
            let sigmaHat = sigma + g * sigma
            { Gamma = g
              SigmaHat = sigmaHat
              NoiseScale = float32 (Math.Sqrt(sigmaHat * sigmaHat - sigma * sigma))
              SNoise = sNoise }

    /// The scalars of `step` / `step_correct`. Torch: σ̂ and σ_prev are float32 0-d tensors, so σ_prev − σ̂ is a
    /// float32 subtraction. Flax (Python floats): σ_prev − σ̂ in float64, rounded once where it meets the array.
    let stepPlan (flavour: Flavour) (sigmaHat: float) (sigmaPrev: float) : KarrasVeStepPlan =
        match flavour with
        | Flavour.Torch ->
            let sh = float32 sigmaHat
            let sp = float32 sigmaPrev
            { SigmaHat = sh
              SigmaPrev = sp
              Delta = sp - sh
              DivideByReciprocal = false }
        | _ ->
            { SigmaHat = float32 sigmaHat
              SigmaPrev = float32 sigmaPrev
              Delta = float32 (sigmaPrev - sigmaHat)
              DivideByReciprocal = true }

    let private checkShapes (ops: ITensorOps<'T, 'Noise>) (reference: string) (x: 'T) (others: (string * 'T) list) =
        let shape = ops.Shape x
        for (name, y) in others do
            let s = ops.Shape y
            if not (Shapes.same s shape) then
                invalidArg
                    name
                    (sprintf "%s has shape [%s] but %s has [%s]" reference (String.Join(",", shape)) name (String.Join(",", s)))

    let private like (x: NdArray) = GC.AllocateUninitializedArray<float32> x.Length

    let private wrap (x: NdArray) (data: float32[]) = NdArray.own x.ShapeView data

    /// The churn on arrays in one pass: x̂ = x + c·(S_noise·z), z drawn inside the pass (`NoiseKernels.scaledNoiseAddNormal`).
    let private fusedChurn (mode: ThreefryMode) (key: PrngKey) (sNoise: float32) (scale: float32) (x: NdArray) : NdArray =
        let out = like x
        let n = x.Length
        Parallelism.forChunks n (fun start length -> NoiseKernels.scaledNoiseAddNormal mode key n sNoise scale x.Buffer out start length)
        wrap x out

    /// The Euler stage on arrays in one pass (see `FusedKernels.karrasEuler`).
    let private fusedEuler (p: KarrasVeStepPlan) (s: NdArray) (m: NdArray) : struct (NdArray * NdArray * NdArray) =
        let x0, d, prev = like s, like s, like s
        Parallelism.forChunks s.Length (fun o len ->
            FusedKernels.karrasEuler p.SigmaHat p.DivideByReciprocal p.Delta (ReadOnlySpan(s.Buffer, o, len)) (ReadOnlySpan(m.Buffer, o, len))
                (Span(x0, o, len)) (Span(d, o, len)) (Span(prev, o, len)))
        struct (wrap s x0, wrap s d, wrap s prev)

    /// The Heun correction on arrays in one pass (see `FusedKernels.karrasHeun`).
    let private fusedHeun (p: KarrasVeStepPlan) (sh: NdArray) (sp: NdArray) (m: NdArray) (d: NdArray) : struct (NdArray * NdArray) =
        let x0, prev = like sh, like sh
        Parallelism.forChunks sh.Length (fun o len ->
            FusedKernels.karrasHeun p.SigmaPrev p.DivideByReciprocal p.Delta (ReadOnlySpan(sh.Buffer, o, len)) (ReadOnlySpan(sp.Buffer, o, len))
                (ReadOnlySpan(m.Buffer, o, len)) (ReadOnlySpan(d.Buffer, o, len)) (Span(x0, o, len)) (Span(prev, o, len)))
        struct (wrap sh x0, wrap sh prev)

    /// The core backend's one-pass stages. `NdArrayOps` is declared before `IKarrasFusedOps`, so it is adapted here
    /// rather than implementing the interface itself.
    [<Sealed>]
    type private NdArrayStages() =
        static member val Instance = NdArrayStages()

        interface IKarrasFusedOps<NdArray> with
            member _.TryChurn(sNoise, scale, sample, z) =
                let out = like sample
                Parallelism.forChunks sample.Length (fun o len ->
                    FusedKernels.scaledNoiseAdd sNoise scale (ReadOnlySpan(sample.Buffer, o, len)) (ReadOnlySpan(z.Buffer, o, len)) (Span(out, o, len)))
                ValueSome(wrap sample out)
            member _.TryEuler(p, sampleHat, modelOutput) = ValueSome(fusedEuler p sampleHat modelOutput)
            member _.TryHeun(p, sampleHat, samplePrev, modelOutput, derivative) =
                ValueSome(fusedHeun p sampleHat samplePrev modelOutput derivative)

    /// The backend's one-pass stages, if it has them (the core backend always does).
    let private fusedStages (ops: ITensorOps<'T, 'Noise>) : IKarrasFusedOps<'T> voption =
        match box ops with
        | :? IKarrasFusedOps<'T> as f -> ValueSome f
        | :? NdArrayOps -> ValueSome(unbox<IKarrasFusedOps<'T>> (box NdArrayStages.Instance))
        | _ -> ValueNone

    /// `x / σ` as the flavour's reference computes it (see `KarrasVeStepPlan.DivideByReciprocal`).
    let private divideBySigma (ops: ITensorOps<'T, 'Noise>) (plan: KarrasVeStepPlan) (x: 'T) (sigma: float32) : 'T =
        if plan.DivideByReciprocal then ops.Combine [| struct (Scalar(1.0f / sigma), x) |]
        else ops.Divide(x, Scalar sigma)

    /// The Flax draw key of a call given `key`: `split(key, 1)[0]` (diffusers' `random.split(key, num=1)`, spec §3.4).
    let drawKeyWith (mode: ThreefryMode) (key: PrngKey) : PrngKey = (Prng.splitWith mode 1 key)[0]

    let internal addNoiseToInputReleasing
        (ops: ITensorOps<'T, 'Noise>)
        (release: 'T -> unit)
        (state: KarrasVeState)
        (sample: 'T)
        (sigma: float)
        (noise: 'Noise)
        : KarrasVeNoised<'T> =
        let plan = churnPlan state sigma
        match box ops, box sample, box noise with
        | (:? NdArrayOps as nd), (:? NdArray as x), (:? PrngKey as key) ->
            // The core backend: one pass, the noise drawn block by block inside it.
            { SampleHat = unbox<'T> (box (fusedChurn nd.Mode key plan.SNoise plan.NoiseScale x)); SigmaHat = plan.SigmaHat }
        | _ ->
            let z = ops.Normal(noise, sample)
            match fusedStages ops |> ValueOption.bind (fun f -> f.TryChurn(plan.SNoise, plan.NoiseScale, sample, z)) with
            | ValueSome sampleHat ->
                release z
                { SampleHat = sampleHat; SigmaHat = plan.SigmaHat }
            | ValueNone ->
                let eps = ops.Combine [| struct (Scalar plan.SNoise, z) |]
                release z
                let sampleHat = ops.Combine [| struct (Scalar 1.0f, sample); struct (Scalar plan.NoiseScale, eps) |]
                release eps
                { SampleHat = sampleHat; SigmaHat = plan.SigmaHat }

    /// `add_noise_to_input` on any backend: γ from the config, ε = S_noise·N(0, I) drawn from `noise` (one full-shape
    /// draw on every call, even when γ = 0), σ̂ = σ + γσ and x̂ = x + √(σ̂² − σ²)·ε (Algorithm 2, lines 5–8).
    let addNoiseToInputWith (ops: ITensorOps<'T, 'Noise>) (state: KarrasVeState) (sample: 'T) (sigma: float) (noise: 'Noise) =
        addNoiseToInputReleasing ops ignore state sample sigma noise

    /// FlaxKarrasVeScheduler.add_noise_to_input(state, sample, sigma, key): the draw is `normal(split(key, 1)[0])`.
    let addNoiseToInput (state: KarrasVeState) (sample: NdArray) (sigma: float) (key: PrngKey) : KarrasVeNoised<NdArray> =
        addNoiseToInputWith NdArrayOps.Default state sample sigma (drawKeyWith ThreefryMode.Partitionable key)

    let internal stepReleasing
        (ops: ITensorOps<'T, 'Noise>)
        (release: 'T -> unit)
        (state: KarrasVeState)
        (modelOutput: 'T)
        (sigmaHat: float)
        (sigmaPrev: float)
        (sampleHat: 'T)
        : KarrasVeOutput<'T> =
        requireSteps "step" state |> ignore
        checkSigma "sigma_prev" sigmaPrev
        checkSigma "sigma_hat" sigmaHat
        if sigmaHat = 0.0 then
            invalidArg "sigma_hat" "sigma_hat is 0 but step divides by it: it must be > 0"
        checkShapes ops "sample_hat" sampleHat [ "model_output", modelOutput ]
        let p = stepPlan state.Flavour sigmaHat sigmaPrev
        // One pass for x0, d and prev where the backend offers it, else op by op with the same roundings.
        match fusedStages ops |> ValueOption.bind (fun f -> f.TryEuler(p, sampleHat, modelOutput)) with
        | ValueSome(struct (x0, d, prev)) -> { PrevSample = prev; Derivative = d; PredOriginalSample = x0 }
        | ValueNone ->
            let x0 = ops.Combine [| struct (Scalar 1.0f, sampleHat); struct (Scalar p.SigmaHat, modelOutput) |]
            let diff = ops.Combine [| struct (Scalar 1.0f, sampleHat); struct (Scalar -1.0f, x0) |]
            let d = divideBySigma ops p diff p.SigmaHat
            release diff
            let prev = ops.Combine [| struct (Scalar 1.0f, sampleHat); struct (Scalar p.Delta, d) |]
            { PrevSample = prev; Derivative = d; PredOriginalSample = x0 }

    /// `step` on any backend, the Euler stage of Algorithm 2 (lines 9–10): x0 = x̂ + σ̂·model_output,
    /// d = (x̂ − x0)/σ̂, x_prev = x̂ + (σ_prev − σ̂)·d.
    let stepWith (ops: ITensorOps<'T, 'Noise>) (state: KarrasVeState) (modelOutput: 'T) (sigmaHat: float) (sigmaPrev: float) (sampleHat: 'T) =
        stepReleasing ops ignore state modelOutput sigmaHat sigmaPrev sampleHat

    /// FlaxKarrasVeScheduler.step on `NdArray`.
    let step (state: KarrasVeState) (modelOutput: NdArray) (sigmaHat: float) (sigmaPrev: float) (sampleHat: NdArray) =
        stepWith NdArrayOps.Default state modelOutput sigmaHat sigmaPrev sampleHat

    let internal stepCorrectReleasing
        (ops: ITensorOps<'T, 'Noise>)
        (release: 'T -> unit)
        (state: KarrasVeState)
        (modelOutput: 'T)
        (sigmaHat: float)
        (sigmaPrev: float)
        (sampleHat: 'T)
        (samplePrev: 'T)
        (derivative: 'T)
        : KarrasVeOutput<'T> =
        requireSteps "step_correct" state |> ignore
        checkSigma "sigma_prev" sigmaPrev
        checkSigma "sigma_hat" sigmaHat
        if sigmaPrev = 0.0 then
            invalidArg
                "sigma_prev"
                "sigma_prev is 0 but step_correct divides by it: the last step (sigma_prev = 0) takes no correction"
        checkShapes
            ops
            "sample_hat"
            sampleHat
            [ "model_output", modelOutput; "sample_prev", samplePrev; "derivative", derivative ]
        let p = stepPlan state.Flavour sigmaHat sigmaPrev
        // One pass for x0 and prev where the backend offers it, else op by op with the same roundings.
        match fusedStages ops |> ValueOption.bind (fun f -> f.TryHeun(p, sampleHat, samplePrev, modelOutput, derivative)) with
        | ValueSome(struct (x0, prev)) -> { PrevSample = prev; Derivative = derivative; PredOriginalSample = x0 }
        | ValueNone ->
            let x0 = ops.Combine [| struct (Scalar 1.0f, samplePrev); struct (Scalar p.SigmaPrev, modelOutput) |]
            let diff = ops.Combine [| struct (Scalar 1.0f, samplePrev); struct (Scalar -1.0f, x0) |]
            let dCorr = divideBySigma ops p diff p.SigmaPrev
            release diff
            let avg = ops.Combine [| struct (Scalar 0.5f, derivative); struct (Scalar 0.5f, dCorr) |]
            release dCorr
            let prev = ops.Combine [| struct (Scalar 1.0f, sampleHat); struct (Scalar p.Delta, avg) |]
            release avg
            { PrevSample = prev; Derivative = derivative; PredOriginalSample = x0 }

    /// `step_correct` on any backend, the Heun correction of Algorithm 2 (lines 11–13) with model_output evaluated at
    /// (x_prev, σ_prev): x0' = x_prev + σ_prev·model_output, d' = (x_prev − x0')/σ_prev,
    /// x_prev' = x̂ + (σ_prev − σ̂)·(½d + ½d'). The returned `derivative` is the first-stage d (diffusers quirk).
    /// σ_prev = 0 is an error (Algorithm 2, line 11, skips the correction when t_{i+1} = 0; diffusers would divide by zero).
    let stepCorrectWith
        (ops: ITensorOps<'T, 'Noise>)
        (state: KarrasVeState)
        (modelOutput: 'T)
        (sigmaHat: float)
        (sigmaPrev: float)
        (sampleHat: 'T)
        (samplePrev: 'T)
        (derivative: 'T)
        =
        stepCorrectReleasing ops ignore state modelOutput sigmaHat sigmaPrev sampleHat samplePrev derivative

    /// FlaxKarrasVeScheduler.step_correct on `NdArray`.
    let stepCorrect
        (state: KarrasVeState)
        (modelOutput: NdArray)
        (sigmaHat: float)
        (sigmaPrev: float)
        (sampleHat: NdArray)
        (samplePrev: NdArray)
        (derivative: NdArray)
        =
        stepCorrectWith NdArrayOps.Default state modelOutput sigmaHat sigmaPrev sampleHat samplePrev derivative

/// The `scheduler_config.json` schema of `KarrasVeScheduler` / `FlaxKarrasVeScheduler`.
module KarrasVeConfig =

    /// One entry per key, in diffusers' constructor order (diffusers writes the defaults `sigma_max`, `s_churn` and
    /// `s_max` as integers); `KarrasVe.validate` checks the values.
    let schema: ConfigSchema<KarrasVeConfig> =
        ConfigSchema(
            "KarrasVeScheduler",
            [| "KarrasVeScheduler" |],
            KarrasVe.defaults,
            [ ConfigField.float "sigma_min" "0.02" (fun c -> c.SigmaMin) (fun v c -> { c with SigmaMin = v })
              ConfigField.float "sigma_max" "100" (fun c -> c.SigmaMax) (fun v c -> { c with SigmaMax = v })
              ConfigField.float "s_noise" "1.007" (fun c -> c.SNoise) (fun v c -> { c with SNoise = v })
              ConfigField.float "s_churn" "80" (fun c -> c.SChurn) (fun v c -> { c with SChurn = v })
              ConfigField.float "s_min" "0.05" (fun c -> c.SMin) (fun v c -> { c with SMin = v })
              ConfigField.float "s_max" "50" (fun c -> c.SMax) (fun v c -> { c with SMax = v }) ],
            KarrasVe.validate
        )

/// The schema as a static member, for C#: `KarrasVeConfig.Schema`.
type KarrasVeConfig with

    /// The `scheduler_config.json` schema (see `KarrasVeConfig.schema`).
    static member Schema = KarrasVeConfig.schema
