namespace Schedulers.Core

open System

/// How a config record maps to diffusers' `scheduler_config.json`: read with the class's defaults for missing keys,
/// validated with errors that name the key, and written back so a loaded file saves as it was read (a number keeps
/// its text, so `100` stays an integer and `100.0` a float) and a default config saves byte for byte as diffusers
/// writes it.
module Config =

    /// The number text to write for a field: the loaded file's text when the value is unchanged, else the default's
    /// text when the value is the default (diffusers writes `100` for an int default), else Python's repr.
    let numberText (key: string) (value: float) (defaultText: string) (source: ConfigDict option) : JsonValue =
        let loaded =
            source
            |> Option.bind (fun d -> d.TryGet key)
            |> Option.bind (function
                | JsonValue.Number t when Json.numberValue t = value || (Double.IsNaN value && t = "NaN") -> Some t
                | _ -> None)
        match loaded with
        | Some t -> JsonValue.Number t
        | None when Json.numberValue defaultText = value -> JsonValue.Number defaultText
        | None -> JsonValue.Number(Json.pythonFloat value)

    /// An integer field's JSON value.
    let intValue (value: int) : JsonValue = JsonValue.Number(string value)

    /// Runs a record validation, turning its `ArgumentException` (whose parameter name is the diffusers key) into
    /// the config exception that names the key.
    let validated (validate: 'C -> 'C) (config: 'C) : 'C =
        try
            validate config
        with :? ArgumentException as e ->
            match e.ParamName with
            | null -> raise (SchedulerConfigException(e.Message, None, None, Some(e :> exn)))
            | key ->
                let message = e.Message.Replace(sprintf " (Parameter '%s')" key, "")
                raise (SchedulerConfigException(message, Some key, None, Some(e :> exn)))

    /// `ScoreSdeVeScheduler` / `FlaxScoreSdeVeScheduler` configs.
    module ScoreSdeVe =
        /// The class name diffusers writes.
        [<Literal>]
        let ClassName = "ScoreSdeVeScheduler"

        /// The init keys, in diffusers' order.
        let keys = [| "num_train_timesteps"; "snr"; "sigma_min"; "sigma_max"; "sampling_eps"; "correct_steps" |]

        /// The config a dict describes (missing keys take diffusers' defaults), validated.
        let ofDict (d: ConfigDict) : ScoreSdeVeConfig =
            let def = Schedulers.Core.ScoreSdeVe.defaults
            { NumTrainTimesteps = ConfigFile.int "num_train_timesteps" def.NumTrainTimesteps d
              Snr = ConfigFile.float "snr" def.Snr d
              SigmaMin = ConfigFile.float "sigma_min" def.SigmaMin d
              SigmaMax = ConfigFile.float "sigma_max" def.SigmaMax d
              SamplingEps = ConfigFile.float "sampling_eps" def.SamplingEps d
              CorrectSteps = ConfigFile.int "correct_steps" def.CorrectSteps d }
            |> validated Schedulers.Core.ScoreSdeVe.validate

        /// The config's fields as JSON members (diffusers keys), keeping the number text of `source` where unchanged.
        let toMembers (source: ConfigDict option) (c: ScoreSdeVeConfig) : (string * JsonValue)[] =
            [| "num_train_timesteps", intValue c.NumTrainTimesteps
               "snr", numberText "snr" c.Snr "0.15" source
               "sigma_min", numberText "sigma_min" c.SigmaMin "0.01" source
               "sigma_max", numberText "sigma_max" c.SigmaMax "1348.0" source
               "sampling_eps", numberText "sampling_eps" c.SamplingEps "1e-05" source
               "correct_steps", intValue c.CorrectSteps |]

    /// `KarrasVeScheduler` / `FlaxKarrasVeScheduler` configs.
    module KarrasVe =
        /// The class name diffusers writes.
        [<Literal>]
        let ClassName = "KarrasVeScheduler"

        /// The init keys, in diffusers' order.
        let keys = [| "sigma_min"; "sigma_max"; "s_noise"; "s_churn"; "s_min"; "s_max" |]

        /// The config a dict describes (missing keys take diffusers' defaults), validated.
        let ofDict (d: ConfigDict) : KarrasVeConfig =
            let def = Schedulers.Core.KarrasVe.defaults
            { SigmaMin = ConfigFile.float "sigma_min" def.SigmaMin d
              SigmaMax = ConfigFile.float "sigma_max" def.SigmaMax d
              SNoise = ConfigFile.float "s_noise" def.SNoise d
              SChurn = ConfigFile.float "s_churn" def.SChurn d
              SMin = ConfigFile.float "s_min" def.SMin d
              SMax = ConfigFile.float "s_max" def.SMax d }
            |> validated Schedulers.Core.KarrasVe.validate

        /// The config's fields as JSON members; diffusers' defaults `sigma_max`, `s_churn`, `s_max` are integers.
        let toMembers (source: ConfigDict option) (c: KarrasVeConfig) : (string * JsonValue)[] =
            [| "sigma_min", numberText "sigma_min" c.SigmaMin "0.02" source
               "sigma_max", numberText "sigma_max" c.SigmaMax "100" source
               "s_noise", numberText "s_noise" c.SNoise "1.007" source
               "s_churn", numberText "s_churn" c.SChurn "80" source
               "s_min", numberText "s_min" c.SMin "0.05" source
               "s_max", numberText "s_max" c.SMax "50" source |]

    /// `DPMSolverMultistepScheduler` / `FlaxDPMSolverMultistepScheduler` configs.
    module DpmSolver =
        /// The class name diffusers writes.
        [<Literal>]
        let ClassName = "DPMSolverMultistepScheduler"

        /// The init keys, in diffusers' order.
        let keys = DpmSolverConfig.keys

        /// diffusers' `compatibles`: the 15 `KarrasDiffusionSchedulers` (spec §5.5).
        let compatibles =
            [| "DDIMScheduler"; "DDPMScheduler"; "PNDMScheduler"; "LMSDiscreteScheduler"; "EulerDiscreteScheduler"
               "HeunDiscreteScheduler"; "EulerAncestralDiscreteScheduler"; "DPMSolverMultistepScheduler"
               "DPMSolverSinglestepScheduler"; "KDPM2DiscreteScheduler"; "KDPM2AncestralDiscreteScheduler"
               "DEISMultistepScheduler"; "UniPCMultistepScheduler"; "DPMSolverSDEScheduler"; "EDMEulerScheduler" |]

        let private betaSchedules = [ "linear"; "scaled_linear"; "squaredcos_cap_v2" ]
        let private algorithms = [ "dpmsolver"; "dpmsolver++"; "sde-dpmsolver"; "sde-dpmsolver++"; "deis" ]
        let private solvers = [ "midpoint"; "heun"; "logrho"; "bh1"; "bh2" ]
        let private predictions = [ "epsilon"; "sample"; "v_prediction"; "flow_prediction" ]

        let private optionalText (key: string) (d: ConfigDict) =
            match d.TryGet key with
            | None
            | Some JsonValue.Null -> None
            | Some(JsonValue.String v) -> Some v
            | Some _ -> raise (SchedulerConfigException(sprintf "%s must be null or a string" key, key))

        let private optionalFloat (key: string) (d: ConfigDict) =
            match d.TryGet key with
            | None
            | Some JsonValue.Null -> None
            | Some _ -> Some(ConfigFile.float key nan d)

        /// The config a dict describes. Missing keys take diffusers' defaults; `sigma_min`/`sigma_max`, which a
        /// config of another class can carry, bound the Karras, exponential and beta sigmas as in diffusers.
        let ofDict (d: ConfigDict) : DpmSolverConfig =
            let def = DpmSolverConfig.defaults
            let str key allowed fallback = ConfigFile.choice key allowed fallback d
            let flag key fallback = ConfigFile.bool key fallback d
            { def with
                NumTrainTimesteps = ConfigFile.int "num_train_timesteps" def.NumTrainTimesteps d
                BetaStart = ConfigFile.float "beta_start" def.BetaStart d
                BetaEnd = ConfigFile.float "beta_end" def.BetaEnd d
                BetaSchedule = str "beta_schedule" betaSchedules def.BetaSchedule
                TrainedBetas = ConfigFile.floatArray "trained_betas" d
                SolverOrder = ConfigFile.int "solver_order" def.SolverOrder d
                PredictionType = str "prediction_type" predictions def.PredictionType
                Thresholding = flag "thresholding" def.Thresholding
                DynamicThresholdingRatio = ConfigFile.float "dynamic_thresholding_ratio" def.DynamicThresholdingRatio d
                SampleMaxValue = ConfigFile.float "sample_max_value" def.SampleMaxValue d
                AlgorithmType = str "algorithm_type" algorithms def.AlgorithmType
                SolverType = str "solver_type" solvers def.SolverType
                LowerOrderFinal = flag "lower_order_final" def.LowerOrderFinal
                EulerAtFinal = flag "euler_at_final" def.EulerAtFinal
                UseKarrasSigmas = flag "use_karras_sigmas" def.UseKarrasSigmas
                UseExponentialSigmas = flag "use_exponential_sigmas" def.UseExponentialSigmas
                UseBetaSigmas = flag "use_beta_sigmas" def.UseBetaSigmas
                UseLuLambdas = flag "use_lu_lambdas" def.UseLuLambdas
                UseFlowSigmas = flag "use_flow_sigmas" def.UseFlowSigmas
                FlowShift = ConfigFile.float "flow_shift" def.FlowShift d
                FinalSigmasType = str "final_sigmas_type" [ "zero"; "sigma_min" ] def.FinalSigmasType
                LambdaMinClipped = ConfigFile.float "lambda_min_clipped" def.LambdaMinClipped d
                VarianceType = optionalText "variance_type" d
                TimestepSpacing = str "timestep_spacing" [ "linspace"; "leading"; "trailing" ] def.TimestepSpacing
                StepsOffset = ConfigFile.int "steps_offset" def.StepsOffset d
                RescaleBetasZeroSnr = flag "rescale_betas_zero_snr" def.RescaleBetasZeroSnr
                UseDynamicShifting = flag "use_dynamic_shifting" def.UseDynamicShifting
                TimeShiftType = str "time_shift_type" [ "exponential" ] def.TimeShiftType
                SigmaMin = optionalFloat "sigma_min" d
                SigmaMax = optionalFloat "sigma_max" d }
            |> validated DpmSolverConfig.validate

        let private textOrNull (value: string option) =
            match value with
            | Some v -> JsonValue.String v
            | None -> JsonValue.Null

        /// The config's fields as JSON members: the 28 diffusers keys, then `sigma_min`/`sigma_max` when the config
        /// carries them (keeping the loaded text where unchanged).
        let toMembers (source: ConfigDict option) (c: DpmSolverConfig) : (string * JsonValue)[] =
            let num key value defaultText = numberText key value defaultText source
            let trained =
                match c.TrainedBetas, source |> Option.bind (fun d -> d.TryGet "trained_betas") with
                | None, _ -> JsonValue.Null
                | Some betas, Some(JsonValue.Array items) when items.Length = betas.Length
                                                             && Array.forall2 (fun v b -> Json.tryFloat v = Some b) items betas ->
                    JsonValue.Array items
                | Some betas, _ -> betas |> Array.map (fun b -> JsonValue.Number(Json.pythonFloat b)) |> JsonValue.Array
            let carried key (value: float option) =
                match value with
                | Some v -> [| key, num key v (Json.pythonFloat v) |]
                | None -> [||]
            Array.concat
                [ [| "num_train_timesteps", intValue c.NumTrainTimesteps
                     "beta_start", num "beta_start" c.BetaStart "0.0001"
                     "beta_end", num "beta_end" c.BetaEnd "0.02"
                     "beta_schedule", JsonValue.String c.BetaSchedule
                     "trained_betas", trained
                     "solver_order", intValue c.SolverOrder
                     "prediction_type", JsonValue.String c.PredictionType
                     "thresholding", JsonValue.Bool c.Thresholding
                     "dynamic_thresholding_ratio", num "dynamic_thresholding_ratio" c.DynamicThresholdingRatio "0.995"
                     "sample_max_value", num "sample_max_value" c.SampleMaxValue "1.0"
                     "algorithm_type", JsonValue.String c.AlgorithmType
                     "solver_type", JsonValue.String c.SolverType
                     "lower_order_final", JsonValue.Bool c.LowerOrderFinal
                     "euler_at_final", JsonValue.Bool c.EulerAtFinal
                     "use_karras_sigmas", JsonValue.Bool c.UseKarrasSigmas
                     "use_exponential_sigmas", JsonValue.Bool c.UseExponentialSigmas
                     "use_beta_sigmas", JsonValue.Bool c.UseBetaSigmas
                     "use_lu_lambdas", JsonValue.Bool c.UseLuLambdas
                     "use_flow_sigmas", JsonValue.Bool c.UseFlowSigmas
                     "flow_shift", num "flow_shift" c.FlowShift "1.0"
                     "final_sigmas_type", JsonValue.String c.FinalSigmasType
                     "lambda_min_clipped", num "lambda_min_clipped" c.LambdaMinClipped "-Infinity"
                     "variance_type", textOrNull c.VarianceType
                     "timestep_spacing", JsonValue.String c.TimestepSpacing
                     "steps_offset", intValue c.StepsOffset
                     "rescale_betas_zero_snr", JsonValue.Bool c.RescaleBetasZeroSnr
                     "use_dynamic_shifting", JsonValue.Bool c.UseDynamicShifting
                     "time_shift_type", JsonValue.String c.TimeShiftType |]
                  carried "sigma_min" c.SigmaMin
                  carried "sigma_max" c.SigmaMax ]

    /// The text `save_config` writes for a class: its fields, then the hidden keys a loaded file carried.
    /// A hidden key that is also a field (DPM-Solver's carried `sigma_min`/`sigma_max`) is written once, as the field.
    let text (className: string) (fields: (string * JsonValue)[]) (hidden: (string * JsonValue) seq) : string =
        let own = fields |> Array.map fst |> Set.ofArray
        ConfigFile.toText className (Seq.append fields (hidden |> Seq.filter (fun (k, _) -> not (own.Contains k))))
