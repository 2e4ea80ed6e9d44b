namespace Schedulers.Core

open System

/// The configuration of the linear multistep sampler on the VE-parameterised sigmas (Karras et al. 2022,
/// k-diffusion's `sample_lms`), with diffusers' `LMSDiscreteScheduler` keys.
type LmsConfig =
    { /// `num_train_timesteps`: N, the length of the training schedule.
      NumTrainTimesteps: int
      /// `beta_start`: the first β.
      BetaStart: float
      /// `beta_end`: the last β.
      BetaEnd: float
      /// `beta_schedule`: linear, scaled_linear or squaredcos_cap_v2.
      BetaSchedule: BetaSchedule
      /// `trained_betas`: explicit betas, overriding the schedule.
      TrainedBetas: float[] option
      /// `use_karras_sigmas`: Karras et al. (2022) eq. 5 sigmas between the schedule's ends.
      UseKarrasSigmas: bool
      /// `use_exponential_sigmas`: sigmas evenly spaced in log between the schedule's ends.
      UseExponentialSigmas: bool
      /// `use_beta_sigmas`: beta-distribution sigmas (Lee et al. 2024) between the schedule's ends.
      UseBetaSigmas: bool
      /// `prediction_type`: epsilon, sample or v_prediction.
      PredictionType: PredictionType
      /// `timestep_spacing`: linspace, leading or trailing.
      TimestepSpacing: TimestepSpacing
      /// `steps_offset`: added to the "leading" timesteps.
      StepsOffset: int }

/// The LMS state: the config, the training tables, the float32 timesteps and sigmas, the derivative history and
/// the step and begin indices. Immutable: every call returns a new state.
type LmsState<'T> =
    { /// Which reference's rounding the tables follow.
      Flavour: Flavour
      /// The validated config.
      Config: LmsConfig
      /// β, α and ᾱ.
      Common: CommonSchedulerState
      /// `num_inference_steps` (N after construction, as diffusers' constructor calls `set_timesteps(N)`).
      NumInferenceSteps: int
      /// The timesteps (float32, descending; fractional for linspace spacing and the sigma options).
      Timesteps: float32[]
      /// The sigmas of the timesteps followed by 0 (float32).
      Sigmas: float32[]
      /// The derivatives (x − x0)/σ of the last steps, oldest first (diffusers' `derivatives`).
      Derivatives: 'T[]
      /// The index of the next step, once `scale_model_input` or `step` has looked it up.
      StepIndex: int option
      /// The index the first step starts from (`set_begin_index`).
      BeginIndex: int option }

/// What an LMS step returns (diffusers' `LMSDiscreteSchedulerOutput`) and the state after it.
type LmsOutput<'T> =
    { /// `prev_sample`: x at the next sigma.
      PrevSample: 'T
      /// `pred_original_sample`: the predicted x0.
      PredOriginalSample: 'T
      /// The state after the step (the derivative appended, the step index advanced).
      State: LmsState<'T> }

/// diffusers' `LMSDiscreteScheduler` (torch) as pure functions over `LmsState`, over any backend.
[<RequireQualifiedAccess>]
module Lms =

    /// diffusers' defaults.
    let defaults: LmsConfig =
        { NumTrainTimesteps = 1000
          BetaStart = 0.0001
          BetaEnd = 0.02
          BetaSchedule = BetaSchedule.Linear
          TrainedBetas = None
          UseKarrasSigmas = false
          UseExponentialSigmas = false
          UseBetaSigmas = false
          PredictionType = PredictionType.Epsilon
          TimestepSpacing = TimestepSpacing.Linspace
          StepsOffset = 0 }

    let private fail (key: string) (expected: string) (value: obj) =
        invalidArg key (sprintf "%s is %O but %s" key value expected)

    /// Returns the config when every field is usable, else throws an ArgumentException naming the diffusers key.
    let validate (c: LmsConfig) : LmsConfig =
        VpCommon.validateSchedule 2 c.NumTrainTimesteps c.TrainedBetas c.BetaStart c.BetaEnd c.StepsOffset
        let options = [ c.UseKarrasSigmas; c.UseExponentialSigmas; c.UseBetaSigmas ] |> List.filter id |> List.length
        if options > 1 then
            fail "use_karras_sigmas" "at most one of use_karras_sigmas, use_exponential_sigmas and use_beta_sigmas can be true" options
        if c.PredictionType = PredictionType.FlowPrediction then
            fail "prediction_type" "LMS supports \"epsilon\", \"sample\" and \"v_prediction\"" "\"flow_prediction\""
        c

    /// The training sigmas √((1 − ᾱ)/ᾱ), ascending in t, each a float32 operation.
    let trainSigmas (common: CommonSchedulerState) : float32[] =
        common.AlphasCumprod |> Array.map (fun a -> MathF.Sqrt((1.0f - a) / a))

    /// The float32 timesteps of `n` steps by the spacing: "linspace" linspace(0, N − 1, n) descending (computed in
    /// float64, rounded to float32); "leading" k·(N div n) + `steps_offset`; "trailing" round(arange(N, 0, −N/n)) − 1.
    let baseTimesteps (c: LmsConfig) (n: int) : float32[] =
        let N = c.NumTrainTimesteps
        match c.TimestepSpacing with
        | TimestepSpacing.Linspace -> Schedules.numpyLinspace 0.0 (float (N - 1)) n |> Array.rev |> Array.map float32
        | TimestepSpacing.Leading ->
            let ratio = N / n
            Array.init n (fun i -> float32 ((n - 1 - i) * ratio) + float32 c.StepsOffset)
        | TimestepSpacing.Trailing -> NoiseSchedules.trailingTimesteps N N n |> Array.map float32

    /// `_sigma_to_t` as numpy 1.x evaluates it on diffusers' float32 `log_sigmas` with a float64 σ: value-based
    /// casting makes every array operation float32 (ln σ rounded to float32 first, the weight w in float32) and
    /// only the final `(1 − w)·low + w·high` float64, where the float32 weight meets the int64 indices.
    let sigmaToT (logSigmas: float32[]) (sigma: float) : float =
        let logSigma = float32 (Math.Log(max sigma 1e-10))
        let n = logSigmas.Length
        // cumsum(dists >= 0).argmax(): the first index where the count of entries ≤ ln σ peaks.
        let mutable low = 0
        let mutable best = 0
        let mutable count = 0
        for i in 0 .. n - 1 do
            if logSigma - logSigmas[i] >= 0.0f then
                count <- count + 1
                if count > best then
                    best <- count
                    low <- i
        let low = min low (n - 2)
        let high = low + 1
        let w = (logSigmas[low] - logSigma) / (logSigmas[low] - logSigmas[high])
        let w = Math.Clamp(w, 0.0f, 1.0f)
        float (1.0f - w) * float low + float w * float high

    /// The timesteps and sigmas (n + 1 values, the last 0) of `set_timesteps(n)`: the training sigmas interpolated at
    /// the timesteps (numpy's `interp`, float64), or the Karras/exponential/beta sigmas between the interpolated
    /// ends with the fractional timesteps `_sigma_to_t` gives them.
    let schedule (c: LmsConfig) (common: CommonSchedulerState) (n: int) : float32[] * float32[] =
        let train = trainSigmas common
        let timesteps = baseTimesteps c n
        let interpolated = timesteps |> Array.map (fun t -> NoiseSchedules.interpAtTimesteps train (float t))
        let logSigmas = train |> Array.map MathF.Log
        let toT (sigmas: float[]) = sigmas |> Array.map (fun s -> float32 (sigmaToT logSigmas s))
        let sigmaMin = interpolated[interpolated.Length - 1]
        let sigmaMax = interpolated[0]
        let sigmas, timesteps =
            if c.UseKarrasSigmas then
                let s = NoiseSchedules.karrasSigmas sigmaMin sigmaMax n
                s, toT s
            elif c.UseExponentialSigmas then
                let s = NoiseSchedules.exponentialSigmas sigmaMin sigmaMax n
                s, toT s
            elif c.UseBetaSigmas then
                let s = NoiseSchedules.betaSigmas sigmaMin sigmaMax n
                s, toT s
            else interpolated, timesteps
        timesteps, Array.append (sigmas |> Array.map float32) [| 0.0f |]

    /// `set_timesteps(n)`: the schedule of n steps; clears the derivative history and the step and begin indices.
    let setTimesteps (n: int) (state: LmsState<'T>) : LmsState<'T> =
        ConfigLimits.inferenceSteps n
        if n < 1 then invalidArg "num_inference_steps" (sprintf "num_inference_steps is %d but must be at least 1" n)
        let timesteps, sigmas = schedule state.Config state.Common n
        { state with
            NumInferenceSteps = n
            Timesteps = timesteps
            Sigmas = sigmas
            Derivatives = [||]
            StepIndex = None
            BeginIndex = None }

    /// The state after construction with a flavour's tables: diffusers' constructor runs `set_timesteps(N)`.
    let createWith<'T> (flavour: Flavour) (config: LmsConfig) : LmsState<'T> =
        let c = validate config
        let common = VpCommon.create flavour c.BetaSchedule c.BetaStart c.BetaEnd c.NumTrainTimesteps c.TrainedBetas false
        setTimesteps
            c.NumTrainTimesteps
            { Flavour = flavour
              Config = c
              Common = common
              NumInferenceSteps = c.NumTrainTimesteps
              Timesteps = [||]
              Sigmas = [||]
              Derivatives = [||]
              StepIndex = None
              BeginIndex = None }

    /// diffusers' torch class.
    let create<'T> (config: LmsConfig) : LmsState<'T> = createWith Flavour.Torch config

    /// `init_noise_sigma`: the largest sigma for linspace and trailing spacing, √(σ_max² + 1) for leading (float32).
    let initNoiseSigma (state: LmsState<'T>) : float32 =
        let m = Array.max state.Sigmas
        match state.Config.TimestepSpacing with
        | TimestepSpacing.Linspace
        | TimestepSpacing.Trailing -> m
        | TimestepSpacing.Leading -> MathF.Sqrt(m * m + 1.0f)

    /// `set_begin_index(i)`: the first step starts at index i (img2img).
    let setBeginIndex (index: int) (state: LmsState<'T>) : LmsState<'T> =
        if index < 0 || index >= state.Timesteps.Length then
            raise (ArgumentOutOfRangeException("begin_index", index, sprintf "begin_index must lie in [0, %d]" (state.Timesteps.Length - 1)))
        { state with BeginIndex = Some index }

    /// `index_for_timestep`: the position of the timestep in the schedule, the second one when it appears more than
    /// once (so an img2img start does not skip a sigma). Throws when it does not appear.
    let indexForTimestep (timestep: float32) (timesteps: float32[]) : int =
        let hits = timesteps |> Array.indexed |> Array.filter (fun (_, t) -> t = timestep) |> Array.map fst
        match hits.Length with
        | 0 -> invalidArg "timestep" (sprintf "timestep %g is not one of the scheduler's timesteps" timestep)
        | 1 -> hits[0]
        | _ -> hits[1]

    /// The step index a call at `timestep` uses: the current one, else the begin index, else the timestep's position.
    let stepIndexFor (timestep: float32) (state: LmsState<'T>) : int =
        match state.StepIndex, state.BeginIndex with
        | Some i, _ -> i
        | None, Some b -> b
        | None, None -> indexForTimestep timestep state.Timesteps

    /// `scale_model_input(sample, t)`: x/√(σ² + 1) with σ at the step index (looked up and kept when not yet set).
    let scaleModelInputOn (ops: IBackend<'T, 'N>) (state: LmsState<'T>) (sample: 'T) (timestep: float32) : struct (LmsState<'T> * 'T) =
        let index = stepIndexFor timestep state
        let sigma = state.Sigmas[index]
        let scaled = ops.Divide(sample, Scalar(MathF.Sqrt(sigma * sigma + 1.0f)))
        struct ({ state with StepIndex = Some index }, scaled)

    /// `get_lms_coefficient(order, t, current_order)`: ∫ from σ_t to σ_{t+1} of the Lagrange basis polynomial of node
    /// σ_{t−current} over the nodes σ_t … σ_{t−order+1}, by adaptive Gauss–Kronrod quadrature (relative error 1e-4, as
    /// diffusers asks scipy's `quad`). The integrand is evaluated as diffusers evaluates it: τ and every operation
    /// in float32 (the sigmas are float32 tensors there).
    let coefficient (sigmas: float32[]) (order: int) (t: int) (current: int) : float =
        let basis (tau: float) =
            let tau = float32 tau
            let mutable prod = 1.0f
            for k in 0 .. order - 1 do
                if k <> current then
                    prod <- prod * ((tau - sigmas[t - k]) / (sigmas[t - current] - sigmas[t - k]))
            float prod
        let a = float sigmas[t]
        let b = float sigmas[t + 1]
        if a = b then 0.0
        elif a < b then MathNet.Numerics.Integrate.GaussKronrod(Func<float, float> basis, a, b, 1e-4, 15, 21)
        else -MathNet.Numerics.Integrate.GaussKronrod(Func<float, float> basis, b, a, 1e-4, 15, 21)

    /// The coefficients of a step at index `t` of the given order (newest derivative first).
    let coefficients (sigmas: float32[]) (order: int) (t: int) : float[] =
        Array.init order (coefficient sigmas order t)

    /// One LMS step on any backend: x0 from the model output by the prediction type, the derivative d = (x − x0)/σ
    /// appended to the history (at most `order` kept), then x_next = x + Σ cₖ·d_{newest−k} with the
    /// min(step index + 1, order) coefficients of `coefficients` (each rounded to float32 as torch rounds a Python
    /// float meeting a tensor), summed newest first, then added to x. Divisions by a scalar follow the flavour.
    let stepOn (ops: IBackend<'T, 'N>) (state: LmsState<'T>) (modelOutput: 'T) (timestep: float32) (sample: 'T) (order: int) : LmsOutput<'T> =
        Backend.checkSame ops "sample" sample "model_output" modelOutput
        if order < 1 then invalidArg "order" (sprintf "order is %d but must be at least 1" order)
        let index = stepIndexFor timestep state
        if index + 1 >= state.Sigmas.Length then
            invalidOp (sprintf "step index %d is past the last step (%d timesteps); call set_timesteps again" index state.Timesteps.Length)
        let sigma = state.Sigmas[index]
        let kept = if state.Derivatives.Length >= order then state.Derivatives[state.Derivatives.Length - order + 1 ..] else state.Derivatives
        let used = min (index + 1) order
        let coeffs = coefficients state.Sigmas used index
        // One program: x0, d = (x − x0)/σ, then x + Σ cₖ·d_{newest−k} over the history with d appended.
        let b = ProgramBuilder(2 + kept.Length)
        let x, m = b.Input 0, b.Input 1
        let x0 =
            match state.Config.PredictionType with
            | PredictionType.Epsilon -> b.Lin [ 1.0f, x; -sigma, m ]
            | PredictionType.VPrediction ->
                let s2 = sigma * sigma + 1.0f
                let scaled = b.DivAs state.Flavour s2 x
                b.Lin [ -sigma / MathF.Sqrt s2, m; 1.0f, scaled ]
            | PredictionType.Sample -> m
            | PredictionType.FlowPrediction -> invalidArg "prediction_type" "LMS does not support flow_prediction"
        let derivative = b.Lin [ 1.0f, x; -1.0f, x0 ] |> b.DivAs state.Flavour sigma
        // Newest first: the new derivative, then the kept history from its newest.
        let newestFirst = Array.append [| derivative |] (Array.init kept.Length (fun k -> b.Input(2 + kept.Length - 1 - k)))
        let terms = Array.init (min used newestFirst.Length) (fun k -> struct (Scalar(float32 coeffs[k]), newestFirst[k]))
        let sum = b.Combine terms
        let prev = b.Lin [ 1.0f, x; 1.0f, sum ]
        let r = Backend.run ops (b.Build [ prev; x0; derivative ]) (Array.append [| sample; modelOutput |] kept)
        let prev, x0 = r[0], r[1]
        let history = Array.append kept [| r[2] |]
        { PrevSample = prev
          PredOriginalSample = x0
          State = { state with Derivatives = history; StepIndex = Some(index + 1) } }

    /// `add_noise(original, noise, timesteps)`: x + σ·ε with σ the sigma of each batch element's timestep (its
    /// position in the schedule; the begin or step index when set, as diffusers).
    let addNoiseOn (ops: IBackend<'T, 'N>) (state: LmsState<'T>) (original: 'T) (noise: 'T) (timesteps: float32[]) : 'T =
        Backend.checkSame ops "original_samples" original "noise" noise
        let shape = ops.Shape original
        let batch = if shape.Length = 0 then 1 else shape[0]
        if timesteps.Length <> batch then
            invalidArg "timesteps" (sprintf "timesteps has %d values but the batch has %d" timesteps.Length batch)
        let indices =
            match state.BeginIndex, state.StepIndex with
            | None, _ -> timesteps |> Array.map (fun t -> indexForTimestep t state.Timesteps)
            | Some _, Some s -> Array.create timesteps.Length s
            | Some b, None -> Array.create timesteps.Length b
        ops.Combine [| struct (Scalar 1.0f, original); struct (PerBatch(indices |> Array.map (fun i -> state.Sigmas[i])), noise) |]

    /// The scheduler of the one shape (`IScheduler`): the pipeline loop with order 4, the model at timesteps[i] on
    /// the scaled input (its query's σ is the step's sigma).
    let scheduler<'T> (config: LmsConfig) : IScheduler<LmsState<'T>, 'T, LmsOutput<'T>> =
        let config = validate config
        { new IScheduler<LmsState<'T>, 'T, LmsOutput<'T>> with
            member _.ClassName = "LMSDiscreteScheduler"
            member _.Create(flavour) = createWith flavour config
            member _.SetTimesteps(n, _, state) = setTimesteps n state
            member _.Steps(state) = state.Timesteps.Length
            member _.FirstIndex(state) = defaultArg state.BeginIndex 0
            member _.TimestepAt(state, i) = float state.Timesteps[i]
            member _.InitNoiseSigma(state) = float (initNoiseSigma state)
            member _.Evaluations(steps) = steps
            member _.Step(ops, model, _, state, index, sample) =
                let t = state.Timesteps[index]
                let state = { state with StepIndex = Some index }
                let struct (state, scaled) = scaleModelInputOn ops state sample t
                let output = model scaled { Timestep = float t; Sigma = float state.Sigmas[index] }
                let r = stepOn ops state output t sample 4
                if not (obj.ReferenceEquals(output, scaled)) && not (obj.ReferenceEquals(output, r.PredOriginalSample)) then
                    ops.Release output
                ops.Release scaled
                struct (r.State, r)
            member _.Sample(r) = r.PrevSample
            member _.Result(r) = r.PrevSample
            member _.Tensors(r) = [ r.PrevSample; r.PredOriginalSample ]
            member _.StateTensors(state) = List.ofArray state.Derivatives }

/// The `scheduler_config.json` schema of `LMSDiscreteScheduler`.
module LmsConfig =

    /// One entry per key, in diffusers' constructor order; `Lms.validate` checks the values.
    let schema: ConfigSchema<LmsConfig> =
        ConfigSchema(
            "LMSDiscreteScheduler",
            DiffusersClasses.karrasDiffusionSchedulers,
            Lms.defaults,
            [ ConfigField.int "num_train_timesteps" (fun c -> c.NumTrainTimesteps) (fun v c -> { c with NumTrainTimesteps = v })
              ConfigField.float "beta_start" "0.0001" (fun c -> c.BetaStart) (fun v c -> { c with BetaStart = v })
              ConfigField.float "beta_end" "0.02" (fun c -> c.BetaEnd) (fun v c -> { c with BetaEnd = v })
              ConfigField.choice "beta_schedule" (Choices.ofUnion (fun (b: BetaSchedule) -> b.Text) [])
                  (fun c -> c.BetaSchedule) (fun v c -> { c with BetaSchedule = v })
              ConfigField.floatArrayOrNull "trained_betas" (fun c -> c.TrainedBetas) (fun v c -> { c with TrainedBetas = v })
              ConfigField.bool "use_karras_sigmas" (fun c -> c.UseKarrasSigmas) (fun v c -> { c with UseKarrasSigmas = v })
              ConfigField.bool "use_exponential_sigmas" (fun c -> c.UseExponentialSigmas) (fun v c -> { c with UseExponentialSigmas = v })
              ConfigField.bool "use_beta_sigmas" (fun c -> c.UseBetaSigmas) (fun v c -> { c with UseBetaSigmas = v })
              ConfigField.choice "prediction_type" (Choices.ofUnion (fun (p: PredictionType) -> p.Text) [])
                  (fun c -> c.PredictionType) (fun v c -> { c with PredictionType = v })
              ConfigField.choice "timestep_spacing" (Choices.ofUnion (fun (s: TimestepSpacing) -> s.Text) [])
                  (fun c -> c.TimestepSpacing) (fun v c -> { c with TimestepSpacing = v })
              ConfigField.int "steps_offset" (fun c -> c.StepsOffset) (fun v c -> { c with StepsOffset = v }) ],
            Lms.validate
        )

/// The schema as a static member, for C#: `LmsConfig.Schema`.
type LmsConfig with

    /// The `scheduler_config.json` schema (see `LmsConfig.schema`).
    static member Schema = LmsConfig.schema
