namespace Schedulers.Core

open System

/// `interpolation_type`: how the inference sigmas are read from the training sigmas.
[<RequireQualifiedAccess>]
type InterpolationType =
    /// "linear": `np.interp` of the training sigmas at the (fractional) inference timesteps.
    | Linear
    /// "log_linear": evenly spaced in log σ between the smallest and the largest training sigma.
    | LogLinear

    /// The diffusers spelling.
    member i.Text =
        match i with
        | Linear -> "linear"
        | LogLinear -> "log_linear"

    /// The diffusers spelling.
    override i.ToString() = i.Text

/// `timestep_type`: what the model is told as the timestep.
[<RequireQualifiedAccess>]
type TimestepType =
    /// "discrete": the (fractional) training timestep.
    | Discrete
    /// "continuous": with v-prediction, 0.25·ln σ (the EDM conditioning c_noise).
    | Continuous

    /// The diffusers spelling.
    member t.Text =
        match t with
        | Discrete -> "discrete"
        | Continuous -> "continuous"

    /// The diffusers spelling.
    override t.ToString() = t.Text

/// The configuration of the Euler sampler (Karras et al. 2022, Algorithm 2 without the second-order correction) on
/// the VE-parameterised sigmas of a VP training schedule, with diffusers' `EulerDiscreteScheduler` keys.
type EulerConfig =
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
      /// `prediction_type`: epsilon, sample or v_prediction.
      PredictionType: PredictionType
      /// `interpolation_type`: linear or log_linear.
      InterpolationType: InterpolationType
      /// `use_karras_sigmas`: Karras et al. (2022) eq. 5 sigmas, ρ = 7.
      UseKarrasSigmas: bool
      /// `use_exponential_sigmas`: sigmas evenly spaced in log σ.
      UseExponentialSigmas: bool
      /// `use_beta_sigmas`: Beta(0.6, 0.6) quantile sigmas (Lee et al. 2024).
      UseBetaSigmas: bool
      /// `sigma_min`: the smallest sigma of the Karras/exponential/beta schedules (None: the schedule's own).
      SigmaMin: float option
      /// `sigma_max`: the largest sigma of the Karras/exponential/beta schedules (None: the schedule's own).
      SigmaMax: float option
      /// `timestep_spacing`: linspace, leading or trailing.
      TimestepSpacing: TimestepSpacing
      /// `timestep_type`: discrete or continuous.
      TimestepType: TimestepType
      /// `steps_offset`: added to the "leading" timesteps.
      StepsOffset: int
      /// `rescale_betas_zero_snr`: rescale to zero terminal SNR (Lin et al. 2023).
      RescaleBetasZeroSnr: bool
      /// `final_sigmas_type`: the last sigma, zero or the smallest training sigma.
      FinalSigmasType: FinalSigmasType }

/// The Euler state: the flavour, the config, the training tables, the inference timesteps and sigmas, and the step
/// and begin indices.
type EulerState =
    { /// Which reference's rounding the tables and steps follow.
      Flavour: Flavour
      /// The validated config.
      Config: EulerConfig
      /// β, α and ᾱ (with zero terminal SNR, the last ᾱ is 2⁻²⁴ so the first σ is finite).
      Common: CommonSchedulerState
      /// `num_inference_steps`, None before `setTimesteps`.
      NumInferenceSteps: int option
      /// The timesteps (float32), in the order the loop visits them.
      Timesteps: float32[]
      /// The sigmas (float32), one per timestep and then the final sigma.
      Sigmas: float32[]
      /// `step_index`: None until the first `scale_model_input` or `step`.
      StepIndex: int option
      /// `begin_index`: None unless `set_begin_index` was called.
      BeginIndex: int option }

/// What an Euler step returns (diffusers' `EulerDiscreteSchedulerOutput`).
type EulerOutput<'T> =
    { /// `prev_sample`: x at the next sigma.
      PrevSample: 'T
      /// `pred_original_sample`: the denoised x0.
      PredOriginalSample: 'T }

/// The stochastic knobs of one step (Karras et al. 2022, Algorithm 2): γ = min(S_churn/n, √2 − 1) when
/// S_tmin ≤ σ ≤ S_tmax, else 0; the noise is scaled by S_noise.
[<Struct>]
type EulerChurn =
    { /// `s_churn`.
      SChurn: float
      /// `s_tmin`.
      STmin: float
      /// `s_tmax`.
      STmax: float
      /// `s_noise`.
      SNoise: float }

/// The float32 scalars of one Euler step, in the reference's order.
type EulerPlan =
    { /// σ_i.
      Sigma: float32
      /// γ, a float64 as Python computes it.
      Gamma: float
      /// σ̂ = σ·(γ + 1).
      SigmaHat: float32
      /// √(σ̂² − σ²), the scale of the churn noise.
      ChurnScale: float32
      /// dt = σ_{i+1} − σ̂.
      Dt: float32 }

/// diffusers' `EulerDiscreteScheduler` (torch) as pure functions over `EulerState`, over any backend.
[<RequireQualifiedAccess>]
module Euler =

    /// diffusers' defaults.
    let defaults: EulerConfig =
        { NumTrainTimesteps = 1000
          BetaStart = 0.0001
          BetaEnd = 0.02
          BetaSchedule = BetaSchedule.Linear
          TrainedBetas = None
          PredictionType = PredictionType.Epsilon
          InterpolationType = InterpolationType.Linear
          UseKarrasSigmas = false
          UseExponentialSigmas = false
          UseBetaSigmas = false
          SigmaMin = None
          SigmaMax = None
          TimestepSpacing = TimestepSpacing.Linspace
          TimestepType = TimestepType.Discrete
          StepsOffset = 0
          RescaleBetasZeroSnr = false
          FinalSigmasType = FinalSigmasType.Zero }

    /// The default stochasticity: none (γ = 0).
    let noChurn: EulerChurn = { SChurn = 0.0; STmin = 0.0; STmax = Double.PositiveInfinity; SNoise = 1.0 }

    let private fail (key: string) (expected: string) (value: obj) =
        invalidArg key (sprintf "%s is %O but %s" key value expected)

    /// Returns the config when every field is usable, else throws an ArgumentException naming the diffusers key.
    let validate (c: EulerConfig) : EulerConfig =
        VpCommon.validateSchedule 1 c.NumTrainTimesteps c.TrainedBetas c.BetaStart c.BetaEnd c.StepsOffset
        if c.PredictionType = PredictionType.FlowPrediction then
            fail "prediction_type" "the Euler scheduler supports \"epsilon\", \"sample\" and \"v_prediction\"" "\"flow_prediction\""
        let options = [ c.UseKarrasSigmas; c.UseExponentialSigmas; c.UseBetaSigmas ] |> List.filter id |> List.length
        if options > 1 then
            raise (ArgumentException("only one of use_beta_sigmas, use_exponential_sigmas, use_karras_sigmas can be true", "use_karras_sigmas"))
        let positive key (v: float option) =
            match v with
            | Some x when not (Double.IsFinite x && x > 0.0) -> fail key "it must be null or a finite number > 0" x
            | _ -> ()
        positive "sigma_min" c.SigmaMin
        positive "sigma_max" c.SigmaMax
        if c.RescaleBetasZeroSnr && c.NumTrainTimesteps < 2 then
            fail "rescale_betas_zero_snr" "it needs num_train_timesteps >= 2" c.NumTrainTimesteps
        c

    /// Whether the timesteps are 0.25·ln σ (continuous timesteps with v-prediction, the only combination diffusers
    /// treats as continuous).
    let continuous (c: EulerConfig) =
        c.TimestepType = TimestepType.Continuous && c.PredictionType = PredictionType.VPrediction

    /// The training sigmas √((1 − ᾱ_t)/ᾱ_t) in float32, ascending in t.
    let trainSigmas (common: CommonSchedulerState) : float32[] =
        common.AlphasCumprod |> Array.map (fun a -> MathF.Sqrt((1.0f - a) / a))

    /// 0.25·ln σ for each sigma, in float32 (`torch.Tensor([0.25 * sigma.log() ...])`).
    let private continuousTimesteps (flavour: Flavour) (sigmas: float32[]) =
        sigmas |> Array.map (fun s -> 0.25f * flavour.Log s)

    /// The state after construction: the training tables, sigmas flipped (largest first) then 0, timesteps N−1 … 0.
    let createWith (flavour: Flavour) (config: EulerConfig) : EulerState =
        let c = validate config
        let common = VpCommon.create flavour c.BetaSchedule c.BetaStart c.BetaEnd c.NumTrainTimesteps c.TrainedBetas c.RescaleBetasZeroSnr
        let common =
            if c.RescaleBetasZeroSnr then
                // Close to 0 without being 0, so that the first sigma is finite (float16's smallest subnormal).
                let ac = Array.copy common.AlphasCumprod
                ac[ac.Length - 1] <- 1.0f / 16777216.0f
                { common with AlphasCumprod = ac }
            else common
        let sigmas = trainSigmas common |> Array.rev
        let n = c.NumTrainTimesteps
        { Flavour = flavour
          Config = c
          Common = common
          NumInferenceSteps = None
          Timesteps =
            if continuous c then continuousTimesteps flavour sigmas
            else Array.init n (fun i -> float32 (n - 1 - i))
          Sigmas = Array.append sigmas [| 0.0f |]
          StepIndex = None
          BeginIndex = None }

    /// diffusers' torch class.
    let create (config: EulerConfig) : EulerState = createWith Flavour.Torch config

    /// The inference timesteps of a spacing as float32 (`set_timesteps` with `num_inference_steps`).
    let spacedTimesteps (c: EulerConfig) (n: int) : float32[] =
        let N = c.NumTrainTimesteps
        match c.TimestepSpacing with
        | TimestepSpacing.Linspace -> Schedules.numpyLinspace 0.0 (float (N - 1)) n |> Array.map float32 |> Array.rev
        | TimestepSpacing.Leading ->
            let ratio = N / n
            Array.init n (fun i -> float32 ((n - 1 - i) * ratio) + float32 c.StepsOffset)
        | TimestepSpacing.Trailing -> NoiseSchedules.trailingTimesteps N N n |> Array.map float32

    /// The timesteps and sigmas of `set_timesteps(n)`, `set_timesteps(timesteps=…)` or `set_timesteps(sigmas=…)`.
    let schedule (state: EulerState) (n: int option) (customTimesteps: float32[] option) (customSigmas: float[] option) : float32[] * float32[] =
        let c = state.Config
        let train = trainSigmas state.Common
        let logSigmas = train |> Array.map state.Flavour.Log
        let toT (sigmas: float[]) = sigmas |> Array.map (NoiseSchedules.sigmaToT logSigmas)
        let timesteps, sigmas =
            match customSigmas with
            | Some given ->
                let sigmas = given |> Array.map float32
                let ts = toT (sigmas[.. sigmas.Length - 2] |> Array.map float) |> Array.map float32
                ts, sigmas
            | None ->
                let count = match n with Some k -> k | None -> customTimesteps.Value.Length
                let timesteps =
                    match customTimesteps with
                    | Some ts -> ts
                    | None -> spacedTimesteps c count
                let sigmas =
                    match c.InterpolationType with
                    | InterpolationType.Linear -> timesteps |> Array.map (fun t -> NoiseSchedules.interpAtTimesteps train (float t))
                    | InterpolationType.LogLinear ->
                        state.Flavour.Linspace (state.Flavour.Log train[train.Length - 1]) (state.Flavour.Log train[0]) (count + 1)
                        |> Array.map (fun l -> float (state.Flavour.Exp l))
                let sigmaMin () = defaultArg c.SigmaMin sigmas[sigmas.Length - 1]
                let sigmaMax () = defaultArg c.SigmaMax sigmas[0]
                let converted =
                    if c.UseKarrasSigmas then Some(NoiseSchedules.karrasSigmas (sigmaMin ()) (sigmaMax ()) count)
                    elif c.UseExponentialSigmas then Some(NoiseSchedules.exponentialSigmas (sigmaMin ()) (sigmaMax ()) count)
                    elif c.UseBetaSigmas then Some(NoiseSchedules.betaSigmas (sigmaMin ()) (sigmaMax ()) count)
                    else None
                let timesteps, sigmas =
                    match converted with
                    | Some s -> toT s |> Array.map float32, s
                    | None -> timesteps, sigmas
                let last =
                    match c.FinalSigmasType with
                    | FinalSigmasType.SigmaMin -> float train[0]
                    | FinalSigmasType.Zero -> 0.0
                timesteps, Array.append sigmas [| last |] |> Array.map float32
        let timesteps =
            if continuous c then continuousTimesteps state.Flavour sigmas[.. sigmas.Length - 2] else timesteps
        timesteps, sigmas

    /// `set_timesteps(num_inference_steps, timesteps=…, sigmas=…)`: exactly one of the three; custom timesteps exclude
    /// the Karras/exponential/beta sigmas and continuous v-prediction timesteps. Resets the step and begin indices.
    let setTimestepsWith (n: int option) (timesteps: float32[] option) (sigmas: float[] option) (state: EulerState) : EulerState =
        let c = state.Config
        if timesteps.IsSome && sigmas.IsSome then invalidArg "timesteps" "only one of timesteps or sigmas can be given"
        if n.IsNone && timesteps.IsNone && sigmas.IsNone then
            invalidArg "num_inference_steps" "one of num_inference_steps, timesteps or sigmas must be given"
        if n.IsSome && (timesteps.IsSome || sigmas.IsSome) then
            invalidArg "num_inference_steps" "only one of num_inference_steps, timesteps or sigmas can be given"
        if timesteps.IsSome then
            if c.UseKarrasSigmas then invalidArg "timesteps" "custom timesteps cannot be used with use_karras_sigmas"
            if c.UseExponentialSigmas then invalidArg "timesteps" "custom timesteps cannot be used with use_exponential_sigmas"
            if c.UseBetaSigmas then invalidArg "timesteps" "custom timesteps cannot be used with use_beta_sigmas"
            if continuous c then invalidArg "timesteps" "custom timesteps cannot be used with continuous timesteps and v_prediction"
        match n with
        | Some k ->
            if k < 1 then invalidArg "num_inference_steps" (sprintf "num_inference_steps is %d but must be at least 1" k)
            ConfigLimits.inferenceSteps k
        | None -> ()
        match timesteps with
        | Some ts when ts.Length = 0 -> invalidArg "timesteps" "timesteps must not be empty"
        | Some ts when ts |> Array.exists (fun t -> not (Single.IsFinite t)) -> invalidArg "timesteps" "every timestep must be finite"
        | _ -> ()
        match sigmas with
        | Some s when s.Length < 2 -> invalidArg "sigmas" "sigmas must hold at least two values (the last is the final sigma)"
        | Some s when s |> Array.exists (fun v -> not (Double.IsFinite v) || v < 0.0) -> invalidArg "sigmas" "every sigma must be a finite number >= 0"
        | Some s when s[.. s.Length - 2] |> Array.exists (fun v -> v = 0.0) -> invalidArg "sigmas" "every sigma but the last must be > 0"
        | _ -> ()
        let count =
            match n, timesteps, sigmas with
            | Some k, _, _ -> k
            | None, Some ts, _ -> ts.Length
            | None, None, Some s -> s.Length - 1
            | None, None, None -> 0
        let ts, sg = schedule state n timesteps sigmas
        { state with
            NumInferenceSteps = Some count
            Timesteps = ts
            Sigmas = sg
            StepIndex = None
            BeginIndex = None }

    /// `set_timesteps(n)`.
    let setTimesteps (n: int) (state: EulerState) : EulerState = setTimestepsWith (Some n) None None state

    /// `set_begin_index(i)`.
    let setBeginIndex (index: int) (state: EulerState) : EulerState =
        if index < 0 || index >= state.Timesteps.Length then
            raise (ArgumentOutOfRangeException("begin_index", index, sprintf "begin_index must lie in [0, %d)" state.Timesteps.Length))
        { state with BeginIndex = Some index }

    /// `init_noise_sigma`: the largest sigma, or √(σ_max² + 1) for "leading" spacing.
    let initNoiseSigma (state: EulerState) : float32 =
        let m = Array.max state.Sigmas
        match state.Config.TimestepSpacing with
        | TimestepSpacing.Linspace
        | TimestepSpacing.Trailing -> m
        | TimestepSpacing.Leading -> MathF.Sqrt(m * m + 1.0f)

    /// `index_for_timestep`: the index of `timestep` (compared as float32) in the schedule; the second of several
    /// matches, so a run started part-way does not skip a sigma.
    let indexForTimestep (timestep: float32) (timesteps: float32[]) : int =
        let hits = timesteps |> Array.indexed |> Array.filter (fun (_, t) -> t = timestep) |> Array.map fst
        match hits.Length with
        | 0 -> invalidArg "timestep" (sprintf "timestep %g is not one of the scheduler's timesteps" timestep)
        | 1 -> hits[0]
        | _ -> hits[1]

    /// The step index a call at `timestep` uses, and the state with it set (`_init_step_index` when unset).
    let withStepIndex (timestep: float32) (state: EulerState) : struct (int * EulerState) =
        match state.StepIndex with
        | Some i -> struct (i, state)
        | None ->
            let i =
                match state.BeginIndex with
                | Some b -> b
                | None -> indexForTimestep timestep state.Timesteps
            struct (i, { state with StepIndex = Some i })

    /// The divisor of `scale_model_input` at sigma σ: √(σ² + 1) in float32.
    let inputScale (sigma: float32) : float32 = MathF.Sqrt(sigma * sigma + 1.0f)

    /// `scale_model_input(sample, timestep)`: x/√(σ² + 1) at the current step (setting the step index when unset).
    let scaleModelInputOn (ops: IBackend<'T, 'N>) (state: EulerState) (sample: 'T) (timestep: float32) : struct ('T * EulerState) =
        let struct (i, state) = withStepIndex timestep state
        struct (ops.Divide(sample, Scalar(inputScale state.Sigmas[i])), state)

    /// The scalars of step `index` with the given churn: every value a float32 operation in diffusers' order, γ in
    /// float64 as Python computes it.
    let plan (state: EulerState) (index: int) (churn: EulerChurn) : EulerPlan =
        if index < 0 || index + 1 >= state.Sigmas.Length then
            raise (ArgumentOutOfRangeException("step_index", index, sprintf "the step index must lie in [0, %d): the schedule has no further sigma" (state.Sigmas.Length - 1)))
        let sigma = state.Sigmas[index]
        let s = float sigma
        let gamma =
            if churn.STmin <= s && s <= churn.STmax then min (churn.SChurn / float (state.Sigmas.Length - 1)) (Math.Sqrt 2.0 - 1.0)
            else 0.0
        let sigmaHat = sigma * float32 (gamma + 1.0)
        { Sigma = sigma
          Gamma = gamma
          SigmaHat = sigmaHat
          ChurnScale = MathF.Sqrt(sigmaHat * sigmaHat - sigma * sigma)
          Dt = state.Sigmas[index + 1] - sigmaHat }

    /// `x / d` as the flavour computes a division by a scalar (XLA through the float32 reciprocal).
    /// One Euler step on any backend at the current step index (set from `timestep` when unset): with γ > 0 the
    /// sample is first raised to σ̂ with `noise` (the torch class draws it with its generator); x0 from the model
    /// output by the prediction type; d = (x − x0)/σ̂; x_next = x + d·(σ_{i+1} − σ̂). Returns the state with the step
    /// index advanced.
    /// The churn noise, when γ > 0, is a tensor the caller draws or a source the step draws from inside its pass
    /// (`StepNoise`).
    let stepWith
        (ops: IBackend<'T, 'N>)
        (state: EulerState)
        (modelOutput: 'T)
        (timestep: float32)
        (sample: 'T)
        (churn: EulerChurn)
        (noise: StepNoise<'T, 'N> voption)
        : struct (EulerOutput<'T> * EulerState) =
        Backend.checkSame ops "sample" sample "model_output" modelOutput
        if Double.IsNaN churn.SChurn || churn.SChurn < 0.0 then invalidArg "s_churn" (sprintf "s_churn is %g but must be a number >= 0" churn.SChurn)
        if not (Double.IsFinite churn.SNoise) then invalidArg "s_noise" (sprintf "s_noise is %g but must be finite" churn.SNoise)
        let struct (index, state) = withStepIndex timestep state
        let p = plan state index churn
        let z =
            if p.Gamma > 0.0 then
                match noise with
                | ValueSome noise -> ValueSome(StepNoise.draw noise)
                | ValueNone -> invalidArg "generator" "s_churn makes gamma > 0 and the step needs noise, but none was given"
            else ValueNone
        let extra = StepNoise.inputs z
        // One program: the churn x̂ = x + √(σ̂² − σ²)·s_noise·z, x0 by the prediction type, d = (x̂ − x0)/σ̂ and
        // x_prev = x̂ + (σ_next − σ̂)·d (Karras et al. 2022, Alg. 2 without the Heun correction).
        let b = ProgramBuilder(2 + extra.Length)
        let sample', m = b.Input 0, b.Input 1
        let x =
            match z with
            | ValueSome z ->
                let z = StepNoise.register b 2 z
                let eps = if churn.SNoise = 1.0 then z else b.Lin [ float32 churn.SNoise, z ]
                b.Lin [ 1.0f, sample'; p.ChurnScale, eps ]
            | ValueNone -> sample'
        let x0 =
            match state.Config.PredictionType with
            | PredictionType.Sample -> m
            | PredictionType.Epsilon -> b.Lin [ 1.0f, x; -p.SigmaHat, m ]
            | PredictionType.VPrediction ->
                let s = p.Sigma
                let skip = b.DivAs state.Flavour (s * s + 1.0f) x
                b.Lin [ -s / MathF.Sqrt(s * s + 1.0f), m; 1.0f, skip ]
            | PredictionType.FlowPrediction -> invalidArg "prediction_type" "the Euler scheduler does not support flow_prediction"
        let derivative = b.Lin [ 1.0f, x; -1.0f, x0 ] |> b.DivAs state.Flavour p.SigmaHat
        let prev = b.Lin [ 1.0f, x; p.Dt, derivative ]
        let inputs = Array.ofList ([ sample; modelOutput ] @ extra)
        let r = Backend.runWithNoise ops (b.Build [ prev; x0 ]) inputs (StepNoise.sources z)
        StepNoise.release ops z
        let prev, x0 = r[0], r[1]
        struct ({ PrevSample = prev; PredOriginalSample = x0 }, { state with StepIndex = Some(index + 1) })

    /// `stepWith` with the churn noise a tensor the caller draws (`noise ()`, called only when γ > 0).
    let stepOn
        (ops: IBackend<'T, 'N>)
        (state: EulerState)
        (modelOutput: 'T)
        (timestep: float32)
        (sample: 'T)
        (churn: EulerChurn)
        (noise: (unit -> 'T) voption)
        : struct (EulerOutput<'T> * EulerState) =
        stepWith ops state modelOutput timestep sample churn (noise |> ValueOption.map StepNoise.Tensor)

    /// The step indices of `add_noise`: each timestep's index when no begin index is set, else the current step index
    /// (inpainting, after the first step) or the begin index (img2img, before it).
    let noiseIndices (state: EulerState) (timesteps: float32[]) : int[] =
        match state.BeginIndex, state.StepIndex with
        | None, _ -> timesteps |> Array.map (fun t -> indexForTimestep t state.Timesteps)
        | Some _, Some i -> Array.create timesteps.Length i
        | Some b, None -> Array.create timesteps.Length b

    let private perBatch (ops: IBackend<'T, 'N>) (like: 'T) (timesteps: float32[]) =
        let shape = ops.Shape like
        let batch = if shape.Length = 0 then 1 else shape[0]
        if timesteps.Length <> batch then
            invalidArg "timesteps" (sprintf "timesteps has %d values but the batch has %d" timesteps.Length batch)

    /// `add_noise(original, noise, timesteps)`: x + σ·ε with the sigma of each timestep's step (`noiseIndices`).
    let addNoiseOn (ops: IBackend<'T, 'N>) (state: EulerState) (original: 'T) (noise: 'T) (timesteps: float32[]) : 'T =
        Backend.checkSame ops "original_samples" original "noise" noise
        perBatch ops original timesteps
        let sigmas = noiseIndices state timesteps |> Array.map (fun i -> state.Sigmas[i])
        ops.Combine [| struct (Scalar 1.0f, original); struct (PerBatch sigmas, noise) |]

    /// `get_velocity(sample, noise, timesteps)`: √ᾱ·ε − √(1 − ᾱ)·x where, as diffusers does, ᾱ is read at the
    /// timestep's index in the inference schedule (not at the training timestep).
    let getVelocityOn (ops: IBackend<'T, 'N>) (state: EulerState) (sample: 'T) (noise: 'T) (timesteps: float32[]) : 'T =
        Backend.checkSame ops "sample" sample "noise" noise
        perBatch ops sample timesteps
        let indices = timesteps |> Array.map (fun t -> indexForTimestep t state.Timesteps)
        VpCommon.getVelocity ops state.Common sample noise (indices |> Array.map int64)

    /// The scheduler of the one shape (`IScheduler`) with Karras et al.'s churn (`s_churn`, `s_tmin`, `s_tmax`,
    /// `s_noise` as the pipeline passes them to `step`): where γ > 0 the sample is raised to σ̂ with z drawn from the
    /// loop's noise source inside the step's pass.
    let schedulerWithChurn<'T> (churn: EulerChurn) (config: EulerConfig) : IScheduler<EulerState, 'T, EulerOutput<'T>> =
        if Double.IsNaN churn.SChurn || churn.SChurn < 0.0 then invalidArg "s_churn" (sprintf "s_churn is %g but must be a number >= 0" churn.SChurn)
        if not (Double.IsFinite churn.SNoise) then invalidArg "s_noise" (sprintf "s_noise is %g but must be finite" churn.SNoise)
        let config = validate config
        { new IScheduler<EulerState, 'T, EulerOutput<'T>> with
            member _.ClassName = "EulerDiscreteScheduler"
            member _.Create(flavour) = createWith flavour config
            member _.SetTimesteps(n, _, state) = setTimesteps n state
            member _.Steps(state) = state.Timesteps.Length
            member _.FirstIndex(state) = defaultArg state.BeginIndex 0
            member _.TimestepAt(state, i) = float state.Timesteps[i]
            member _.InitNoiseSigma(state) = float (initNoiseSigma state)
            member _.Evaluations(steps) = steps
            member _.Step(ops, model, draw, state, index, sample) =
                let state = { state with StepIndex = Some index }
                let t = state.Timesteps[index]
                let sigma = state.Sigmas[index]
                let scaled = ops.Divide(sample, Scalar(inputScale sigma))
                let output = model scaled { Timestep = float t; Sigma = float sigma }
                let struct (r, state) = stepWith ops state output t sample churn (ValueSome(StepNoise.Source draw))
                if not (obj.ReferenceEquals(output, scaled)) && not (obj.ReferenceEquals(output, r.PredOriginalSample)) then
                    ops.Release output
                if not (obj.ReferenceEquals(scaled, output)) && not (obj.ReferenceEquals(scaled, r.PredOriginalSample)) then
                    ops.Release scaled
                struct (state, r)
            member _.Sample(r) = r.PrevSample
            member _.Result(r) = r.PrevSample
            member _.Tensors(r) = [ r.PrevSample; r.PredOriginalSample ]
            member _.StateTensors(_) = [] }

    /// The scheduler of the one shape (`IScheduler`): the pipeline loop without churn, the model on
    /// `scale_model_input`'s output at timesteps[i] with σ_i.
    let scheduler<'T> (config: EulerConfig) : IScheduler<EulerState, 'T, EulerOutput<'T>> = schedulerWithChurn noChurn config

/// diffusers' `FlaxEulerDiscreteScheduler` over `EulerState` with the Flax flavour's tables: only "linspace" and
/// "leading" spacing (leading adds 1, not `steps_offset`), only epsilon and v-prediction, sigmas from `jnp.interp`
/// in float32, no churn, and a step index found anew at every call (the first match of the timestep). The torch
/// class's other keys are not the Flax class's and are ignored, as diffusers' Flax class ignores them.
[<RequireQualifiedAccess>]
module EulerFlax =

    /// The config when the Flax class can run it: its spacing and prediction type checks, on top of `Euler.validate`.
    let validate (c: EulerConfig) : EulerConfig =
        let c = Euler.validate c
        match c.TimestepSpacing with
        | TimestepSpacing.Linspace
        | TimestepSpacing.Leading -> ()
        | TimestepSpacing.Trailing ->
            invalidArg "timestep_spacing" "timestep_spacing is \"trailing\" but FlaxEulerDiscreteScheduler supports \"linspace\" and \"leading\" only"
        match c.PredictionType with
        | PredictionType.Epsilon
        | PredictionType.VPrediction -> ()
        | other ->
            invalidArg "prediction_type" (sprintf "prediction_type is \"%s\" but FlaxEulerDiscreteScheduler supports \"epsilon\" and \"v_prediction\" only" other.Text)
        c

    /// `jnp.interp(x, jnp.arange(len(fp)), fp)` in float32: `fp[i−1] + (x − (i−1))·(fp[i] − fp[i−1])` with
    /// i = clip(searchsorted(xp, x, "right"), 1, len − 1), the ends clamped.
    let interp (fp: float32[]) (x: float32) : float32 =
        let n = fp.Length
        if n = 1 then fp[0]
        elif x < 0.0f then fp[0]
        elif x > float32 (n - 1) then fp[n - 1]
        else
            let i = Math.Clamp(int (MathF.Floor x) + 1, 1, n - 1)
            let delta = x - float32 (i - 1)
            fp[i - 1] + delta * (fp[i] - fp[i - 1])

    /// The sigmas of the timesteps (`jnp.interp` of the training sigmas), then 0.
    let private sigmasAt (state: EulerState) (timesteps: float32[]) =
        let train = Euler.trainSigmas state.Common
        Array.append (timesteps |> Array.map (interp train)) [| 0.0f |]

    /// `create_state()`: the Flax flavour's tables, timesteps N−1 … 0 and their interpolated sigmas.
    let create (config: EulerConfig) : EulerState =
        let c = validate config
        let state = Euler.createWith Flavour.Flax { c with TimestepType = TimestepType.Discrete }
        let state = { state with Config = c }
        let timesteps = Array.init c.NumTrainTimesteps (fun i -> float32 (c.NumTrainTimesteps - 1 - i))
        { state with Timesteps = timesteps; Sigmas = sigmasAt state timesteps }

    /// `set_timesteps(state, n)`: "linspace" `jnp.linspace(N − 1, 0, n)`, "leading" `arange(n)·(N div n)`
    /// descending plus 1.
    let setTimesteps (n: int) (state: EulerState) : EulerState =
        if n < 1 then invalidArg "num_inference_steps" (sprintf "num_inference_steps is %d but must be at least 1" n)
        ConfigLimits.inferenceSteps n
        let c = state.Config
        let N = c.NumTrainTimesteps
        let timesteps =
            match c.TimestepSpacing with
            | TimestepSpacing.Leading -> Array.init n (fun i -> float32 ((n - 1 - i) * (N / n)) + 1.0f)
            | _ -> state.Flavour.Linspace (float32 (N - 1)) 0.0f n
        { state with
            NumInferenceSteps = Some n
            Timesteps = timesteps
            Sigmas = sigmasAt state timesteps
            StepIndex = None
            BeginIndex = None }

    /// `init_noise_sigma`: the largest sigma, or √(σ_max² + 1) for "leading" spacing (as `Euler.initNoiseSigma`).
    let initNoiseSigma (state: EulerState) : float32 = Euler.initNoiseSigma state

    /// The index of the first timestep equal to `timestep` (`jnp.where(..., size=1)`: 0 when there is none).
    let indexOf (state: EulerState) (timestep: float32) : int =
        match Array.tryFindIndex (fun t -> t = timestep) state.Timesteps with
        | Some i -> i
        | None -> 0

    /// `scale_model_input(state, sample, timestep)`: x/√(σ² + 1) at the timestep's index, divided as XLA divides by
    /// a scalar (`Flavour.Flax.Division`).
    let scaleModelInputOn (ops: IBackend<'T, 'N>) (state: EulerState) (sample: 'T) (timestep: float32) : 'T =
        Backend.divideAs ops state.Flavour sample (Euler.inputScale state.Sigmas[indexOf state timestep])

    /// `step(state, model_output, timestep, sample)`: the Euler step without churn at the timestep's index; the
    /// state is returned unchanged (the Flax class keeps no step index).
    let stepOn (ops: IBackend<'T, 'N>) (state: EulerState) (modelOutput: 'T) (timestep: float32) (sample: 'T) : EulerOutput<'T> =
        if state.NumInferenceSteps.IsNone then
            invalidOp "the number of inference steps is not set; call setTimesteps (set_timesteps) before step"
        let indexed = { state with StepIndex = Some(indexOf state timestep) }
        let struct (r, _) = Euler.stepOn ops indexed modelOutput timestep sample Euler.noChurn ValueNone
        r

/// The `scheduler_config.json` schema of `EulerDiscreteScheduler`.
module EulerConfig =

    let private optionalFloat (key: string) (get: EulerConfig -> float option) (set: float option -> EulerConfig -> EulerConfig) =
        ConfigField.custom
            key
            "null or a number"
            (fun v ->
                match v with
                | JsonValue.Null -> None
                | JsonValue.Number text -> Some(Json.numberValue text)
                | other -> ConfigField.wrong key other "null or a number")
            (fun v ->
                match v with
                | None -> JsonValue.Null
                | Some x -> JsonValue.Number(Json.pythonFloat x))
            get
            set

    /// One entry per key, in diffusers' constructor order; `Euler.validate` checks the values.
    let schema: ConfigSchema<EulerConfig> =
        ConfigSchema(
            "EulerDiscreteScheduler",
            DiffusersClasses.karrasDiffusionSchedulers,
            Euler.defaults,
            [ ConfigField.int "num_train_timesteps" (fun c -> c.NumTrainTimesteps) (fun v c -> { c with NumTrainTimesteps = v })
              ConfigField.float "beta_start" "0.0001" (fun c -> c.BetaStart) (fun v c -> { c with BetaStart = v })
              ConfigField.float "beta_end" "0.02" (fun c -> c.BetaEnd) (fun v c -> { c with BetaEnd = v })
              ConfigField.choice "beta_schedule" (Choices.ofUnion (fun (b: BetaSchedule) -> b.Text) [])
                  (fun c -> c.BetaSchedule) (fun v c -> { c with BetaSchedule = v })
              ConfigField.floatArrayOrNull "trained_betas" (fun c -> c.TrainedBetas) (fun v c -> { c with TrainedBetas = v })
              ConfigField.choice "prediction_type" (Choices.ofUnion (fun (p: PredictionType) -> p.Text) [])
                  (fun c -> c.PredictionType) (fun v c -> { c with PredictionType = v })
              ConfigField.choice "interpolation_type" (Choices.ofUnion (fun (i: InterpolationType) -> i.Text) [])
                  (fun c -> c.InterpolationType) (fun v c -> { c with InterpolationType = v })
              ConfigField.bool "use_karras_sigmas" (fun c -> c.UseKarrasSigmas) (fun v c -> { c with UseKarrasSigmas = v })
              ConfigField.bool "use_exponential_sigmas" (fun c -> c.UseExponentialSigmas) (fun v c -> { c with UseExponentialSigmas = v })
              ConfigField.bool "use_beta_sigmas" (fun c -> c.UseBetaSigmas) (fun v c -> { c with UseBetaSigmas = v })
              optionalFloat "sigma_min" (fun c -> c.SigmaMin) (fun v c -> { c with SigmaMin = v })
              optionalFloat "sigma_max" (fun c -> c.SigmaMax) (fun v c -> { c with SigmaMax = v })
              ConfigField.choice "timestep_spacing" (Choices.ofUnion (fun (s: TimestepSpacing) -> s.Text) [])
                  (fun c -> c.TimestepSpacing) (fun v c -> { c with TimestepSpacing = v })
              ConfigField.choice "timestep_type" (Choices.ofUnion (fun (t: TimestepType) -> t.Text) [])
                  (fun c -> c.TimestepType) (fun v c -> { c with TimestepType = v })
              ConfigField.int "steps_offset" (fun c -> c.StepsOffset) (fun v c -> { c with StepsOffset = v })
              ConfigField.bool "rescale_betas_zero_snr" (fun c -> c.RescaleBetasZeroSnr) (fun v c -> { c with RescaleBetasZeroSnr = v })
              ConfigField.choice "final_sigmas_type" (Choices.ofUnion (fun (f: FinalSigmasType) -> f.Text) [])
                  (fun c -> c.FinalSigmasType) (fun v c -> { c with FinalSigmasType = v }) ],
            Euler.validate
        )

/// The schema as a static member, for C#: `EulerConfig.Schema`.
type EulerConfig with

    /// The `scheduler_config.json` schema (see `EulerConfig.schema`).
    static member Schema = EulerConfig.schema
