/// Config files: generated valid configs round-trip through scheduler_config.json, and the loader, fed mutated or
/// random JSON, returns a config or throws the documented SchedulerConfigException — never anything else.
module Schedulers.PropertyTests.ConfigProperties

open System
open System.IO
open Xunit
open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open Schedulers.Core
open Schedulers.Hub

let private positive = Gen.choose (1, 1_000_000) |> Gen.map (fun i -> float i / 1000.0)

let private sdeConfig =
    gen {
        let! n = Gen.choose (1, 5000)
        let! snr = positive
        let! sigmaMin = Gen.choose (1, 1000) |> Gen.map (fun i -> float i / 1e4)
        let! factor = Gen.choose (2, 100000) |> Gen.map float
        let! eps = Gen.choose (1, 99999) |> Gen.map (fun i -> float i / 1e5)
        let! corrections = Gen.choose (0, 5)
        return { NumTrainTimesteps = n; Snr = snr; SigmaMin = sigmaMin; SigmaMax = sigmaMin * factor; SamplingEps = eps; CorrectSteps = corrections }
    }

let private karrasConfig =
    gen {
        let! sigmaMin = Gen.choose (1, 1000) |> Gen.map (fun i -> float i / 1e3)
        let! factor = Gen.choose (2, 10000) |> Gen.map float
        let! sNoise = Gen.choose (0, 2000) |> Gen.map (fun i -> float i / 1e3)
        let! sChurn = Gen.choose (0, 200) |> Gen.map float
        let! sMin = Gen.choose (0, 100) |> Gen.map (fun i -> float i / 100.0)
        let! sMax = Gen.choose (100, 10000) |> Gen.map (fun i -> float i / 100.0)
        return { SigmaMin = sigmaMin; SigmaMax = sigmaMin * factor; SNoise = sNoise; SChurn = sChurn; SMin = sMin; SMax = sMax }
    }

let private dpmConfig =
    gen {
        let! order = Gen.choose (1, 3)
        let! algorithm =
            Gen.elements [ AlgorithmType.DpmSolverPlusPlus; AlgorithmType.SdeDpmSolverPlusPlus; AlgorithmType.DpmSolver; AlgorithmType.SdeDpmSolver ]
        let! solver = Gen.elements [ SolverType.Midpoint; SolverType.Heun ]
        let! prediction = Gen.elements [ PredictionType.Epsilon; PredictionType.Sample; PredictionType.VPrediction ]
        let! spacing = Gen.elements [ TimestepSpacing.Linspace; TimestepSpacing.Leading; TimestepSpacing.Trailing ]
        let! schedule = Gen.elements [ BetaSchedule.Linear; BetaSchedule.ScaledLinear; BetaSchedule.SquaredcosCapV2 ]
        let! sigmas = Gen.elements [ (false, false, false); (true, false, false); (false, true, false); (false, false, true) ]
        let! lu = Gen.elements [ true; false ]
        let! offset = Gen.choose (0, 3)
        let! betaEnd = Gen.choose (100, 300) |> Gen.map (fun i -> float i / 1e4)
        let! variance = Gen.elements [ VarianceType.None; VarianceType.Learned; VarianceType.LearnedRange; VarianceType.Other "fixed_small" ]
        let! carried = Gen.elements [ None; Some 0.1; Some 0.0292 ]
        let karras, exponential, beta = sigmas
        let final = if algorithm.IsDataPrediction then FinalSigmasType.Zero else FinalSigmasType.SigmaMin
        let order = if algorithm = AlgorithmType.SdeDpmSolver then min order 2 else order
        return
            { DpmSolverConfig.defaults with
                SolverOrder = order; AlgorithmType = algorithm; SolverType = solver; PredictionType = prediction
                TimestepSpacing = spacing; BetaSchedule = schedule; UseKarrasSigmas = karras; UseExponentialSigmas = exponential
                UseBetaSigmas = beta; UseLuLambdas = lu; StepsOffset = offset; BetaEnd = betaEnd; FinalSigmasType = final
                VarianceType = variance; SigmaMin = carried }
    }

let private heunConfig =
    gen {
        let! sigmaMin = Gen.choose (1, 1000) |> Gen.map (fun i -> float i / 1e4)
        let! factor = Gen.choose (2, 100000) |> Gen.map float
        let! rho = Gen.choose (1, 200) |> Gen.map (fun i -> float i / 10.0)
        return { EdmHeun.defaults with SigmaMin = sigmaMin; SigmaMax = sigmaMin * factor; Rho = rho }
    }

/// Saved, parsed and loaded, a config is itself, and saved again (keeping the loaded text) the same bytes.
let private roundTrip (schema: ConfigSchema<'C>) (config: 'C) =
    let text = schema.Text config
    let dict = ConfigFile.parse text
    let loaded = schema.OfDict dict
    let again = schema.Text(loaded, Some dict, [])
    loaded = config && again = text

/// Setting every key to the value `Get` reports, starting from the defaults, rebuilds the config: get and set agree
/// and together cover every field the generator varies.
let private getSet (schema: ConfigSchema<'C>) (config: 'C) =
    schema.AllKeys |> Array.fold (fun acc key -> schema.Set(key, schema.Get(key, config), acc)) schema.Defaults = config

[<Property(MaxTest = 200)>]
let ``generated ScoreSdeVe configs round-trip through scheduler_config.json`` () =
    Prop.forAll (Arb.fromGen sdeConfig) (fun c -> roundTrip ScoreSdeVeConfig.schema c && getSet ScoreSdeVeConfig.schema c)

[<Property(MaxTest = 200)>]
let ``generated KarrasVe configs round-trip through scheduler_config.json`` () =
    Prop.forAll (Arb.fromGen karrasConfig) (fun c -> roundTrip KarrasVeConfig.schema c && getSet KarrasVeConfig.schema c)

[<Property(MaxTest = 200)>]
let ``generated DPM-Solver configs round-trip through scheduler_config.json`` () =
    Prop.forAll (Arb.fromGen dpmConfig) (fun c -> roundTrip DpmSolverConfig.schema c && getSet DpmSolverConfig.schema c)

[<Property(MaxTest = 200)>]
let ``generated EDM Heun configs round-trip through their config text`` () =
    Prop.forAll (Arb.fromGen heunConfig) (fun c -> roundTrip EdmHeunConfig.schema c && getSet EdmHeunConfig.schema c)

/// Another valid JSON value for a field than the one it has: a changed number or flag, another allowed string, or,
/// for a null, the first of an array, a string and a number that the field reads. None for an option with one value.
let private otherValue (schema: ConfigSchema<'C>) (key: string) (config: 'C) : JsonValue option =
    let f = schema.Field key
    let reads v = (try f.Read v config |> ignore; true with :? ArgumentException -> false)
    match schema.Get(key, config) with
    | JsonValue.Number t ->
        let x = Json.numberValue t
        Some(JsonValue.Number(Json.pythonFloat (if Double.IsFinite x then x + 1.0 else 0.0)))
    | JsonValue.Bool b -> Some(JsonValue.Bool(not b))
    | JsonValue.String s ->
        // The allowed spellings are listed, quoted, in the field's Expected text.
        f.Expected.Split('"') |> Array.indexed |> Array.filter (fun (i, t) -> i % 2 = 1 && t <> s)
        |> Array.map (snd >> JsonValue.String) |> Array.tryFind reads
    | _ -> [ JsonValue.Array [| JsonValue.Number "0.5" |]; JsonValue.String "learned"; JsonValue.Number "1.5" ] |> List.tryFind reads

/// Each key of a schema sets exactly one field of the record, a different one for each key, and there are as many
/// keys as fields: so a field added to a config record needs its schema entry, and an entry wired to another key's
/// field is caught. (A key whose option has a single value, such as `time_shift_type`, cannot be changed.)
let private oneFieldPerKey (schema: ConfigSchema<'C>) =
    let fields = Reflection.FSharpType.GetRecordFields typeof<'C>
    let values (c: 'C) = fields |> Array.map (fun p -> p.GetValue c)
    let before = values schema.Defaults
    let changed =
        schema.AllKeys
        |> Array.choose (fun key ->
            otherValue schema key schema.Defaults
            |> Option.map (fun v ->
                let after = values (schema.Set(key, v, schema.Defaults))
                let differs = Array.init fields.Length id |> Array.filter (fun i -> not (Object.Equals(before[i], after[i])))
                Assert.True(differs.Length = 1, sprintf "%s: setting %s changed %d fields" typeof<'C>.Name key differs.Length)
                fields[differs[0]].Name))
    Assert.Equal(fields.Length, schema.AllKeys.Length)
    Assert.Equal(changed.Length, (Set.ofArray changed).Count)

[<Fact>]
let ``every schema key sets one record field and every field has a key`` () =
    oneFieldPerKey ScoreSdeVeConfig.schema
    oneFieldPerKey KarrasVeConfig.schema
    oneFieldPerKey DpmSolverConfig.schema
    oneFieldPerKey EdmHeunConfig.schema

/// The loader for each class: parse, extract the class's keys, build the record.
let private loaders: (ConfigDict -> unit) list =
    [ fun d -> ScoreSdeVeConfig.schema.OfDict(fst (ConfigFile.extractInit ScoreSdeVeConfig.schema.Keys d)) |> ignore
      fun d -> KarrasVeConfig.schema.OfDict(fst (ConfigFile.extractInit KarrasVeConfig.schema.Keys d)) |> ignore
      fun d -> EdmHeunConfig.schema.OfDict(fst (ConfigFile.extractInit EdmHeunConfig.schema.Keys d)) |> ignore
      fun d -> DpmSolverConfig.schema.OfDict d |> ignore ]

/// True when loading `text` with every loader either succeeds or throws SchedulerConfigException.
let private loadsOrRejects (text: string) =
    loaders
    |> List.forall (fun load ->
        try
            load (ConfigFile.parse text)
            true
        with
        | :? SchedulerConfigException -> true
        | e -> failwithf "loading %A threw %s: %s" text (e.GetType().Name) e.Message)

let private goldenConfigs =
    lazy
        (let dir = Path.Combine(AppContext.BaseDirectory, "golden-configs")
         Directory.GetFiles(dir, "*.json") |> Array.map File.ReadAllText)

let private mutation (text: string) =
    gen {
        let! kind = Gen.choose (0, 4)
        let! pos = Gen.choose (0, max 0 (text.Length - 1))
        let! c = Gen.elements [ '{'; '}'; '['; ']'; '"'; ','; ':'; '-'; '1'; '0'; 'e'; '.'; 'n'; 't'; ' '; 'I'; 'N'; 'x' ]
        let! len = Gen.choose (1, 8)
        return
            match kind with
            | 0 -> text.Substring(0, pos) // truncated
            | 1 -> text.Remove(pos, min len (text.Length - pos))
            | 2 -> text.Insert(pos, String(c, len))
            | 3 -> text.Substring(0, pos) + string c + text.Substring(min text.Length (pos + 1))
            | _ -> text.Replace("0.", "-0.").Replace("true", "1").Replace("\"linear\"", "\"cubic\"")
    }

[<Property(MaxTest = 500)>]
let ``mutated real config files load or are rejected with the config exception`` () =
    let gen = gen {
        let! text = Gen.elements (List.ofArray goldenConfigs.Value)
        let! mutated = mutation text
        return mutated }
    Prop.forAll (Arb.fromGen gen) loadsOrRejects

let private jsonValue =
    let scalar =
        Gen.oneof
            [ Gen.constant "null"; Gen.constant "true"; Gen.constant "false"; Gen.constant "-Infinity"; Gen.constant "NaN"
              Gen.constant "1e309"; Gen.constant "-1e-320"; Gen.constant "2147483648"; Gen.constant "3.5"; Gen.constant "-7"
              Gen.constant "\"linear\""; Gen.constant "\"\""; Gen.constant "[]"; Gen.constant "{}"; Gen.constant "[0.1, \"a\"]" ]
    scalar

[<Property(MaxTest = 500)>]
let ``random values for every known key load or are rejected with the config exception`` () =
    let keys =
        Array.concat
            [ ScoreSdeVeConfig.schema.AllKeys; KarrasVeConfig.schema.AllKeys; EdmHeunConfig.schema.AllKeys
              DpmSolverConfig.schema.AllKeys; [| "_class_name"; "_use_default_values" |] ]
    let gen = gen {
        let! count = Gen.choose (1, 6)
        let! chosen = Gen.arrayOfLength count (Gen.elements keys)
        let! values = Gen.arrayOfLength count jsonValue
        return "{" + String.Join(", ", Array.map2 (fun k v -> sprintf "\"%s\": %s" k v) chosen values) + "}" }
    Prop.forAll (Arb.fromGen gen) loadsOrRejects

[<Fact>]
let ``the Flax loaders return the config and its state from a folder`` () =
    let dir = Directory.CreateTempSubdirectory()
    try
        let sub = Directory.CreateDirectory(Path.Combine(dir.FullName, "scheduler"))
        File.WriteAllText(Path.Combine(sub.FullName, ConfigFile.FileName), "{\"_class_name\": \"FlaxDPMSolverMultistepScheduler\", \"solver_order\": 3}")
        let config, state = FlaxPretrained.DpmSolver(dir.FullName, "scheduler")
        Assert.Equal(3, config.SolverOrder)
        Assert.Equal(3, state.Config.SolverOrder)
        File.WriteAllText(Path.Combine(dir.FullName, ConfigFile.FileName), "{\"s_churn\": 40}")
        let karras, _ = FlaxPretrained.KarrasVe dir.FullName
        Assert.Equal(40.0, karras.SChurn)
        let sde, sdeState = FlaxPretrained.ScoreSdeVe(Path.Combine(dir.FullName, ConfigFile.FileName))
        Assert.Equal(2000, sdeState.Timesteps.Value.Length)
        Assert.Equal(ScoreSdeVe.defaults, sde)
    finally
        dir.Delete true

[<Fact>]
let ``the Flax loaders find a repository in the Hugging Face cache layout`` () =
    let cache = Directory.CreateTempSubdirectory()
    try
        let commit = String('a', 40)
        let snapshot = Directory.CreateDirectory(Path.Combine(cache.FullName, "models--org--model", "snapshots", commit, "scheduler"))
        File.WriteAllText(Path.Combine(snapshot.FullName, ConfigFile.FileName), "{\"snr\": 0.3}")
        Directory.CreateDirectory(Path.Combine(cache.FullName, "models--org--model", "refs")) |> ignore
        File.WriteAllText(Path.Combine(cache.FullName, "models--org--model", "refs", "main"), commit)
        // Offline: the cache alone answers, and nothing is requested from the (unreachable) endpoint.
        let hub = HubSettings("https://hub.invalid", null, true, cache.FullName)
        Assert.Equal(Path.Combine(snapshot.FullName, ConfigFile.FileName), ConfigLocator.Locate("org/model", "scheduler", settings = hub))
        let sde, _ = FlaxPretrained.ScoreSdeVe("org/model", "scheduler", hub = hub)
        Assert.Equal(0.3, sde.Snr)
        Assert.Throws<SchedulerConfigException>(fun () -> FlaxPretrained.KarrasVe("org/other", hub = hub) |> ignore) |> ignore
    finally
        cache.Delete true
