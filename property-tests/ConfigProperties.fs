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
        let! algorithm = Gen.elements [ "dpmsolver++"; "sde-dpmsolver++"; "dpmsolver"; "sde-dpmsolver" ]
        let! solver = Gen.elements [ "midpoint"; "heun" ]
        let! prediction = Gen.elements [ "epsilon"; "sample"; "v_prediction" ]
        let! spacing = Gen.elements [ "linspace"; "leading"; "trailing" ]
        let! schedule = Gen.elements [ "linear"; "scaled_linear"; "squaredcos_cap_v2" ]
        let! sigmas = Gen.elements [ (false, false, false); (true, false, false); (false, true, false); (false, false, true) ]
        let! lu = Gen.elements [ true; false ]
        let! offset = Gen.choose (0, 3)
        let! betaEnd = Gen.choose (100, 300) |> Gen.map (fun i -> float i / 1e4)
        let karras, exponential, beta = sigmas
        let final = if algorithm.EndsWith "++" then "zero" else "sigma_min"
        let order = if algorithm = "sde-dpmsolver" then min order 2 else order
        return
            { DpmSolverConfig.defaults with
                SolverOrder = order; AlgorithmType = algorithm; SolverType = solver; PredictionType = prediction
                TimestepSpacing = spacing; BetaSchedule = schedule; UseKarrasSigmas = karras; UseExponentialSigmas = exponential
                UseBetaSigmas = beta; UseLuLambdas = lu; StepsOffset = offset; BetaEnd = betaEnd; FinalSigmasType = final }
    }

let private roundTrip (toMembers: ConfigDict option -> 'C -> (string * JsonValue)[]) (ofDict: ConfigDict -> 'C) (className: string) (config: 'C) =
    let text = Config.text className (toMembers None config) []
    let dict = ConfigFile.parse text
    let loaded = ofDict dict
    let again = Config.text className (toMembers (Some dict) loaded) []
    loaded = config && again = text

[<Property(MaxTest = 200)>]
let ``generated ScoreSdeVe configs round-trip through scheduler_config.json`` () =
    Prop.forAll (Arb.fromGen sdeConfig) (roundTrip Config.ScoreSdeVe.toMembers Config.ScoreSdeVe.ofDict Config.ScoreSdeVe.ClassName)

[<Property(MaxTest = 200)>]
let ``generated KarrasVe configs round-trip through scheduler_config.json`` () =
    Prop.forAll (Arb.fromGen karrasConfig) (roundTrip Config.KarrasVe.toMembers Config.KarrasVe.ofDict Config.KarrasVe.ClassName)

[<Property(MaxTest = 200)>]
let ``generated DPM-Solver configs round-trip through scheduler_config.json`` () =
    Prop.forAll (Arb.fromGen dpmConfig) (roundTrip Config.DpmSolver.toMembers Config.DpmSolver.ofDict Config.DpmSolver.ClassName)

/// The loader for each class: parse, extract the class's keys, build the record.
let private loaders: (ConfigDict -> unit) list =
    [ fun d -> Config.ScoreSdeVe.ofDict (fst (ConfigFile.extractInit Config.ScoreSdeVe.keys d)) |> ignore
      fun d -> Config.KarrasVe.ofDict (fst (ConfigFile.extractInit Config.KarrasVe.keys d)) |> ignore
      fun d -> Config.DpmSolver.ofDict d |> ignore ]

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
    let keys = Array.concat [ Config.ScoreSdeVe.keys; Config.KarrasVe.keys; Config.DpmSolver.keys; [| "_class_name"; "_use_default_values"; "sigma_min"; "sigma_max" |] ]
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
