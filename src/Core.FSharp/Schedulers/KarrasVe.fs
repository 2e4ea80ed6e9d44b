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
        if obj.ReferenceEquals(flavour, null) then nullArg "flavour"
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
        let hold = state.Flavour.Hold
        let inRange = hold c.SMin <= hold sigma && hold sigma <= hold c.SMax
        if inRange then min (c.SChurn / float n) (Math.Sqrt 2.0 - 1.0) else 0.0

    /// The scalars of `add_noise_to_input` at σ. Torch: σ is a float32 0-d tensor, so σ̂ = σ + f32(γ)·σ and
    /// √(σ̂² − σ²) are float32 operations. Flax (σ a Python float): both in float64, the factor rounded to float32
    /// where it meets the array.
    let churnPlan (state: KarrasVeState) (sigma: float) : KarrasVeChurnPlan =
        checkSigma "sigma" sigma
        let g = gamma state sigma
        let sNoise = float32 state.Config.SNoise
        let hold = state.Flavour.Hold
        // Torch's float32 operations are float64 operations rounded once (exact for +, −, ×, √ of float32 values);
        // Flax's `hold` is the identity.
        let s = hold sigma
        let sigmaHat = hold (s + hold (hold g * s))
        { Gamma = g
          SigmaHat = sigmaHat
          NoiseScale = float32 (Math.Sqrt(hold (hold (sigmaHat * sigmaHat) - hold (s * s))))
          SNoise = sNoise }

    /// The scalars of `step` / `step_correct`. Torch: σ̂ and σ_prev are float32 0-d tensors, so σ_prev − σ̂ is a
    /// float32 subtraction. Flax (Python floats): σ_prev − σ̂ in float64, rounded once where it meets the array.
    let stepPlan (flavour: Flavour) (sigmaHat: float) (sigmaPrev: float) : KarrasVeStepPlan =
        let hold = flavour.Hold
        { SigmaHat = float32 sigmaHat
          SigmaPrev = float32 sigmaPrev
          Delta = float32 (hold (hold sigmaPrev - hold sigmaHat))
          DivideByReciprocal = (flavour.Division = MultiplyByReciprocal) }

    let private checkShapes (ops: IBackend<'T, 'Noise>) (reference: string) (x: 'T) (others: (string * 'T) list) =
        let shape = ops.Shape x
        for (name, y) in others do
            let s = ops.Shape y
            if not (Shapes.same s shape) then
                invalidArg
                    name
                    (sprintf "%s has shape [%s] but %s has [%s]" reference (String.Join(",", shape)) name (String.Join(",", s)))

    /// `x / σ` as the flavour's reference computes it (see `KarrasVeStepPlan.DivideByReciprocal`).
    let private divideBySigma (ops: IBackend<'T, 'Noise>) (plan: KarrasVeStepPlan) (x: 'T) (sigma: float32) : 'T =
        if plan.DivideByReciprocal then Backend.scale ops (1.0f / sigma) x
        else ops.Divide(x, Scalar sigma)

    /// The Flax draw key of a call given `key`: `split(key, 1)[0]` (diffusers' `random.split(key, num=1)`, spec §3.4).
    let drawKeyWith (mode: ThreefryMode) (key: PrngKey) : PrngKey = (Prng.splitWith mode 1 key)[0]

    /// `add_noise_to_input` on any backend: γ from the config, ε = S_noise·N(0, I) drawn from `noise` (one full-shape
    /// draw on every call, even when γ = 0), σ̂ = σ + γσ and x̂ = x + √(σ̂² − σ²)·ε (Algorithm 2, lines 5–8). One
    /// pass where the backend offers it (the noise drawn inside it on the core backend).
    let addNoiseToInputOn (ops: IBackend<'T, 'Noise>) (state: KarrasVeState) (sample: 'T) (sigma: float) (noise: 'Noise) : KarrasVeNoised<'T> =
        let plan = churnPlan state sigma
        let churned =
            match ops.TryChurnWithNoise(plan.SNoise, plan.NoiseScale, sample, noise) with
            | ValueSome sampleHat -> sampleHat
            | ValueNone ->
                let z = ops.Normal(noise, sample)
                let sampleHat =
                    match ops.TryChurn(plan.SNoise, plan.NoiseScale, sample, z) with
                    | ValueSome sampleHat -> sampleHat
                    | ValueNone ->
                        let eps = Backend.scale ops plan.SNoise z
                        let sampleHat = Backend.lin ops [ 1.0f, sample; plan.NoiseScale, eps ]
                        ops.Release eps
                        sampleHat
                ops.Release z
                sampleHat
        { SampleHat = churned; SigmaHat = plan.SigmaHat }

    /// FlaxKarrasVeScheduler.add_noise_to_input(state, sample, sigma, key): the draw is `normal(split(key, 1)[0])`.
    let addNoiseToInput (state: KarrasVeState) (sample: NdArray) (sigma: float) (key: PrngKey) : KarrasVeNoised<NdArray> =
        addNoiseToInputOn NdArrayBackend.Default state sample sigma (drawKeyWith ThreefryMode.Partitionable key)

    /// `step` on any backend, the Euler stage of Algorithm 2 (lines 9–10): x0 = x̂ + σ̂·model_output,
    /// d = (x̂ − x0)/σ̂, x_prev = x̂ + (σ_prev − σ̂)·d.
    let stepOn (ops: IBackend<'T, 'Noise>) (state: KarrasVeState) (modelOutput: 'T) (sigmaHat: float) (sigmaPrev: float) (sampleHat: 'T) : KarrasVeOutput<'T> =
        requireSteps "step" state |> ignore
        checkSigma "sigma_prev" sigmaPrev
        checkSigma "sigma_hat" sigmaHat
        if sigmaHat = 0.0 then
            invalidArg "sigma_hat" "sigma_hat is 0 but step divides by it: it must be > 0"
        checkShapes ops "sample_hat" sampleHat [ "model_output", modelOutput ]
        let p = stepPlan state.Flavour sigmaHat sigmaPrev
        // One pass for x0, d and prev where the backend offers it, else op by op with the same roundings.
        match ops.TryKarrasEuler(p, sampleHat, modelOutput) with
        | ValueSome(struct (x0, d, prev)) -> { PrevSample = prev; Derivative = d; PredOriginalSample = x0 }
        | ValueNone ->
            let x0 = Backend.lin ops [ 1.0f, sampleHat; p.SigmaHat, modelOutput ]
            let diff = Backend.sub ops sampleHat x0
            let d = divideBySigma ops p diff p.SigmaHat
            ops.Release diff
            let prev = Backend.lin ops [ 1.0f, sampleHat; p.Delta, d ]
            { PrevSample = prev; Derivative = d; PredOriginalSample = x0 }

    /// FlaxKarrasVeScheduler.step on `NdArray`.
    let step (state: KarrasVeState) (modelOutput: NdArray) (sigmaHat: float) (sigmaPrev: float) (sampleHat: NdArray) =
        stepOn NdArrayBackend.Default state modelOutput sigmaHat sigmaPrev sampleHat

    /// `step_correct` on any backend, the Heun correction of Algorithm 2 (lines 11–13) with model_output evaluated at
    /// (x_prev, σ_prev): x0' = x_prev + σ_prev·model_output, d' = (x_prev − x0')/σ_prev,
    /// x_prev' = x̂ + (σ_prev − σ̂)·(½d + ½d'). The returned `derivative` is the first-stage d (diffusers quirk).
    /// σ_prev = 0 is an error (Algorithm 2, line 11, skips the correction when t_{i+1} = 0; diffusers would divide by zero).
    let stepCorrectOn
        (ops: IBackend<'T, 'Noise>)
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
        match ops.TryKarrasHeun(p, sampleHat, samplePrev, modelOutput, derivative) with
        | ValueSome(struct (x0, prev)) -> { PrevSample = prev; Derivative = derivative; PredOriginalSample = x0 }
        | ValueNone ->
            let x0 = Backend.lin ops [ 1.0f, samplePrev; p.SigmaPrev, modelOutput ]
            let diff = Backend.sub ops samplePrev x0
            let dCorr = divideBySigma ops p diff p.SigmaPrev
            ops.Release diff
            let avg = Backend.lin ops [ 0.5f, derivative; 0.5f, dCorr ]
            ops.Release dCorr
            let prev = Backend.lin ops [ 1.0f, sampleHat; p.Delta, avg ]
            ops.Release avg
            { PrevSample = prev; Derivative = derivative; PredOriginalSample = x0 }

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
        stepCorrectOn NdArrayBackend.Default state modelOutput sigmaHat sigmaPrev sampleHat samplePrev derivative

    /// The scheduler of the one shape (`IScheduler`): an iteration of diffusers' `KarrasVePipeline` (Algorithm 2) —
    /// the churn (one draw), the Euler step with the model at σ̂, and Heun's correction with the model at σ_prev when
    /// σ_prev ≠ 0. The model gives KarrasVe's output (D(x; σ) = x + σ·output); its query's timestep is t.
    let scheduler<'T> (config: KarrasVeConfig) : IScheduler<KarrasVeState, 'T, KarrasStochasticStep<'T>> =
        let config = validate config
        let timesteps (state: KarrasVeState) =
            match state.Timesteps with
            | Some ts -> ts
            | None -> invalidOp "the loop needs timesteps: call KarrasVe.setTimesteps (set_timesteps) first"
        { new IScheduler<KarrasVeState, 'T, KarrasStochasticStep<'T>> with
            member _.ClassName = "KarrasVeScheduler"
            member _.Create(flavour) = createState flavour config
            member _.SetTimesteps(n, _, state) = setTimesteps n state
            member _.Steps(state) = (timesteps state).Length
            member _.FirstIndex(_) = 0
            member _.TimestepAt(state, i) = float (timesteps state).[i]
            member _.InitNoiseSigma(state) = initNoiseSigma state
            member _.Evaluations(steps) = max 0 (2 * steps - 1)
            member _.Step(ops, model, draw, state, index, sample) =
                let t = (timesteps state)[index]
                let struct (sigma, sigmaPrev) = sigmasAt state t
                let noised = addNoiseToInputOn ops state sample sigma (draw ())
                let output = model noised.SampleHat { Timestep = float t; Sigma = noised.SigmaHat }
                let euler = stepOn ops state output noised.SigmaHat sigmaPrev noised.SampleHat
                // A model may hand back its input (an identity denoiser); the step still needs that tensor.
                if not (obj.ReferenceEquals(output, noised.SampleHat)) then ops.Release output
                let corrected =
                    if sigmaPrev <> 0.0 then
                        let output2 = model euler.PrevSample { Timestep = float t; Sigma = sigmaPrev }
                        let c = stepCorrectOn ops state output2 noised.SigmaHat sigmaPrev noised.SampleHat euler.PrevSample euler.Derivative
                        if not (obj.ReferenceEquals(output2, euler.PrevSample)) then ops.Release output2
                        Some c
                    else
                        None
                struct (state,
                        { Index = index
                          Timestep = t
                          Sigma = sigma
                          SigmaPrev = sigmaPrev
                          SigmaHat = noised.SigmaHat
                          SampleHat = noised.SampleHat
                          Step = euler
                          Corrected = corrected })
            member _.Sample(step) =
                match step.Corrected with
                | Some c -> c.PrevSample
                | None -> step.Step.PrevSample
            member this.Result(step) = this.Sample step
            member _.Tensors(step) =
                [ step.SampleHat; step.Step.PrevSample; step.Step.Derivative; step.Step.PredOriginalSample
                  match step.Corrected with
                  | Some c -> yield! [ c.PrevSample; c.PredOriginalSample ]
                  | None -> () ]
            member _.StateTensors(_) = [] }

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
