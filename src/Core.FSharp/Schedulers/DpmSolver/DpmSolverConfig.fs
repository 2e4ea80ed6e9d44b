namespace Schedulers.Core

open System

/// Every field of diffusers' `DPMSolverMultistepScheduler` config (spec §4.1), with the diffusers defaults. String
/// options keep the diffusers spellings. `SigmaMin`/`SigmaMax` are not DPM fields but a loaded config may carry them
/// from another class, and then they bound the Karras/exponential/beta sigmas as in diffusers.
type DpmSolverConfig =
    { /// `num_train_timesteps`: N, the length of the training schedule.
      NumTrainTimesteps: int
      /// `beta_start`.
      BetaStart: float
      /// `beta_end`.
      BetaEnd: float
      /// `beta_schedule`: "linear", "scaled_linear" or "squaredcos_cap_v2".
      BetaSchedule: string
      /// `trained_betas`: explicit betas that override the schedule.
      TrainedBetas: float[] option
      /// `solver_order`: 1, 2 or 3.
      SolverOrder: int
      /// `prediction_type`: "epsilon", "sample", "v_prediction" or "flow_prediction".
      PredictionType: string
      /// `thresholding`: dynamic thresholding of the predicted x0.
      Thresholding: bool
      /// `dynamic_thresholding_ratio`: the quantile of |x0| used as the threshold.
      DynamicThresholdingRatio: float
      /// `sample_max_value`: the upper clamp of the threshold.
      SampleMaxValue: float
      /// `algorithm_type`: "dpmsolver", "dpmsolver++", "sde-dpmsolver" or "sde-dpmsolver++" ("deis" reads as "dpmsolver++").
      AlgorithmType: string
      /// `solver_type`: "midpoint" or "heun" ("logrho", "bh1", "bh2" read as "midpoint").
      SolverType: string
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
      FinalSigmasType: string
      /// `lambda_min_clipped`: timesteps whose λ is below this are not used (−∞ by default).
      LambdaMinClipped: float
      /// `variance_type`: None, "learned" or "learned_range" (other values, such as DDPM's "fixed_small", are kept
      /// and act as None).
      VarianceType: string option
      /// `timestep_spacing`: "linspace", "leading" or "trailing".
      TimestepSpacing: string
      /// `steps_offset`: added to "leading" timesteps.
      StepsOffset: int
      /// `rescale_betas_zero_snr`.
      RescaleBetasZeroSnr: bool
      /// `use_dynamic_shifting`: `set_timesteps` accepts `mu` (flow_shift = e^mu).
      UseDynamicShifting: bool
      /// `time_shift_type`: "exponential".
      TimeShiftType: string
      /// `sigma_min` carried by a config from another class (bounds the Karras/exponential/beta sigmas).
      SigmaMin: float option
      /// `sigma_max` carried by a config from another class.
      SigmaMax: float option }

/// Building, changing by diffusers key, and validating DPM-Solver configs.
module DpmSolverConfig =

    /// The constructor defaults of diffusers' DPMSolverMultistepScheduler.
    let defaults: DpmSolverConfig =
        { NumTrainTimesteps = 1000; BetaStart = 0.0001; BetaEnd = 0.02; BetaSchedule = "linear"; TrainedBetas = None
          SolverOrder = 2; PredictionType = "epsilon"; Thresholding = false; DynamicThresholdingRatio = 0.995
          SampleMaxValue = 1.0; AlgorithmType = "dpmsolver++"; SolverType = "midpoint"; LowerOrderFinal = true
          EulerAtFinal = false; UseKarrasSigmas = false; UseExponentialSigmas = false; UseBetaSigmas = false
          UseLuLambdas = false; UseFlowSigmas = false; FlowShift = 1.0; FinalSigmasType = "zero"
          LambdaMinClipped = Double.NegativeInfinity; VarianceType = None; TimestepSpacing = "linspace"; StepsOffset = 0
          RescaleBetasZeroSnr = false; UseDynamicShifting = false; TimeShiftType = "exponential"
          SigmaMin = None; SigmaMax = None }

    /// The diffusers keys of the DPM-Solver config, in diffusers' constructor order.
    let keys: string[] =
        [| "num_train_timesteps"; "beta_start"; "beta_end"; "beta_schedule"; "trained_betas"; "solver_order"
           "prediction_type"; "thresholding"; "dynamic_thresholding_ratio"; "sample_max_value"; "algorithm_type"
           "solver_type"; "lower_order_final"; "euler_at_final"; "use_karras_sigmas"; "use_exponential_sigmas"
           "use_beta_sigmas"; "use_lu_lambdas"; "use_flow_sigmas"; "flow_shift"; "final_sigmas_type"
           "lambda_min_clipped"; "variance_type"; "timestep_spacing"; "steps_offset"; "rescale_betas_zero_snr"
           "use_dynamic_shifting"; "time_shift_type" |]

    let private bad (key: string) (value: objnull) (expected: string) : 'a =
        raise (ArgumentException(sprintf "%s is %A but %s" key value expected, key))

    let private asBool key (v: objnull) =
        match v with
        | :? bool as b -> b
        | _ -> bad key v "a boolean is expected"

    let private asFloat key (v: objnull) =
        match v with
        | :? float as d -> d
        | :? float32 as f -> float f
        | :? int as i -> float i
        | :? int64 as i -> float i
        | _ -> bad key v "a number is expected"

    let private asInt key (v: objnull) =
        match v with
        | :? int as i -> i
        | :? int64 as i when i >= int64 Int32.MinValue && i <= int64 Int32.MaxValue -> int i
        | :? float as d when d = Math.Round d && abs d < 2e9 -> int d
        | _ -> bad key v "an integer is expected"

    let private asString key (v: objnull) =
        match v with
        | :? string as s -> s
        | _ -> bad key v "a string is expected"

    /// The config with the diffusers key `key` set to `value` (bool, int, float, string, null, or a float array for
    /// trained_betas); an unknown key or a value of the wrong kind throws ArgumentException naming the key.
    let set (key: string) (value: objnull) (c: DpmSolverConfig) : DpmSolverConfig =
        match key with
        | "num_train_timesteps" -> { c with NumTrainTimesteps = asInt key value }
        | "beta_start" -> { c with BetaStart = asFloat key value }
        | "beta_end" -> { c with BetaEnd = asFloat key value }
        | "beta_schedule" -> { c with BetaSchedule = asString key value }
        | "trained_betas" ->
            match value with
            | null -> { c with TrainedBetas = None }
            | :? (float[]) as a -> { c with TrainedBetas = Some(Array.copy a) }
            | :? (float32[]) as a -> { c with TrainedBetas = Some(Array.map float a) }
            | _ -> bad key value "null or an array of numbers is expected"
        | "solver_order" -> { c with SolverOrder = asInt key value }
        | "prediction_type" -> { c with PredictionType = asString key value }
        | "thresholding" -> { c with Thresholding = asBool key value }
        | "dynamic_thresholding_ratio" -> { c with DynamicThresholdingRatio = asFloat key value }
        | "sample_max_value" -> { c with SampleMaxValue = asFloat key value }
        | "algorithm_type" -> { c with AlgorithmType = asString key value }
        | "solver_type" -> { c with SolverType = asString key value }
        | "lower_order_final" -> { c with LowerOrderFinal = asBool key value }
        | "euler_at_final" -> { c with EulerAtFinal = asBool key value }
        | "use_karras_sigmas" -> { c with UseKarrasSigmas = asBool key value }
        | "use_exponential_sigmas" -> { c with UseExponentialSigmas = asBool key value }
        | "use_beta_sigmas" -> { c with UseBetaSigmas = asBool key value }
        | "use_lu_lambdas" -> { c with UseLuLambdas = asBool key value }
        | "use_flow_sigmas" -> { c with UseFlowSigmas = asBool key value }
        | "flow_shift" -> { c with FlowShift = asFloat key value }
        | "final_sigmas_type" -> { c with FinalSigmasType = asString key value }
        | "lambda_min_clipped" -> { c with LambdaMinClipped = asFloat key value }
        | "variance_type" ->
            match value with
            | null -> { c with VarianceType = None }
            | _ -> { c with VarianceType = Some(asString key value) }
        | "timestep_spacing" -> { c with TimestepSpacing = asString key value }
        | "steps_offset" -> { c with StepsOffset = asInt key value }
        | "rescale_betas_zero_snr" -> { c with RescaleBetasZeroSnr = asBool key value }
        | "use_dynamic_shifting" -> { c with UseDynamicShifting = asBool key value }
        | "time_shift_type" -> { c with TimeShiftType = asString key value }
        | "sigma_min" -> { c with SigmaMin = (match value with null -> None | v -> Some(asFloat key v)) }
        | "sigma_max" -> { c with SigmaMax = (match value with null -> None | v -> Some(asFloat key v)) }
        | _ -> raise (ArgumentException(sprintf "%s is not a DPMSolverMultistepScheduler config key" key, "key"))

    /// Applies `set` for each (key, value) pair in order.
    let setAll (pairs: seq<string * objnull>) (c: DpmSolverConfig) : DpmSolverConfig =
        pairs |> Seq.fold (fun acc (k, v) -> set k v acc) c

    /// The value of a diffusers key as `set` accepts it (None → null).
    let get (key: string) (c: DpmSolverConfig) : objnull =
        match key with
        | "num_train_timesteps" -> box c.NumTrainTimesteps
        | "beta_start" -> box c.BetaStart
        | "beta_end" -> box c.BetaEnd
        | "beta_schedule" -> box c.BetaSchedule
        | "trained_betas" -> (match c.TrainedBetas with Some a -> box (Array.copy a) | None -> null)
        | "solver_order" -> box c.SolverOrder
        | "prediction_type" -> box c.PredictionType
        | "thresholding" -> box c.Thresholding
        | "dynamic_thresholding_ratio" -> box c.DynamicThresholdingRatio
        | "sample_max_value" -> box c.SampleMaxValue
        | "algorithm_type" -> box c.AlgorithmType
        | "solver_type" -> box c.SolverType
        | "lower_order_final" -> box c.LowerOrderFinal
        | "euler_at_final" -> box c.EulerAtFinal
        | "use_karras_sigmas" -> box c.UseKarrasSigmas
        | "use_exponential_sigmas" -> box c.UseExponentialSigmas
        | "use_beta_sigmas" -> box c.UseBetaSigmas
        | "use_lu_lambdas" -> box c.UseLuLambdas
        | "use_flow_sigmas" -> box c.UseFlowSigmas
        | "flow_shift" -> box c.FlowShift
        | "final_sigmas_type" -> box c.FinalSigmasType
        | "lambda_min_clipped" -> box c.LambdaMinClipped
        | "variance_type" -> (match c.VarianceType with Some v -> box v | None -> null)
        | "timestep_spacing" -> box c.TimestepSpacing
        | "steps_offset" -> box c.StepsOffset
        | "rescale_betas_zero_snr" -> box c.RescaleBetasZeroSnr
        | "use_dynamic_shifting" -> box c.UseDynamicShifting
        | "time_shift_type" -> box c.TimeShiftType
        | "sigma_min" -> (match c.SigmaMin with Some v -> box v | None -> null)
        | "sigma_max" -> (match c.SigmaMax with Some v -> box v | None -> null)
        | _ -> raise (ArgumentException(sprintf "%s is not a DPMSolverMultistepScheduler config key" key, "key"))

    let private oneOf (key: string) (value: string) (allowed: string list) =
        if not (List.contains value allowed) then
            let names = allowed |> List.map (sprintf "'%s'") |> String.concat ", "
            raise (ArgumentException(sprintf "%s is '%s' but must be one of %s" key value names, key))

    /// True when `variance_type` is "learned" or "learned_range": the model output then carries variance channels
    /// that the solver drops (diffusers ignores every other value, such as DDPM's "fixed_small").
    let learnedVariance (c: DpmSolverConfig) =
        match c.VarianceType with
        | Some "learned"
        | Some "learned_range" -> true
        | _ -> false

    /// Checks the config as diffusers' constructor does (plus the combinations diffusers would only fail on later)
    /// and returns it with diffusers' aliases resolved ("deis" → "dpmsolver++"; "logrho", "bh1", "bh2" → "midpoint").
    /// Throws ArgumentException naming the diffusers key.
    let validate (c: DpmSolverConfig) : DpmSolverConfig =
        let c = if c.AlgorithmType = "deis" then { c with AlgorithmType = "dpmsolver++" } else c
        let c = if List.contains c.SolverType [ "logrho"; "bh1"; "bh2" ] then { c with SolverType = "midpoint" } else c
        if c.NumTrainTimesteps < 2 then
            bad "num_train_timesteps" c.NumTrainTimesteps "at least 2 training timesteps are needed"
        ConfigLimits.numTrainTimesteps c.NumTrainTimesteps
        match c.TrainedBetas with
        | Some b when b.Length <> c.NumTrainTimesteps ->
            raise (ArgumentException(sprintf "trained_betas has %d values but num_train_timesteps is %d" b.Length c.NumTrainTimesteps, "trained_betas"))
        | Some b when b |> Array.exists (fun v -> not (v > 0.0 && v <= 1.0)) ->
            raise (ArgumentException("trained_betas must lie in (0, 1]", "trained_betas"))
        | _ -> ()
        if c.TrainedBetas.IsNone then oneOf "beta_schedule" c.BetaSchedule [ "linear"; "scaled_linear"; "squaredcos_cap_v2" ]
        // The linear and scaled-linear schedules interpolate between the two (scaled_linear between their roots):
        // a NaN, infinite or negative bound would only surface later as a NaN alpha, far from its cause.
        if c.TrainedBetas.IsNone && c.BetaSchedule <> "squaredcos_cap_v2" then
            for key, v in [ "beta_start", c.BetaStart; "beta_end", c.BetaEnd ] do
                if not (v >= 0.0 && v < 1.0) then
                    let text = v.ToString("R", Globalization.CultureInfo.InvariantCulture)
                    raise (ArgumentException(sprintf "%s is %s but must be a number in [0, 1)" key text, key))
        if c.SolverOrder < 1 || c.SolverOrder > ConfigLimits.MaxSolverOrder then
            raise (ArgumentException(sprintf "solver_order is %d but must be 1, 2 or 3 (at most ConfigLimits.MaxSolverOrder = %d, the orders diffusers implements)" c.SolverOrder ConfigLimits.MaxSolverOrder, "solver_order"))
        oneOf "algorithm_type" c.AlgorithmType [ "dpmsolver"; "dpmsolver++"; "sde-dpmsolver"; "sde-dpmsolver++" ]
        oneOf "solver_type" c.SolverType [ "midpoint"; "heun" ]
        oneOf "prediction_type" c.PredictionType [ "epsilon"; "sample"; "v_prediction"; "flow_prediction" ]
        if c.PredictionType = "flow_prediction" && not (c.AlgorithmType.EndsWith "++") then
            raise (ArgumentException(sprintf "prediction_type 'flow_prediction' needs algorithm_type 'dpmsolver++' or 'sde-dpmsolver++' but it is '%s'" c.AlgorithmType, "prediction_type"))
        oneOf "final_sigmas_type" c.FinalSigmasType [ "zero"; "sigma_min" ]
        oneOf "timestep_spacing" c.TimestepSpacing [ "linspace"; "leading"; "trailing" ]
        oneOf "time_shift_type" c.TimeShiftType [ "exponential" ]
        // Any other variance_type (DDPM configs carry "fixed_small", ...) is kept and means no variance channels,
        // as in diffusers, which only tests for the two learned kinds.
        let exclusive = [ c.UseBetaSigmas; c.UseExponentialSigmas; c.UseKarrasSigmas ] |> List.filter id |> List.length
        if exclusive > 1 then
            raise (ArgumentException("only one of use_beta_sigmas, use_exponential_sigmas, use_karras_sigmas can be true", "use_karras_sigmas"))
        if not (c.AlgorithmType.EndsWith "++") && c.FinalSigmasType = "zero" then
            raise (ArgumentException(sprintf "final_sigmas_type 'zero' is not supported for algorithm_type '%s'; use 'sigma_min'" c.AlgorithmType, "final_sigmas_type"))
        // diffusers has no third-order sde-dpmsolver formula (it fails with an unbound variable on the first
        // third-order step), so the combination is refused here rather than mid-run.
        if c.AlgorithmType = "sde-dpmsolver" && c.SolverOrder = 3 then
            raise (ArgumentException("algorithm_type 'sde-dpmsolver' has no third-order update; use solver_order 1 or 2, or 'sde-dpmsolver++'", "solver_order"))
        if not (c.DynamicThresholdingRatio >= 0.0 && c.DynamicThresholdingRatio <= 1.0) then
            bad "dynamic_thresholding_ratio" c.DynamicThresholdingRatio "it must lie in [0, 1]"
        if Double.IsNaN c.SampleMaxValue || c.SampleMaxValue <= 0.0 then
            bad "sample_max_value" c.SampleMaxValue "it must be positive"
        if c.UseFlowSigmas && not (c.FlowShift > 0.0) then bad "flow_shift" c.FlowShift "it must be positive"
        if c.StepsOffset < 0 then bad "steps_offset" c.StepsOffset "it must be non-negative"
        if Double.IsNaN c.LambdaMinClipped then bad "lambda_min_clipped" c.LambdaMinClipped "a number is expected"
        c
