namespace Schedulers.Core

open System

/// diffusers' `variance_type` of DDPM: which posterior variance the noise of a step uses.
[<RequireQualifiedAccess>]
type DdpmVarianceType =
    /// "fixed_small": β̃_t = (1 − ᾱ_prev)/(1 − ᾱ_t)·β_t (the posterior variance), clamped below at 1e-20.
    | FixedSmall
    /// "fixed_small_log": the standard deviation exp(½·log β̃_t) itself.
    | FixedSmallLog
    /// "fixed_large": β_t = 1 − ᾱ_t/ᾱ_prev.
    | FixedLarge
    /// "fixed_large_log": log β_t, of which the step then takes the square root (as diffusers does: NaN for β_t < 1).
    | FixedLargeLog
    /// "learned": the model's second half of channels is the variance.
    | Learned
    /// "learned_range": the second half v interpolates the log variance between log β̃_t and log β_t (Nichol & Dhariwal 2021).
    | LearnedRange
    /// null (a config written for another class, e.g. DPM-Solver's): saved as null and acting as "fixed_small", as
    /// diffusers' `_get_variance` falls through every branch to β̃_t.
    | Unset

    /// The diffusers spelling.
    member v.Text : string | null =
        match v with
        | FixedSmall -> "fixed_small"
        | FixedSmallLog -> "fixed_small_log"
        | FixedLarge -> "fixed_large"
        | FixedLargeLog -> "fixed_large_log"
        | Learned -> "learned"
        | LearnedRange -> "learned_range"
        | Unset -> null

    /// Whether the model output carries the variance as extra channels.
    member v.PredictsVariance =
        match v with
        | Learned
        | LearnedRange -> true
        | _ -> false

/// The configuration of DDPM (Ho et al. 2020, "Denoising Diffusion Probabilistic Models"), with diffusers'
/// `DDPMScheduler` keys.
type DdpmConfig =
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
      /// `variance_type`: the variance of the step's noise.
      VarianceType: DdpmVarianceType
      /// `clip_sample`: clamp the predicted x0 to ±`clip_sample_range`.
      ClipSample: bool
      /// `prediction_type`: epsilon, sample or v_prediction.
      PredictionType: PredictionType
      /// `thresholding`: dynamic thresholding of x0 (Saharia et al. 2022).
      Thresholding: bool
      /// `dynamic_thresholding_ratio`: the quantile of |x0| thresholding uses.
      DynamicThresholdingRatio: float
      /// `clip_sample_range`: the bound of `clip_sample`.
      ClipSampleRange: float
      /// `sample_max_value`: the largest threshold.
      SampleMaxValue: float
      /// `timestep_spacing`: leading, linspace or trailing.
      TimestepSpacing: TimestepSpacing
      /// `steps_offset`: added to the "leading" timesteps.
      StepsOffset: int
      /// `rescale_betas_zero_snr`: rescale to zero terminal SNR (Lin et al. 2023).
      RescaleBetasZeroSnr: bool }

/// The DDPM state: the flavour, the config, the training tables and, after `setTimesteps`, the inference timesteps.
type DdpmState =
    { /// Which reference's rounding the tables and steps follow.
      Flavour: Flavour
      /// The validated config.
      Config: DdpmConfig
      /// β, α and ᾱ.
      Common: CommonSchedulerState
      /// `num_inference_steps`, None before `setTimesteps` and with custom timesteps.
      NumInferenceSteps: int option
      /// Whether the timesteps were given to `setTimestepsCustom` (diffusers' `custom_timesteps`).
      CustomTimesteps: bool
      /// The timesteps, descending ([N−1 … 0] before `setTimesteps`).
      Timesteps: int64[] }

/// What a DDPM step returns (diffusers' `DDPMSchedulerOutput`).
type DdpmOutput<'T> =
    { /// `prev_sample`: x_{t_prev}.
      PrevSample: 'T
      /// `pred_original_sample`: the predicted x0 (after clipping or thresholding).
      PredOriginalSample: 'T }

/// The float32 scalars of one DDPM step from t to t_prev (Ho et al. 2020, eq. 7), in the reference's order.
type DdpmPlan =
    { /// The previous timestep (−1 after the last).
      PrevTimestep: int64
      /// √ᾱ_t.
      SqrtAlpha: float32
      /// √(1 − ᾱ_t).
      SqrtBeta: float32
      /// √ᾱ_prev·β_t/(1 − ᾱ_t), the posterior mean's factor of x0.
      OriginalCoef: float32
      /// √α_t·(1 − ᾱ_prev)/(1 − ᾱ_t), the posterior mean's factor of x_t.
      SampleCoef: float32
      /// The standard deviation of a fixed variance type (NaN where diffusers' formula gives it).
      StdDev: float32
      /// (log β̃_t, log β_t), the bounds of `learned_range`.
      LogBounds: struct (float32 * float32) }

/// diffusers' `DDPMScheduler` (torch) as pure functions over `DdpmState`, over any backend.
[<RequireQualifiedAccess>]
module Ddpm =

    /// diffusers' defaults.
    let defaults: DdpmConfig =
        { NumTrainTimesteps = 1000
          BetaStart = 0.0001
          BetaEnd = 0.02
          BetaSchedule = BetaSchedule.Linear
          TrainedBetas = None
          VarianceType = DdpmVarianceType.FixedSmall
          ClipSample = true
          PredictionType = PredictionType.Epsilon
          Thresholding = false
          DynamicThresholdingRatio = 0.995
          ClipSampleRange = 1.0
          SampleMaxValue = 1.0
          TimestepSpacing = TimestepSpacing.Leading
          StepsOffset = 0
          RescaleBetasZeroSnr = false }

    let private fail (key: string) (expected: string) (value: obj) =
        invalidArg key (sprintf "%s is %O but %s" key value expected)

    /// Returns the config when every field is usable, else throws an ArgumentException naming the diffusers key.
    let validate (c: DdpmConfig) : DdpmConfig =
        VpCommon.validateSchedule 1 c.NumTrainTimesteps c.TrainedBetas c.BetaStart c.BetaEnd c.StepsOffset
        if not (c.ClipSampleRange > 0.0) then fail "clip_sample_range" "it must be a number > 0" c.ClipSampleRange
        if not (c.DynamicThresholdingRatio > 0.0 && c.DynamicThresholdingRatio <= 1.0) then
            fail "dynamic_thresholding_ratio" "it must lie in (0, 1]" c.DynamicThresholdingRatio
        if not (c.SampleMaxValue > 0.0) then fail "sample_max_value" "it must be a number > 0" c.SampleMaxValue
        if c.PredictionType = PredictionType.FlowPrediction then
            fail "prediction_type" "DDPM supports \"epsilon\", \"sample\" and \"v_prediction\"" "\"flow_prediction\""
        if c.RescaleBetasZeroSnr && c.NumTrainTimesteps < 2 then
            fail "rescale_betas_zero_snr" "it needs num_train_timesteps >= 2" c.NumTrainTimesteps
        c

    /// The state after construction: the training tables with the flavour's rounding, timesteps [N−1 … 0].
    let createWith (flavour: Flavour) (config: DdpmConfig) : DdpmState =
        let c = validate config
        { Flavour = flavour
          Config = c
          Common = VpCommon.create flavour c.BetaSchedule c.BetaStart c.BetaEnd c.NumTrainTimesteps c.TrainedBetas c.RescaleBetasZeroSnr
          NumInferenceSteps = None
          CustomTimesteps = false
          Timesteps = Array.init c.NumTrainTimesteps (fun i -> int64 (c.NumTrainTimesteps - 1 - i)) }

    /// diffusers' torch class.
    let create (config: DdpmConfig) : DdpmState = createWith Flavour.Torch config

    /// `init_noise_sigma` (1: a VP scheduler starts from N(0, I)).
    let initNoiseSigma = 1.0f

    /// `set_timesteps(n)`: the config's spacing (`VpCommon.timesteps`).
    let setTimesteps (n: int) (state: DdpmState) : DdpmState =
        ConfigLimits.inferenceSteps n
        let c = state.Config
        { state with
            NumInferenceSteps = Some n
            CustomTimesteps = false
            Timesteps = VpCommon.timesteps c.TimestepSpacing c.NumTrainTimesteps c.StepsOffset n }

    /// `set_timesteps(timesteps=…)`: custom timesteps, strictly descending and below `num_train_timesteps`.
    let setTimestepsCustom (timesteps: int64[]) (state: DdpmState) : DdpmState =
        if timesteps.Length = 0 then invalidArg "timesteps" "timesteps must hold at least one value"
        for i in 1 .. timesteps.Length - 1 do
            if timesteps[i] >= timesteps[i - 1] then
                invalidArg "timesteps" (sprintf "custom timesteps must be in descending order but timesteps[%d] = %d follows %d" i timesteps[i] timesteps[i - 1])
        if timesteps[0] >= int64 state.Config.NumTrainTimesteps then
            invalidArg "timesteps" (sprintf "timesteps must start before num_train_timesteps (%d) but the first is %d" state.Config.NumTrainTimesteps timesteps[0])
        if timesteps[timesteps.Length - 1] < 0L then
            invalidArg "timesteps" (sprintf "timesteps must be at least 0 but the last is %d" timesteps[timesteps.Length - 1])
        { state with NumInferenceSteps = None; CustomTimesteps = true; Timesteps = Array.copy timesteps }

    /// `scale_model_input`: the sample unchanged.
    let scaleModelInput (sample: 'T) : 'T = sample

    /// `previous_timestep(t)`: after `setTimesteps` (or with custom timesteps) the next entry of the timesteps, −1
    /// after the last (t must be one of them); before, t − 1.
    let previousTimestep (state: DdpmState) (timestep: int64) : int64 =
        if state.CustomTimesteps || state.NumInferenceSteps.IsSome then
            let ts = state.Timesteps
            match Array.tryFindIndex ((=) timestep) ts with
            | Some i -> if i = ts.Length - 1 then -1L else ts[i + 1]
            | None -> invalidArg "timestep" (sprintf "timestep %d is not one of the scheduler's timesteps" timestep)
        else
            timestep - 1L

    /// The scalars of a step at `timestep`: every value a float32 operation in the reference's order
    /// (`x ** 0.5` is a square root, the variance clamped at f32(1e-20) before its logarithm or root).
    let plan (state: DdpmState) (timestep: int64) : DdpmPlan =
        let ac = state.Common.AlphasCumprod
        if timestep < 0L || timestep >= int64 ac.Length then
            raise (ArgumentOutOfRangeException("timestep", timestep, sprintf "timestep must lie in [0, %d)" ac.Length))
        let prev = previousTimestep state timestep
        let alphaT = ac[int timestep]
        let alphaPrev = if prev >= 0L then ac[int prev] else 1.0f
        let betaT = 1.0f - alphaT
        let betaPrev = 1.0f - alphaPrev
        let currentAlpha = alphaT / alphaPrev
        let currentBeta = 1.0f - currentAlpha
        // _get_variance: β̃ = (1 − ᾱ_prev)/(1 − ᾱ_t)·β_t, clamped below at 1e-20.
        let variance = MathF.Max(betaPrev / betaT * currentBeta, 1e-20f)
        let flavour = state.Flavour
        let std =
            match state.Config.VarianceType with
            | DdpmVarianceType.FixedSmall
            | DdpmVarianceType.Unset -> MathF.Sqrt variance
            | DdpmVarianceType.FixedSmallLog -> flavour.Exp(0.5f * flavour.Log variance)
            | DdpmVarianceType.FixedLarge -> MathF.Sqrt currentBeta
            | DdpmVarianceType.FixedLargeLog -> MathF.Sqrt(flavour.Log currentBeta)
            | DdpmVarianceType.Learned
            | DdpmVarianceType.LearnedRange -> nanf
        { PrevTimestep = prev
          SqrtAlpha = MathF.Sqrt alphaT
          SqrtBeta = MathF.Sqrt betaT
          OriginalCoef = MathF.Sqrt alphaPrev * currentBeta / betaT
          SampleCoef = MathF.Sqrt currentAlpha * betaPrev / betaT
          StdDev = std
          LogBounds = struct (flavour.Log variance, flavour.Log currentBeta) }

    /// One DDPM step on any backend (Ho et al. 2020, eqs. 7 and 15): with a learned variance type and twice the
    /// sample's channels, the model output is split into ε (or x0, v) and the variance v; x0 from the prediction type,
    /// thresholded or clipped; the posterior mean μ = c₀·x0 + c_t·x_t; for t > 0, plus σ·z with z from `noise`
    /// (drawn only then): a tensor the caller draws, or a source the step draws from inside its one-pass program
    /// where the backend can (JAX keys).
    let stepWith (ops: IBackend<'T, 'N>) (state: DdpmState) (modelOutput: 'T) (timestep: int64) (sample: 'T) (noise: StepNoise<'T, 'N>) : DdpmOutput<'T> =
        let c = state.Config
        let sampleShape = ops.Shape sample
        let outputShape = ops.Shape modelOutput
        let split =
            c.VarianceType.PredictsVariance && sampleShape.Length >= 2 && outputShape.Length = sampleShape.Length
            && outputShape[1] = 2 * sampleShape[1]
        let model, predicted =
            if split then ops.FirstChannels(modelOutput, sampleShape[1]), ValueSome(ops.LastChannels(modelOutput, sampleShape[1]))
            else modelOutput, ValueNone
        Backend.checkSame ops "sample" sample "model_output" model
        let p = plan state timestep
        let flavour = state.Flavour
        // The noise term of t > 0, drawn first: σ·z for the fixed variance types (σ a scalar), or the learned
        // variance's elementwise σ·z (`IBackend.LearnedVarianceNoise`) added with coefficient 1.
        let extra =
            if timestep > 0L then
                match c.VarianceType with
                | DdpmVarianceType.Learned
                | DdpmVarianceType.LearnedRange ->
                    let v =
                        match predicted with
                        | ValueSome v -> v
                        | ValueNone ->
                            invalidArg "model_output" (sprintf "variance_type %s needs a model output with twice the sample's channels (%s) but it has shape %s"
                                c.VarianceType.Text (Shapes.text sampleShape) (Shapes.text outputShape))
                    let z =
                        match noise with
                        | StepNoise.Tensor draw -> draw ()
                        | StepNoise.Source source -> ops.Normal(source (), sample)
                    let bounds = if c.VarianceType = DdpmVarianceType.LearnedRange then ValueSome p.LogBounds else ValueNone
                    let term = ops.LearnedVarianceNoise(v, bounds, z)
                    ops.Release z
                    ValueSome(1.0f, ValueSome term, ValueNone)
                | _ ->
                    match noise with
                    | StepNoise.Tensor draw -> ValueSome(p.StdDev, ValueSome(draw ()), ValueNone)
                    // Drawn inside the program's pass where the backend can.
                    | StepNoise.Source source -> ValueSome(p.StdDev, ValueNone, ValueSome(source ()))
            else ValueNone
        // x0 by the prediction type (eq. 15), then the posterior mean of eq. 7 and the noise term: one program, two
        // around dynamic thresholding (its quantile needs the whole x0).
        let predict (b: ProgramBuilder) (x: Reg) (m: Reg) =
            match c.PredictionType with
            | PredictionType.Epsilon -> b.Lin [ 1.0f, x; -p.SqrtBeta, m ] |> b.DivAs flavour p.SqrtAlpha
            | PredictionType.Sample -> m
            | PredictionType.VPrediction -> b.Lin [ p.SqrtAlpha, x; -p.SqrtBeta, m ]
            | PredictionType.FlowPrediction -> invalidArg "prediction_type" "DDPM does not support flow_prediction"
        let extraInputs =
            match extra with
            | ValueSome(_, ValueSome term, _) -> [| term |]
            | _ -> [||]
        let sources =
            match extra with
            | ValueSome(_, _, ValueSome source) -> [| source |]
            | _ -> [||]
        // μ, plus the noise term: an input (given or learned) at register k, or a draw from the source.
        let finish (b: ProgramBuilder) (x: Reg) (x0: Reg) (k: int) =
            let mean = b.Lin [ p.OriginalCoef, x0; p.SampleCoef, x ]
            match extra with
            | ValueSome(coef, ValueSome _, _) -> b.Lin [ 1.0f, mean; coef, b.Input k ]
            | ValueSome(coef, ValueNone, ValueSome _) -> b.Lin [ 1.0f, mean; coef, b.Normal 0 ]
            | _ -> mean
        let x0, prev =
            if c.Thresholding then
                let b = ProgramBuilder(2)
                let raw = (Backend.run ops (b.Build [ predict b (b.Input 0) (b.Input 1) ]) [| sample; model |])[0]
                let x0 = ops.Threshold(raw, float32 c.DynamicThresholdingRatio, float32 c.SampleMaxValue)
                if not (obj.ReferenceEquals(raw, model)) then ops.Release raw
                let b = ProgramBuilder(2 + extraInputs.Length)
                let prev = finish b (b.Input 0) (b.Input 1) 2
                x0, (Backend.runWithNoise ops (b.Build [ prev ]) (Array.append [| sample; x0 |] extraInputs) sources)[0]
            else
                let b = ProgramBuilder(2 + extraInputs.Length)
                let x = b.Input 0
                let x0 = predict b x (b.Input 1)
                let x0 =
                    if c.ClipSample then
                        let r = float32 c.ClipSampleRange
                        b.Clamp -r r x0
                    else x0
                let prev = finish b x x0 2
                let r = Backend.runWithNoise ops (b.Build [ x0; prev ]) (Array.append [| sample; model |] extraInputs) sources
                r[0], r[1]
        extraInputs |> Array.iter ops.Release
        match predicted with
        | ValueSome v -> ops.Release v
        | ValueNone -> ()
        if split && not (obj.ReferenceEquals(model, x0)) then ops.Release model
        { PrevSample = prev; PredOriginalSample = x0 }

    /// `stepWith` with the noise a tensor the caller draws (`noise ()`, called only for t > 0).
    let stepOn (ops: IBackend<'T, 'N>) (state: DdpmState) (modelOutput: 'T) (timestep: int64) (sample: 'T) (noise: unit -> 'T) : DdpmOutput<'T> =
        stepWith ops state modelOutput timestep sample (StepNoise.Tensor noise)

    /// `add_noise(original, noise, timesteps)` (`VpCommon.addNoise`).
    let addNoiseOn (ops: IBackend<'T, 'N>) (state: DdpmState) (original: 'T) (noise: 'T) (timesteps: int64[]) : 'T =
        VpCommon.addNoise ops state.Common original noise timesteps

    /// `get_velocity(sample, noise, timesteps)` (`VpCommon.getVelocity`).
    let getVelocityOn (ops: IBackend<'T, 'N>) (state: DdpmState) (sample: 'T) (noise: 'T) (timesteps: int64[]) : 'T =
        VpCommon.getVelocity ops state.Common sample noise timesteps

    /// Why diffusers' `FlaxDDPMScheduler` cannot run a config, as (key, reason), or None when it can: the Flax class
    /// has no thresholding, clip range, spacing, steps offset or zero-SNR rescale, and its learned variance types split
    /// the model output into `sample.shape[1]` pieces (which fails for any channel count but 2).
    let flaxUnsupported (c: DdpmConfig) : (string * string) option =
        if c.Thresholding then Some("thresholding", "the Flax DDPM class has no thresholding")
        elif c.ClipSample && c.ClipSampleRange <> 1.0 then Some("clip_sample_range", "the Flax DDPM class clips to [-1, 1] only")
        elif c.TimestepSpacing <> TimestepSpacing.Leading then Some("timestep_spacing", "the Flax DDPM class has only \"leading\" spacing")
        elif c.StepsOffset <> 0 then Some("steps_offset", "the Flax DDPM class has no steps_offset")
        elif c.RescaleBetasZeroSnr then Some("rescale_betas_zero_snr", "the Flax DDPM class has no zero-SNR rescale")
        else
            match c.VarianceType with
            | DdpmVarianceType.Learned
            | DdpmVarianceType.LearnedRange -> Some("variance_type", "the Flax DDPM class splits a learned variance into sample.shape[1] pieces, which fails")
            | _ -> None

    /// `FlaxDDPMScheduler.create_state()`: the Flax tables (jnp.linspace, jnp.cumprod), timesteps [N−1 … 0]. Throws,
    /// naming the key, for a config the Flax class cannot run (`flaxUnsupported`).
    let flaxCreateState (config: DdpmConfig) : DdpmState =
        match flaxUnsupported (validate config) with
        | Some(key, reason) -> invalidArg key reason
        | None -> createWith Flavour.Flax config

    /// `FlaxDDPMScheduler.set_timesteps(state, n)`: `arange(0, n)·(N div n)` descending (leading, no offset).
    let flaxSetTimesteps (n: int) (state: DdpmState) : DdpmState =
        ConfigLimits.inferenceSteps n
        { state with
            NumInferenceSteps = Some n
            CustomTimesteps = false
            Timesteps = VpCommon.timesteps TimestepSpacing.Leading state.Config.NumTrainTimesteps 0 n }

    /// `FlaxDDPMScheduler.step(state, model_output, timestep, sample, key)` on arrays. The Flax class differs from the
    /// torch one: ᾱ_prev is always ᾱ_{t−1} (whatever the number of inference steps), its coefficients use β_t and α_t
    /// from the tables (torch derives them from ᾱ_t/ᾱ_prev), it clips to [−1, 1], and its noise is
    /// `normal(split(key, 1)[0], shape)` for t > 0. Its `fixed_small_log` takes the root of a logarithm (NaN); here it
    /// does what the torch class does, exp(½·log σ²), the evident intent.
    let flaxStep (state: DdpmState) (modelOutput: NdArray) (timestep: int64) (sample: NdArray) (key: PrngKey) : DdpmOutput<NdArray> =
        let ops = NdArrayBackend.Default :> IBackend<NdArray, PrngKey>
        let c = state.Config
        Backend.checkSame ops "sample" sample "model_output" modelOutput
        let common = state.Common
        if timestep < 0L || timestep >= int64 common.AlphasCumprod.Length then
            raise (ArgumentOutOfRangeException("timestep", timestep, sprintf "timestep must lie in [0, %d)" common.AlphasCumprod.Length))
        let t = int timestep
        let alphaT = common.AlphasCumprod[t]
        let alphaPrev = if t > 0 then common.AlphasCumprod[t - 1] else 1.0f
        let betaProdT = 1.0f - alphaT
        let betaProdPrev = 1.0f - alphaPrev
        let sqrtAlpha, sqrtBeta = MathF.Sqrt alphaT, MathF.Sqrt betaProdT
        let x0 =
            match c.PredictionType with
            | PredictionType.Epsilon ->
                let numerator = Backend.lin ops [ 1.0f, sample; -sqrtBeta, modelOutput ]
                Backend.divideAs ops state.Flavour numerator sqrtAlpha
            | PredictionType.Sample -> modelOutput
            | PredictionType.VPrediction -> Backend.lin ops [ sqrtAlpha, sample; -sqrtBeta, modelOutput ]
            | PredictionType.FlowPrediction -> invalidArg "prediction_type" "DDPM does not support flow_prediction"
        let x0 = if c.ClipSample then ops.Clamp(x0, -1.0f, 1.0f) else x0
        let originalCoef = MathF.Sqrt alphaPrev * common.Betas[t] / betaProdT
        let sampleCoef = MathF.Sqrt common.Alphas[t] * betaProdPrev / betaProdT
        let terms = [| struct (Scalar originalCoef, x0); struct (Scalar sampleCoef, sample) |]
        if t > 0 then
            let variance = betaProdPrev / betaProdT * common.Betas[t]
            let std =
                match c.VarianceType with
                | DdpmVarianceType.FixedSmall
                | DdpmVarianceType.Unset -> MathF.Sqrt(MathF.Max(variance, 1e-20f))
                | DdpmVarianceType.FixedSmallLog -> state.Flavour.Exp(0.5f * state.Flavour.Log(MathF.Max(variance, 1e-20f)))
                | DdpmVarianceType.FixedLarge -> MathF.Sqrt common.Betas[t]
                | DdpmVarianceType.FixedLargeLog -> MathF.Sqrt(state.Flavour.Log common.Betas[t])
                | DdpmVarianceType.Learned
                | DdpmVarianceType.LearnedRange -> invalidArg "variance_type" "the Flax DDPM class cannot run learned variance types"
            let z = ops.Normal((Prng.split 1 key)[0], sample)
            let struct (_, prev) = Backend.combineThenAdd ops terms std z
            { PrevSample = prev; PredOriginalSample = x0 }
        else
            { PrevSample = ops.Combine terms; PredOriginalSample = x0 }

    /// The scheduler of the one shape (`IScheduler`): the pipeline loop, the model at timesteps[i] (its query's σ is
    /// √((1 − ᾱ)/ᾱ) there), each step's noise drawn from the loop's noise source for t > 0.
    let scheduler<'T> (config: DdpmConfig) : IScheduler<DdpmState, 'T, DdpmOutput<'T>> =
        let config = validate config
        { new IScheduler<DdpmState, 'T, DdpmOutput<'T>> with
            member _.ClassName = "DDPMScheduler"
            member _.Create(flavour) = createWith flavour config
            member _.SetTimesteps(n, _, state) = setTimesteps n state
            member _.Steps(state) = state.Timesteps.Length
            member _.FirstIndex(_) = 0
            member _.TimestepAt(state, i) = float state.Timesteps[i]
            member _.InitNoiseSigma(_) = float initNoiseSigma
            member _.Evaluations(steps) = steps
            member _.Step(ops, model, draw, state, index, sample) =
                let t = state.Timesteps[index]
                let output = model sample (VpCommon.query state.Common t)
                let r = stepWith ops state output t sample (StepNoise.Source draw)
                if not (obj.ReferenceEquals(output, sample)) && not (obj.ReferenceEquals(output, r.PredOriginalSample)) then
                    ops.Release output
                struct (state, r)
            member _.Sample(r) = r.PrevSample
            member _.Result(r) = r.PrevSample
            member _.Tensors(r) = [ r.PrevSample; r.PredOriginalSample ]
            member _.StateTensors(_) = [] }

/// The `scheduler_config.json` schema of `DDPMScheduler`.
module DdpmConfig =

    [<Literal>]
    let private Expected =
        "one of \"fixed_small\", \"fixed_small_log\", \"fixed_large\", \"fixed_large_log\", \"learned\", \"learned_range\" or null (acting as \"fixed_small\")"

    let private varianceType =
        let read (v: JsonValue) =
            match v with
            | JsonValue.Null -> DdpmVarianceType.Unset
            | JsonValue.String "fixed_small" -> DdpmVarianceType.FixedSmall
            | JsonValue.String "fixed_small_log" -> DdpmVarianceType.FixedSmallLog
            | JsonValue.String "fixed_large" -> DdpmVarianceType.FixedLarge
            | JsonValue.String "fixed_large_log" -> DdpmVarianceType.FixedLargeLog
            | JsonValue.String "learned" -> DdpmVarianceType.Learned
            | JsonValue.String "learned_range" -> DdpmVarianceType.LearnedRange
            | _ -> ConfigField.wrong "variance_type" v Expected
        let write (v: DdpmVarianceType) =
            match v.Text with
            | null -> JsonValue.Null
            | text -> JsonValue.String text
        ConfigField.custom "variance_type" Expected read write (fun c -> c.VarianceType) (fun v c -> { c with VarianceType = v })

    /// One entry per key, in diffusers' constructor order; `Ddpm.validate` checks the values.
    let schema: ConfigSchema<DdpmConfig> =
        ConfigSchema(
            "DDPMScheduler",
            DiffusersClasses.karrasDiffusionSchedulers,
            Ddpm.defaults,
            [ ConfigField.int "num_train_timesteps" (fun c -> c.NumTrainTimesteps) (fun v c -> { c with NumTrainTimesteps = v })
              ConfigField.float "beta_start" "0.0001" (fun c -> c.BetaStart) (fun v c -> { c with BetaStart = v })
              ConfigField.float "beta_end" "0.02" (fun c -> c.BetaEnd) (fun v c -> { c with BetaEnd = v })
              ConfigField.choice "beta_schedule" (Choices.ofUnion (fun (b: BetaSchedule) -> b.Text) [])
                  (fun c -> c.BetaSchedule) (fun v c -> { c with BetaSchedule = v })
              ConfigField.floatArrayOrNull "trained_betas" (fun c -> c.TrainedBetas) (fun v c -> { c with TrainedBetas = v })
              varianceType
              ConfigField.bool "clip_sample" (fun c -> c.ClipSample) (fun v c -> { c with ClipSample = v })
              ConfigField.choice "prediction_type" (Choices.ofUnion (fun (p: PredictionType) -> p.Text) [])
                  (fun c -> c.PredictionType) (fun v c -> { c with PredictionType = v })
              ConfigField.bool "thresholding" (fun c -> c.Thresholding) (fun v c -> { c with Thresholding = v })
              ConfigField.float "dynamic_thresholding_ratio" "0.995" (fun c -> c.DynamicThresholdingRatio) (fun v c -> { c with DynamicThresholdingRatio = v })
              ConfigField.float "clip_sample_range" "1.0" (fun c -> c.ClipSampleRange) (fun v c -> { c with ClipSampleRange = v })
              ConfigField.float "sample_max_value" "1.0" (fun c -> c.SampleMaxValue) (fun v c -> { c with SampleMaxValue = v })
              ConfigField.choice "timestep_spacing" (Choices.ofUnion (fun (s: TimestepSpacing) -> s.Text) [])
                  (fun c -> c.TimestepSpacing) (fun v c -> { c with TimestepSpacing = v })
              ConfigField.int "steps_offset" (fun c -> c.StepsOffset) (fun v c -> { c with StepsOffset = v })
              ConfigField.bool "rescale_betas_zero_snr" (fun c -> c.RescaleBetasZeroSnr) (fun v c -> { c with RescaleBetasZeroSnr = v }) ],
            Ddpm.validate
        )

/// The schema as a static member, for C#: `DdpmConfig.Schema`.
type DdpmConfig with

    /// The `scheduler_config.json` schema (see `DdpmConfig.schema`).
    static member Schema = DdpmConfig.schema
