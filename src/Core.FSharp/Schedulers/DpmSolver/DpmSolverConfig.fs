namespace Schedulers.Core

open System

/// `algorithm_type`: which DPM-Solver (diffusers' spellings are the `Text` of each case).
[<RequireQualifiedAccess>]
type AlgorithmType =
    /// "dpmsolver": DPM-Solver (Lu et al. 2022a), in the noise prediction ε.
    | DpmSolver
    /// "dpmsolver++": DPM-Solver++ (Lu et al. 2022b), in the data prediction x0.
    | DpmSolverPlusPlus
    /// "sde-dpmsolver": the stochastic DPM-Solver.
    | SdeDpmSolver
    /// "sde-dpmsolver++": the stochastic DPM-Solver++.
    | SdeDpmSolverPlusPlus

    /// The diffusers spelling.
    member a.Text =
        match a with
        | DpmSolver -> "dpmsolver"
        | DpmSolverPlusPlus -> "dpmsolver++"
        | SdeDpmSolver -> "sde-dpmsolver"
        | SdeDpmSolverPlusPlus -> "sde-dpmsolver++"

    /// True for the algorithms that predict data (x0): "dpmsolver++" and "sde-dpmsolver++".
    member a.IsDataPrediction =
        match a with
        | DpmSolverPlusPlus
        | SdeDpmSolverPlusPlus -> true
        | DpmSolver
        | SdeDpmSolver -> false

    /// True for the stochastic variants, which draw noise at every step.
    member a.IsSde =
        match a with
        | SdeDpmSolver
        | SdeDpmSolverPlusPlus -> true
        | DpmSolver
        | DpmSolverPlusPlus -> false

    /// The diffusers spelling.
    override a.ToString() = a.Text

/// `solver_type`: the second-order update's form.
[<RequireQualifiedAccess>]
type SolverType =
    /// "midpoint".
    | Midpoint
    /// "heun".
    | Heun

    /// The diffusers spelling.
    member s.Text =
        match s with
        | Midpoint -> "midpoint"
        | Heun -> "heun"

    /// The diffusers spelling.
    override s.ToString() = s.Text

/// `variance_type`: whether the model output carries predicted-variance channels, which the solver drops.
[<RequireQualifiedAccess>]
type VarianceType =
    /// null (the default): no variance channels.
    | None
    /// "learned".
    | Learned
    /// "learned_range".
    | LearnedRange
    /// Any other text (DDPM's "fixed_small", ...): kept so the config saves as it was read, and acting as null, as
    /// in diffusers, which only tests for the two learned kinds.
    | Other of string

    /// True for "learned" and "learned_range": the model output has twice the sample's channels.
    member v.PredictsVariance =
        match v with
        | Learned
        | LearnedRange -> true
        | None
        | Other _ -> false

    /// The diffusers spelling (null for None).
    member v.Text : string | null =
        match v with
        | None -> null
        | Learned -> "learned"
        | LearnedRange -> "learned_range"
        | Other text -> text

/// `time_shift_type`: how `mu` shifts the flow sigmas under `use_dynamic_shifting`.
[<RequireQualifiedAccess>]
type TimeShiftType =
    /// "exponential": flow_shift = e^mu.
    | Exponential

    /// The diffusers spelling.
    member t.Text =
        match t with
        | Exponential -> "exponential"

    /// The diffusers spelling.
    override t.ToString() = t.Text

/// Every field of diffusers' `DPMSolverMultistepScheduler` config (spec §4.1). String options are unions, read from
/// their diffusers spellings once, when a config is read (`DpmSolverConfig.schema`). `SigmaMin`/`SigmaMax` are not DPM fields but a loaded config may carry them
/// from another class, and then they bound the Karras/exponential/beta sigmas as in diffusers.
type DpmSolverConfig =
    { /// `num_train_timesteps`: N, the length of the training schedule.
      NumTrainTimesteps: int
      /// `beta_start`.
      BetaStart: float
      /// `beta_end`.
      BetaEnd: float
      /// `beta_schedule`: "linear", "scaled_linear" or "squaredcos_cap_v2".
      BetaSchedule: BetaSchedule
      /// `trained_betas`: explicit betas that override the schedule.
      TrainedBetas: float[] option
      /// `solver_order`: 1, 2 or 3.
      SolverOrder: int
      /// `prediction_type`: "epsilon", "sample", "v_prediction" or "flow_prediction".
      PredictionType: PredictionType
      /// `thresholding`: dynamic thresholding of the predicted x0.
      Thresholding: bool
      /// `dynamic_thresholding_ratio`: the quantile of |x0| used as the threshold.
      DynamicThresholdingRatio: float
      /// `sample_max_value`: the upper clamp of the threshold.
      SampleMaxValue: float
      /// `algorithm_type`: "dpmsolver", "dpmsolver++", "sde-dpmsolver" or "sde-dpmsolver++" ("deis" reads as "dpmsolver++").
      AlgorithmType: AlgorithmType
      /// `solver_type`: "midpoint" or "heun" ("logrho", "bh1", "bh2" read as "midpoint").
      SolverType: SolverType
      /// `lower_order_final`: lower-order steps at the end of runs under 15 steps.
      LowerOrderFinal: bool
      /// `euler_at_final`: the last step is first order.
      EulerAtFinal: bool
      /// `use_karras_sigmas`.
      UseKarrasSigmas: bool
      /// `use_exponential_sigmas`.
      UseExponentialSigmas: bool
      /// `use_beta_sigmas`.
      UseBetaSigmas: bool
      /// `use_lu_lambdas`.
      UseLuLambdas: bool
      /// `use_flow_sigmas`.
      UseFlowSigmas: bool
      /// `flow_shift`.
      FlowShift: float
      /// `final_sigmas_type`: "zero" or "sigma_min".
      FinalSigmasType: FinalSigmasType
      /// `lambda_min_clipped`: timesteps whose λ is below this are not used (−∞ by default).
      LambdaMinClipped: float
      /// `variance_type`: null, "learned" or "learned_range" (other values, such as DDPM's "fixed_small", are kept
      /// and act as null).
      VarianceType: VarianceType
      /// `timestep_spacing`: "linspace", "leading" or "trailing".
      TimestepSpacing: TimestepSpacing
      /// `steps_offset`: added to "leading" timesteps.
      StepsOffset: int
      /// `rescale_betas_zero_snr`.
      RescaleBetasZeroSnr: bool
      /// `use_dynamic_shifting`: `set_timesteps` accepts `mu` (flow_shift = e^mu).
      UseDynamicShifting: bool
      /// `time_shift_type`: "exponential".
      TimeShiftType: TimeShiftType
      /// `sigma_min` carried by a config from another class (bounds the Karras/exponential/beta sigmas).
      SigmaMin: float option
      /// `sigma_max` carried by a config from another class.
      SigmaMax: float option }


/// The DPM-Solver config's defaults, schema and validation.
module DpmSolverConfig =

    /// The constructor defaults of diffusers' DPMSolverMultistepScheduler.
    let defaults: DpmSolverConfig =
        { NumTrainTimesteps = 1000; BetaStart = 0.0001; BetaEnd = 0.02; BetaSchedule = BetaSchedule.Linear; TrainedBetas = None
          SolverOrder = 2; PredictionType = PredictionType.Epsilon; Thresholding = false; DynamicThresholdingRatio = 0.995
          SampleMaxValue = 1.0; AlgorithmType = AlgorithmType.DpmSolverPlusPlus; SolverType = SolverType.Midpoint
          LowerOrderFinal = true; EulerAtFinal = false; UseKarrasSigmas = false; UseExponentialSigmas = false
          UseBetaSigmas = false; UseLuLambdas = false; UseFlowSigmas = false; FlowShift = 1.0
          FinalSigmasType = FinalSigmasType.Zero; LambdaMinClipped = Double.NegativeInfinity; VarianceType = VarianceType.None
          TimestepSpacing = TimestepSpacing.Linspace; StepsOffset = 0; RescaleBetasZeroSnr = false; UseDynamicShifting = false
          TimeShiftType = TimeShiftType.Exponential; SigmaMin = None; SigmaMax = None }

    let private text (v: float) = v.ToString("R", Globalization.CultureInfo.InvariantCulture)

    /// The checks across fields, after each field's own (`schema.Validate`). Throws ArgumentException naming the key.
    let private validateTogether (c: DpmSolverConfig) : DpmSolverConfig =
        match c.TrainedBetas with
        | Some b when b.Length <> c.NumTrainTimesteps ->
            raise (ArgumentException(sprintf "trained_betas has %d values but num_train_timesteps is %d" b.Length c.NumTrainTimesteps, "trained_betas"))
        | _ -> ()
        // The linear and scaled-linear schedules interpolate between the two (scaled_linear between their roots):
        // a NaN, infinite or negative bound would only surface later as a NaN alpha, far from its cause.
        let interpolated =
            match c.TrainedBetas, c.BetaSchedule with
            | Some _, _
            | None, BetaSchedule.SquaredcosCapV2 -> false
            | None, BetaSchedule.Linear
            | None, BetaSchedule.ScaledLinear -> true
        if interpolated then
            for key, v in [ "beta_start", c.BetaStart; "beta_end", c.BetaEnd ] do
                if not (v >= 0.0 && v < 1.0) then
                    raise (ArgumentException(sprintf "%s is %s but must be a number in [0, 1)" key (text v), key))
        match c.PredictionType with
        | PredictionType.FlowPrediction when not c.AlgorithmType.IsDataPrediction ->
            raise (ArgumentException(sprintf "prediction_type 'flow_prediction' needs algorithm_type 'dpmsolver++' or 'sde-dpmsolver++' but it is '%s'" c.AlgorithmType.Text, "prediction_type"))
        | _ -> ()
        let exclusive = [ c.UseBetaSigmas; c.UseExponentialSigmas; c.UseKarrasSigmas ] |> List.filter id |> List.length
        if exclusive > 1 then
            raise (ArgumentException("only one of use_beta_sigmas, use_exponential_sigmas, use_karras_sigmas can be true", "use_karras_sigmas"))
        match c.FinalSigmasType with
        | FinalSigmasType.Zero when not c.AlgorithmType.IsDataPrediction ->
            raise (ArgumentException(sprintf "final_sigmas_type 'zero' is not supported for algorithm_type '%s'; use 'sigma_min'" c.AlgorithmType.Text, "final_sigmas_type"))
        | _ -> ()
        // diffusers has no third-order sde-dpmsolver formula (it fails with an unbound variable on the first
        // third-order step), so the combination is refused here rather than mid-run.
        match c.AlgorithmType with
        | AlgorithmType.SdeDpmSolver when c.SolverOrder = 3 ->
            raise (ArgumentException("algorithm_type 'sde-dpmsolver' has no third-order update; use solver_order 1 or 2, or 'sde-dpmsolver++'", "solver_order"))
        | _ -> ()
        if c.UseFlowSigmas && not (c.FlowShift > 0.0) then
            raise (ArgumentException(sprintf "flow_shift is %s but it must be positive" (text c.FlowShift), "flow_shift"))
        c

    let private variance =
        let read (v: JsonValue) =
            match v with
            | JsonValue.Null -> VarianceType.None
            | JsonValue.String "learned" -> VarianceType.Learned
            | JsonValue.String "learned_range" -> VarianceType.LearnedRange
            | JsonValue.String other -> VarianceType.Other other
            | _ -> ConfigField.wrong "variance_type" v "null or a string"
        let write (v: VarianceType) =
            match v.Text with
            | null -> JsonValue.Null
            | text -> JsonValue.String text
        ConfigField.custom "variance_type" "null, \"learned\" or \"learned_range\" (any other string is kept and acts as null)" read write

    /// diffusers' `DPMSolverMultistepScheduler` config (spec §4.1): its 28 keys in constructor order, then
    /// `sigma_min`/`sigma_max`, which a config of another class can carry and which then bound the Karras,
    /// exponential and beta sigmas, as in diffusers. `compatibles` are the 15 `KarrasDiffusionSchedulers` (§5.5).
    let schema: ConfigSchema<DpmSolverConfig> =
        ConfigSchema(
            "DPMSolverMultistepScheduler",
            DiffusersClasses.karrasDiffusionSchedulers,
            defaults,
            [ ConfigField.int "num_train_timesteps" (fun c -> c.NumTrainTimesteps) (fun v c -> { c with NumTrainTimesteps = v })
              |> ConfigField.requires (fun c -> c.NumTrainTimesteps >= 2) "at least 2 training timesteps are needed"
              |> ConfigField.checks (fun c -> ConfigLimits.numTrainTimesteps c.NumTrainTimesteps)
              ConfigField.float "beta_start" "0.0001" (fun c -> c.BetaStart) (fun v c -> { c with BetaStart = v })
              ConfigField.float "beta_end" "0.02" (fun c -> c.BetaEnd) (fun v c -> { c with BetaEnd = v })
              ConfigField.choice "beta_schedule" (Choices.ofUnion (fun (b: BetaSchedule) -> b.Text) [])
                  (fun c -> c.BetaSchedule) (fun v c -> { c with BetaSchedule = v })
              ConfigField.floatArrayOrNull "trained_betas" (fun c -> c.TrainedBetas) (fun v c -> { c with TrainedBetas = v })
              |> ConfigField.requires (fun c -> c.TrainedBetas |> Option.forall (Array.forall (fun v -> v > 0.0 && v <= 1.0))) "its values must lie in (0, 1]"
              ConfigField.int "solver_order" (fun c -> c.SolverOrder) (fun v c -> { c with SolverOrder = v })
              |> ConfigField.requires (fun c -> c.SolverOrder >= 1 && c.SolverOrder <= ConfigLimits.MaxSolverOrder)
                  (sprintf "must be 1, 2 or 3 (at most ConfigLimits.MaxSolverOrder = %d, the orders diffusers implements)" ConfigLimits.MaxSolverOrder)
              ConfigField.choice "prediction_type" (Choices.ofUnion (fun (p: PredictionType) -> p.Text) [])
                  (fun c -> c.PredictionType) (fun v c -> { c with PredictionType = v })
              ConfigField.bool "thresholding" (fun c -> c.Thresholding) (fun v c -> { c with Thresholding = v })
              ConfigField.float "dynamic_thresholding_ratio" "0.995" (fun c -> c.DynamicThresholdingRatio) (fun v c -> { c with DynamicThresholdingRatio = v })
              |> ConfigField.requires (fun c -> c.DynamicThresholdingRatio >= 0.0 && c.DynamicThresholdingRatio <= 1.0) "it must lie in [0, 1]"
              ConfigField.float "sample_max_value" "1.0" (fun c -> c.SampleMaxValue) (fun v c -> { c with SampleMaxValue = v })
              |> ConfigField.requires (fun c -> c.SampleMaxValue > 0.0) "it must be positive"
              // diffusers re-registers "deis" as "dpmsolver++", and "logrho", "bh1", "bh2" as "midpoint".
              ConfigField.choice "algorithm_type" (Choices.ofUnion (fun (a: AlgorithmType) -> a.Text) [ "deis", AlgorithmType.DpmSolverPlusPlus ])
                  (fun c -> c.AlgorithmType) (fun v c -> { c with AlgorithmType = v })
              ConfigField.choice "solver_type"
                  (Choices.ofUnion (fun (s: SolverType) -> s.Text) [ "logrho", SolverType.Midpoint; "bh1", SolverType.Midpoint; "bh2", SolverType.Midpoint ])
                  (fun c -> c.SolverType) (fun v c -> { c with SolverType = v })
              ConfigField.bool "lower_order_final" (fun c -> c.LowerOrderFinal) (fun v c -> { c with LowerOrderFinal = v })
              ConfigField.bool "euler_at_final" (fun c -> c.EulerAtFinal) (fun v c -> { c with EulerAtFinal = v })
              ConfigField.bool "use_karras_sigmas" (fun c -> c.UseKarrasSigmas) (fun v c -> { c with UseKarrasSigmas = v })
              ConfigField.bool "use_exponential_sigmas" (fun c -> c.UseExponentialSigmas) (fun v c -> { c with UseExponentialSigmas = v })
              ConfigField.bool "use_beta_sigmas" (fun c -> c.UseBetaSigmas) (fun v c -> { c with UseBetaSigmas = v })
              ConfigField.bool "use_lu_lambdas" (fun c -> c.UseLuLambdas) (fun v c -> { c with UseLuLambdas = v })
              ConfigField.bool "use_flow_sigmas" (fun c -> c.UseFlowSigmas) (fun v c -> { c with UseFlowSigmas = v })
              ConfigField.float "flow_shift" "1.0" (fun c -> c.FlowShift) (fun v c -> { c with FlowShift = v })
              ConfigField.choice "final_sigmas_type" (Choices.ofUnion (fun (f: FinalSigmasType) -> f.Text) [])
                  (fun c -> c.FinalSigmasType) (fun v c -> { c with FinalSigmasType = v })
              ConfigField.float "lambda_min_clipped" "-Infinity" (fun c -> c.LambdaMinClipped) (fun v c -> { c with LambdaMinClipped = v })
              |> ConfigField.requires (fun c -> not (Double.IsNaN c.LambdaMinClipped)) "a number is expected"
              variance (fun c -> c.VarianceType) (fun v c -> { c with VarianceType = v })
              ConfigField.choice "timestep_spacing" (Choices.ofUnion (fun (s: TimestepSpacing) -> s.Text) [])
                  (fun c -> c.TimestepSpacing) (fun v c -> { c with TimestepSpacing = v })
              ConfigField.int "steps_offset" (fun c -> c.StepsOffset) (fun v c -> { c with StepsOffset = v })
              |> ConfigField.requires (fun c -> c.StepsOffset >= 0) "it must be non-negative"
              ConfigField.bool "rescale_betas_zero_snr" (fun c -> c.RescaleBetasZeroSnr) (fun v c -> { c with RescaleBetasZeroSnr = v })
              ConfigField.bool "use_dynamic_shifting" (fun c -> c.UseDynamicShifting) (fun v c -> { c with UseDynamicShifting = v })
              ConfigField.choice "time_shift_type" (Choices.ofUnion (fun (t: TimeShiftType) -> t.Text) [])
                  (fun c -> c.TimeShiftType) (fun v c -> { c with TimeShiftType = v })
              ConfigField.carriedFloat "sigma_min" (fun c -> c.SigmaMin) (fun v c -> { c with SigmaMin = v })
              ConfigField.carriedFloat "sigma_max" (fun c -> c.SigmaMax) (fun v c -> { c with SigmaMax = v }) ],
            validateTogether
        )

    /// Checks the config as diffusers' constructor does (plus the combinations diffusers would only fail on later):
    /// each field, then the fields together. Returns the config; throws ArgumentException naming the diffusers key.
    let validate (c: DpmSolverConfig) : DpmSolverConfig = schema.Validate c

    /// The key and message of the first option the config uses that diffusers' Flax class does not have (it would
    /// raise, or silently ignore it), or None when the Flax class runs the config.
    let flaxUnsupported (c: DpmSolverConfig) : (string * string) option =
        let lacks key = Some(key, sprintf "%s is not supported by the Flax DPM-Solver flavour" key)
        if c.AlgorithmType.IsSde then
            Some("algorithm_type", sprintf "algorithm_type '%s' is not supported by the Flax DPM-Solver flavour (only 'dpmsolver' and 'dpmsolver++')" c.AlgorithmType.Text)
        elif c.UseKarrasSigmas then lacks "use_karras_sigmas"
        elif c.UseExponentialSigmas then lacks "use_exponential_sigmas"
        elif c.UseBetaSigmas then lacks "use_beta_sigmas"
        elif c.UseLuLambdas then lacks "use_lu_lambdas"
        elif c.UseFlowSigmas then lacks "use_flow_sigmas"
        elif c.VarianceType.PredictsVariance then lacks "variance_type"
        elif c.RescaleBetasZeroSnr then lacks "rescale_betas_zero_snr"
        else
            match c.PredictionType with
            | PredictionType.FlowPrediction -> lacks "prediction_type"
            | PredictionType.Epsilon
            | PredictionType.Sample
            | PredictionType.VPrediction -> None

    /// True when diffusers' Flax class runs the config (`flaxUnsupported` is None).
    let runsFlax (c: DpmSolverConfig) : bool = (flaxUnsupported c).IsNone

    /// The config checked for the Flax flavour: the torch rules except that a zero final sigma is not required of
    /// "dpmsolver" (the Flax class has no final_sigmas_type), then `flaxUnsupported`. Throws ArgumentException
    /// naming the key.
    let validateFlax (config: DpmSolverConfig) : DpmSolverConfig =
        let c = { validate { config with FinalSigmasType = FinalSigmasType.SigmaMin } with FinalSigmasType = config.FinalSigmasType }
        match flaxUnsupported c with
        | Some(key, message) -> raise (ArgumentException(message, key))
        | None -> c

/// The schema as a static member, for C#: `DpmSolverConfig.Schema`.
type DpmSolverConfig with

    /// diffusers' `DPMSolverMultistepScheduler` config schema (see `DpmSolverConfig.schema`).
    static member Schema = DpmSolverConfig.schema
