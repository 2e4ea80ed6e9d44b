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

    /// The text `save_config` writes for a class: its fields, then the hidden keys a loaded file carried.
    let text (className: string) (fields: (string * JsonValue)[]) (hidden: (string * JsonValue) seq) : string =
        ConfigFile.toText className (Seq.append fields hidden)
