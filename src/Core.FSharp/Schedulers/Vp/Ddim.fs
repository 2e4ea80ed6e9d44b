namespace Schedulers.Core

open System

/// The configuration of DDIM (Song et al. 2021, "Denoising Diffusion Implicit Models"), with diffusers'
/// `DDIMScheduler` keys.
type DdimConfig =
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
      /// `clip_sample`: clamp the predicted x0 to ±`clip_sample_range`.
      ClipSample: bool
      /// `set_alpha_to_one`: ᾱ before the first training step is 1 (else ᾱ_0).
      SetAlphaToOne: bool
      /// `steps_offset`: added to the "leading" timesteps.
      StepsOffset: int
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
      /// `rescale_betas_zero_snr`: rescale to zero terminal SNR (Lin et al. 2023).
      RescaleBetasZeroSnr: bool }

/// The DDIM state: the flavour, the config, the training tables and, after `setTimesteps`, the inference timesteps.
type DdimState =
    { /// Which reference's rounding the tables and steps follow.
      Flavour: Flavour
      /// The validated config.
      Config: DdimConfig
      /// β, α and ᾱ.
      Common: CommonSchedulerState
      /// ᾱ before the first step: 1 with `set_alpha_to_one`, else ᾱ_0.
      FinalAlphaCumprod: float32
      /// `num_inference_steps`, None before `setTimesteps`.
      NumInferenceSteps: int option
      /// The timesteps, descending ([N−1 … 0] before `setTimesteps`).
      Timesteps: int64[]
      /// The index a run starts at (`set_begin_index`, img2img), None for the whole schedule.
      BeginIndex: int option }

/// What a DDIM step returns (diffusers' `DDIMSchedulerOutput`).
type DdimOutput<'T> =
    { /// `prev_sample`: x_{t−Δ}.
      PrevSample: 'T
      /// `pred_original_sample`: the predicted x0 (after clipping or thresholding).
      PredOriginalSample: 'T }

/// The float32 scalars of one DDIM step from t to t_prev (Song et al. 2021, eq. 12), in the reference's order.
type DdimPlan =
    { /// √ᾱ_t.
      SqrtAlpha: float32
      /// √(1 − ᾱ_t).
      SqrtBeta: float32
      /// √ᾱ_{t_prev}.
      SqrtAlphaPrev: float32
      /// σ_t = η·√((1 − ᾱ_prev)/(1 − ᾱ_t)·(1 − ᾱ_t/ᾱ_prev)), the noise scale (eq. 16).
      StdDev: float32
      /// √(1 − ᾱ_prev − σ_t²), the factor of the direction pointing to x_t.
      DirectionCoef: float32 }

/// diffusers' `DDIMScheduler` (torch) and `FlaxDDIMScheduler` as pure functions over `DdimState`, over any backend.
[<RequireQualifiedAccess>]
module Ddim =

    /// diffusers' defaults.
    let defaults: DdimConfig =
        { NumTrainTimesteps = 1000
          BetaStart = 0.0001
          BetaEnd = 0.02
          BetaSchedule = BetaSchedule.Linear
          TrainedBetas = None
          ClipSample = true
          SetAlphaToOne = true
          StepsOffset = 0
          PredictionType = PredictionType.Epsilon
          Thresholding = false
          DynamicThresholdingRatio = 0.995
          ClipSampleRange = 1.0
          SampleMaxValue = 1.0
          TimestepSpacing = TimestepSpacing.Leading
          RescaleBetasZeroSnr = false }

    let private fail (key: string) (expected: string) (value: obj) =
        invalidArg key (sprintf "%s is %O but %s" key value expected)

    /// Returns the config when every field is usable, else throws an ArgumentException naming the diffusers key.
    let validate (c: DdimConfig) : DdimConfig =
        VpCommon.validateSchedule 1 c.NumTrainTimesteps c.TrainedBetas c.BetaStart c.BetaEnd c.StepsOffset
        if not (c.ClipSampleRange > 0.0) then fail "clip_sample_range" "it must be a number > 0" c.ClipSampleRange
        if not (c.DynamicThresholdingRatio > 0.0 && c.DynamicThresholdingRatio <= 1.0) then
            fail "dynamic_thresholding_ratio" "it must lie in (0, 1]" c.DynamicThresholdingRatio
        if not (c.SampleMaxValue > 0.0) then fail "sample_max_value" "it must be a number > 0" c.SampleMaxValue
        if c.PredictionType = PredictionType.FlowPrediction then
            fail "prediction_type" "DDIM supports \"epsilon\", \"sample\" and \"v_prediction\"" "\"flow_prediction\""
        if c.RescaleBetasZeroSnr && c.NumTrainTimesteps < 2 then
            fail "rescale_betas_zero_snr" "it needs num_train_timesteps >= 2" c.NumTrainTimesteps
        c

    /// The state after construction: the training tables with the flavour's rounding, timesteps [N−1 … 0].
    let createWith (flavour: Flavour) (config: DdimConfig) : DdimState =
        let c = validate config
        let common = VpCommon.create flavour c.BetaSchedule c.BetaStart c.BetaEnd c.NumTrainTimesteps c.TrainedBetas c.RescaleBetasZeroSnr
        { Flavour = flavour
          Config = c
          Common = common
          FinalAlphaCumprod = if c.SetAlphaToOne then 1.0f else common.AlphasCumprod[0]
          NumInferenceSteps = None
          Timesteps = Array.init c.NumTrainTimesteps (fun i -> int64 (c.NumTrainTimesteps - 1 - i))
          BeginIndex = None }

    /// diffusers' torch class.
    let create (config: DdimConfig) : DdimState = createWith Flavour.Torch config

    /// `init_noise_sigma` (1: a VP scheduler starts from N(0, I)).
    let initNoiseSigma = 1.0f

    /// `set_timesteps(n)`: the config's spacing (`VpCommon.timesteps`).
    let setTimesteps (n: int) (state: DdimState) : DdimState =
        ConfigLimits.inferenceSteps n
        let c = state.Config
        { state with
            NumInferenceSteps = Some n
            Timesteps = VpCommon.timesteps c.TimestepSpacing c.NumTrainTimesteps c.StepsOffset n
            BeginIndex = None }

    /// `set_begin_index(i)`: a run starts at timesteps[i] (img2img: the sample is `add_noise` at that timestep).
    let setBeginIndex (index: int) (state: DdimState) : DdimState =
        if index < 0 || index >= state.Timesteps.Length then
            raise (ArgumentOutOfRangeException("begin_index", index, sprintf "begin_index must lie in [0, %d)" state.Timesteps.Length))
        { state with BeginIndex = Some index }

    /// `scale_model_input`: the sample unchanged.
    let scaleModelInput (sample: 'T) : 'T = sample

    /// The previous timestep of a step at `timestep`: `timestep − N div n` (diffusers' DDIM).
    let prevTimestep (state: DdimState) (timestep: int64) : int64 =
        match state.NumInferenceSteps with
        | Some n -> timestep - int64 (state.Config.NumTrainTimesteps / n)
        | None -> invalidOp "the number of inference steps is not set; call setTimesteps (set_timesteps) before step"

    /// The scalars of a step at `timestep` with η = `eta`: every value a float32 operation in the reference's order
    /// (`alpha_prod_t ** 0.5` is a square root; `eta * variance ** 0.5` multiplies by f32(η)).
    let plan (state: DdimState) (timestep: int64) (eta: float) : DdimPlan =
        let ac = state.Common.AlphasCumprod
        if timestep < 0L || timestep >= int64 ac.Length then
            raise (ArgumentOutOfRangeException("timestep", timestep, sprintf "timestep must lie in [0, %d)" ac.Length))
        if not (Double.IsFinite eta) || eta < 0.0 then invalidArg "eta" (sprintf "eta is %g but must be a finite number >= 0" eta)
        let prev = prevTimestep state timestep
        let alphaT = ac[int timestep]
        let alphaPrev = if prev >= 0L then ac[int prev] else state.FinalAlphaCumprod
        let betaT = 1.0f - alphaT
        let betaPrev = 1.0f - alphaPrev
        // _get_variance: (β_prev/β_t)·(1 − ᾱ_t/ᾱ_prev).
        let variance = (betaPrev / betaT) * (1.0f - alphaT / alphaPrev)
        let std = float32 eta * MathF.Sqrt variance
        { SqrtAlpha = MathF.Sqrt alphaT
          SqrtBeta = MathF.Sqrt betaT
          SqrtAlphaPrev = MathF.Sqrt alphaPrev
          StdDev = std
          DirectionCoef = MathF.Sqrt(1.0f - alphaPrev - std * std) }

    /// x0 and ε from the model output `m` and the sample `x` by the prediction type (before clipping).
    let private predict (b: ProgramBuilder) (flavour: Flavour) (prediction: PredictionType) (p: DdimPlan) (x: Reg) (m: Reg) =
        match prediction with
        | PredictionType.Epsilon -> b.Lin [ 1.0f, x; -p.SqrtBeta, m ] |> b.DivAs flavour p.SqrtAlpha, m
        | PredictionType.Sample -> m, b.Lin [ 1.0f, x; -p.SqrtAlpha, m ] |> b.DivAs flavour p.SqrtBeta
        | PredictionType.VPrediction -> b.Lin [ p.SqrtAlpha, x; -p.SqrtBeta, m ], b.Lin [ p.SqrtAlpha, m; p.SqrtBeta, x ]
        | PredictionType.FlowPrediction -> invalidArg "prediction_type" "DDIM does not support flow_prediction"

    /// From the final x0: ε (recomputed from x0 with `use_clipped_model_output`), the mean
    /// √ᾱ_prev·x0 + √(1 − ᾱ_prev − σ²)·ε, and σ·z added when there is noise.
    let private finish (b: ProgramBuilder) (flavour: Flavour) (p: DdimPlan) (useClipped: bool) (x: Reg) (x0: Reg) (eps: Reg) (z: Reg voption) =
        let eps = if useClipped then b.Lin [ 1.0f, x; -p.SqrtAlpha, x0 ] |> b.DivAs flavour p.SqrtBeta else eps
        let mean = b.Lin [ p.SqrtAlphaPrev, x0; p.DirectionCoef, eps ]
        match z with
        | ValueSome z -> b.Lin [ 1.0f, mean; p.StdDev, z ]
        | ValueNone -> mean

    /// One DDIM step on any backend (Song et al. 2021, eq. 12): x0 and ε from the model output by the prediction
    /// type; x0 thresholded or clipped; with `use_clipped_model_output`, ε recomputed from the clipped x0;
    /// x_prev = √ᾱ_prev·x0 + √(1 − ᾱ_prev − σ²)·ε, plus σ·z when η > 0 and `noise` gives z (the torch class draws
    /// it, or takes `variance_noise`; the Flax class adds none). The elementwise arithmetic is one program, one pass
    /// where the backend fuses (two around dynamic thresholding, whose quantile needs the whole x0).
    /// The noise, when η > 0, is a tensor the caller draws or a source the step draws from inside its pass
    /// (`StepNoise`).
    let stepWith
        (ops: IBackend<'T, 'N>)
        (state: DdimState)
        (modelOutput: 'T)
        (timestep: int64)
        (sample: 'T)
        (eta: float)
        (useClippedModelOutput: bool)
        (noise: StepNoise<'T, 'N> voption)
        : DdimOutput<'T> =
        Backend.checkSame ops "sample" sample "model_output" modelOutput
        let c = state.Config
        let p = plan state timestep eta
        let flavour = state.Flavour
        let z =
            match noise with
            | ValueSome noise when eta > 0.0 -> ValueSome(StepNoise.draw noise)
            | _ -> ValueNone
        let extra = StepNoise.inputs z
        let sources = StepNoise.sources z
        let withNoise (inputs: 'T list) = Array.ofList (inputs @ extra)
        let x0, prev =
            if c.Thresholding then
                let b = ProgramBuilder(2)
                let x, m = b.Input 0, b.Input 1
                let x0, eps = predict b flavour c.PredictionType p x m
                let first = Backend.run ops (b.Build(if useClippedModelOutput then [ x0 ] else [ x0; eps ])) [| sample; modelOutput |]
                let raw = first[0]
                let x0 = ops.Threshold(raw, float32 c.DynamicThresholdingRatio, float32 c.SampleMaxValue)
                if not (obj.ReferenceEquals(raw, modelOutput)) then ops.Release raw
                let b = ProgramBuilder(3 + extra.Length)
                let x, x0r = b.Input 0, b.Input 1
                let prev = finish b flavour p useClippedModelOutput x x0r (b.Input 2) (z |> ValueOption.map (StepNoise.register b 3))
                let eps = if useClippedModelOutput then sample else first[1]
                let second = Backend.runWithNoise ops (b.Build [ prev ]) (withNoise [ sample; x0; eps ]) sources
                if not useClippedModelOutput && not (obj.ReferenceEquals(eps, modelOutput)) then ops.Release eps
                x0, second[0]
            else
                let b = ProgramBuilder(2 + extra.Length)
                let x, m = b.Input 0, b.Input 1
                let x0, eps = predict b flavour c.PredictionType p x m
                let x0 =
                    if c.ClipSample then
                        let r = float32 c.ClipSampleRange
                        b.Clamp -r r x0
                    else x0
                let prev = finish b flavour p useClippedModelOutput x x0 eps (z |> ValueOption.map (StepNoise.register b 2))
                let r = Backend.runWithNoise ops (b.Build [ x0; prev ]) (withNoise [ sample; modelOutput ]) sources
                r[0], r[1]
        // The draw is this step's (a caller's variance_noise comes as its own handle).
        StepNoise.release ops z
        { PrevSample = prev; PredOriginalSample = x0 }

    /// `stepWith` with the noise a tensor the caller draws (`noise ()`, called only when η > 0).
    let stepOn
        (ops: IBackend<'T, 'N>)
        (state: DdimState)
        (modelOutput: 'T)
        (timestep: int64)
        (sample: 'T)
        (eta: float)
        (useClippedModelOutput: bool)
        (noise: (unit -> 'T) voption)
        : DdimOutput<'T> =
        stepWith ops state modelOutput timestep sample eta useClippedModelOutput (noise |> ValueOption.map StepNoise.Tensor)

    /// `add_noise(original, noise, timesteps)` (`VpCommon.addNoise`).
    let addNoiseOn (ops: IBackend<'T, 'N>) (state: DdimState) (original: 'T) (noise: 'T) (timesteps: int64[]) : 'T =
        VpCommon.addNoise ops state.Common original noise timesteps

    /// `get_velocity(sample, noise, timesteps)` (`VpCommon.getVelocity`).
    let getVelocityOn (ops: IBackend<'T, 'N>) (state: DdimState) (sample: 'T) (noise: 'T) (timesteps: int64[]) : 'T =
        VpCommon.getVelocity ops state.Common sample noise timesteps

    /// `FlaxDDIMScheduler.step(state, model_output, timestep, sample, eta)` on arrays: the Flax class takes no key, so
    /// η changes only the direction coefficient and no noise is added.
    let flaxStep (state: DdimState) (modelOutput: NdArray) (timestep: int64) (sample: NdArray) (eta: float) : DdimOutput<NdArray> =
        stepOn NdArrayBackend.Default state modelOutput timestep sample eta false ValueNone

    /// The scheduler of the one shape (`IScheduler`) with DDIM's η (`DDIMPipeline(eta=…)`), the model at
    /// timesteps[i]: for η > 0 each step adds σ_t·z, z drawn from the loop's noise source inside the step's pass
    /// (η = 1 is DDPM's posterior variance).
    let schedulerWithEta<'T> (eta: float) (config: DdimConfig) : IScheduler<DdimState, 'T, DdimOutput<'T>> =
        if not (Double.IsFinite eta) || eta < 0.0 then invalidArg "eta" (sprintf "eta is %g but must be a finite number >= 0" eta)
        let config = validate config
        { new IScheduler<DdimState, 'T, DdimOutput<'T>> with
            member _.ClassName = "DDIMScheduler"
            member _.Create(flavour) = createWith flavour config
            member _.SetTimesteps(n, _, state) = setTimesteps n state
            member _.Steps(state) = state.Timesteps.Length
            member _.FirstIndex(state) = defaultArg state.BeginIndex 0
            member _.TimestepAt(state, i) = float state.Timesteps[i]
            member _.InitNoiseSigma(_) = float initNoiseSigma
            member _.Evaluations(steps) = steps
            member _.Step(ops, model, draw, state, index, sample) =
                let t = state.Timesteps[index]
                let output = model sample (VpCommon.query state.Common t)
                let r = stepWith ops state output t sample eta false (ValueSome(StepNoise.Source draw))
                if not (obj.ReferenceEquals(output, sample)) && not (obj.ReferenceEquals(output, r.PredOriginalSample)) then
                    ops.Release output
                struct (state, r)
            member _.Sample(r) = r.PrevSample
            member _.Result(r) = r.PrevSample
            member _.Tensors(r) = [ r.PrevSample; r.PredOriginalSample ]
            member _.StateTensors(_) = [] }

    /// The scheduler of the one shape (`IScheduler`): the pipeline loop with η = 0 (deterministic DDIM), the model
    /// at timesteps[i] (its query's σ is √((1 − ᾱ)/ᾱ) there).
    let scheduler<'T> (config: DdimConfig) : IScheduler<DdimState, 'T, DdimOutput<'T>> = schedulerWithEta 0.0 config

/// The `scheduler_config.json` schema of `DDIMScheduler` / `FlaxDDIMScheduler`.
module DdimConfig =

    /// One entry per key, in diffusers' constructor order; `Ddim.validate` checks the values.
    let schema: ConfigSchema<DdimConfig> =
        ConfigSchema(
            "DDIMScheduler",
            DiffusersClasses.karrasDiffusionSchedulers,
            Ddim.defaults,
            [ ConfigField.int "num_train_timesteps" (fun c -> c.NumTrainTimesteps) (fun v c -> { c with NumTrainTimesteps = v })
              ConfigField.float "beta_start" "0.0001" (fun c -> c.BetaStart) (fun v c -> { c with BetaStart = v })
              ConfigField.float "beta_end" "0.02" (fun c -> c.BetaEnd) (fun v c -> { c with BetaEnd = v })
              ConfigField.choice "beta_schedule" (Choices.ofUnion (fun (b: BetaSchedule) -> b.Text) [])
                  (fun c -> c.BetaSchedule) (fun v c -> { c with BetaSchedule = v })
              ConfigField.floatArrayOrNull "trained_betas" (fun c -> c.TrainedBetas) (fun v c -> { c with TrainedBetas = v })
              ConfigField.bool "clip_sample" (fun c -> c.ClipSample) (fun v c -> { c with ClipSample = v })
              ConfigField.bool "set_alpha_to_one" (fun c -> c.SetAlphaToOne) (fun v c -> { c with SetAlphaToOne = v })
              ConfigField.int "steps_offset" (fun c -> c.StepsOffset) (fun v c -> { c with StepsOffset = v })
              ConfigField.choice "prediction_type" (Choices.ofUnion (fun (p: PredictionType) -> p.Text) [])
                  (fun c -> c.PredictionType) (fun v c -> { c with PredictionType = v })
              ConfigField.bool "thresholding" (fun c -> c.Thresholding) (fun v c -> { c with Thresholding = v })
              ConfigField.float "dynamic_thresholding_ratio" "0.995" (fun c -> c.DynamicThresholdingRatio) (fun v c -> { c with DynamicThresholdingRatio = v })
              ConfigField.float "clip_sample_range" "1.0" (fun c -> c.ClipSampleRange) (fun v c -> { c with ClipSampleRange = v })
              ConfigField.float "sample_max_value" "1.0" (fun c -> c.SampleMaxValue) (fun v c -> { c with SampleMaxValue = v })
              ConfigField.choice "timestep_spacing" (Choices.ofUnion (fun (s: TimestepSpacing) -> s.Text) [])
                  (fun c -> c.TimestepSpacing) (fun v c -> { c with TimestepSpacing = v })
              ConfigField.bool "rescale_betas_zero_snr" (fun c -> c.RescaleBetasZeroSnr) (fun v c -> { c with RescaleBetasZeroSnr = v }) ],
            Ddim.validate
        )

/// The schema as a static member, for C#: `DdimConfig.Schema`.
type DdimConfig with

    /// The `scheduler_config.json` schema (see `DdimConfig.schema`).
    static member Schema = DdimConfig.schema
