/// The F# snippets of docs/getting-started-fsharp.md, compiled and run so the guide cannot drift from the API.
/// Each snippet's code stands between its begins/ends markers as in the guide.
module Schedulers.PropertyTests.GettingStartedExamples

open System
open System.IO
open Xunit
open Schedulers.Core
open Schedulers
open Schedulers.Hub

let private std (x: NdArray) =
    let values = x.ToArray() |> Array.map float
    let mean = Array.average values
    sqrt (values |> Array.averageBy (fun v -> (v - mean) * (v - mean)))

[<Fact>]
let ``getting started: the first loop samples the unit Gaussian and the fold gives the same bits`` () =
    // getting-started (F#, first loop) begins
    let keys = Prng.split 2 (Prng.key 42L)                  // jax.random.split(jax.random.PRNGKey(42))
    let mutable state = DpmSolverMultistepFlax.createState DpmSolverConfig.defaults   // DPM-Solver++ (2M)
    state <- DpmSolverMultistepFlax.setTimesteps state 50 [| 4096; 2 |]
    // Stands in for a trained network: for data x0 ~ N(0, I), E[ε | x_t] = σ_t·x_t exactly.
    let model (x: NdArray) (t: int) = NdArray.scale state.Tables.SigmaT[t] x
    let mutable sample = NdArray.scale state.InitNoiseSigma (NdArray.normal [| 4096; 2 |] keys[1])
    for t in state.Timesteps do
        let out = DpmSolverMultistepFlax.step state (model sample t) t sample
        sample <- out.PrevSample
        state <- out.State
    // getting-started (F#, first loop) ends
    Assert.InRange(std sample, 1.005, 1.025)   // 1.014 for this key (the guide says 1.01)

    // getting-started (F#, fold) begins
    let start = DpmSolverMultistepFlax.setTimesteps (DpmSolverMultistepFlax.createState DpmSolverConfig.defaults) 50 [| 4096; 2 |]
    let x0 = NdArray.scale start.InitNoiseSigma (NdArray.normal [| 4096; 2 |] keys[1])
    let final, _ =
        start.Timesteps
        |> Array.fold (fun (x, s: FlaxDpmSolverState) t ->
            let out = DpmSolverMultistepFlax.step s (NdArray.scale s.Tables.SigmaT[t] x) t x
            out.PrevSample, out.State) (x0, start)
    // getting-started (F#, fold) ends
    Assert.Equal<float32[]>(sample.ToArray(), final.ToArray())

[<Fact>]
let ``getting started: a config saved to a subfolder loads back`` () =
    // getting-started (F#, configs) begins
    let config = { DpmSolverConfig.defaults with SolverOrder = 3 }
    let folder = Directory.CreateTempSubdirectory("my-scheduler-").FullName
    let text = DpmSolverConfig.schema.Text config                     // what save_config writes
    let path = SchedulerConfigs.Save(Path.Combine(folder, "scheduler"), text)   // …/scheduler/scheduler_config.json
    // FlaxDPMSolverMultistepScheduler.from_pretrained(folder, subfolder="scheduler"): (config, state)
    let loaded, loadedState = FlaxPretrained.DpmSolver(folder, "scheduler")
    // getting-started (F#, configs) ends
    try
        Assert.Equal(Path.Combine(folder, "scheduler", "scheduler_config.json"), path)
        Assert.Equal(config, loaded)
        Assert.Equal(3, loadedState.Config.SolverOrder)
        Assert.Equal(text, File.ReadAllText path)
        Assert.Contains("\"solver_order\": 3,", text)
        Assert.Equal(DpmSolverConfig.schema.Text DpmSolverConfig.defaults,
                     File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "golden-configs", "DPMSolverMultistepScheduler.scheduler_config.json")))
    finally
        Directory.Delete(folder, true)

[<Fact>]
let ``getting started: keys are values`` () =
    // getting-started (F#, noise) begins
    let key = Prng.key 0L                          // jax.random.PRNGKey(0)
    let noise = NdArray.normal [| 2; 3 |] key      // jax.random.normal(key, (2, 3))
    let again = NdArray.normal [| 2; 3 |] key      // the same key: the same bits
    let fresh = Prng.split 2 key                   // jax.random.split(key): new keys for new draws
    let perStep = Prng.foldIn 7u key               // jax.random.fold_in(key, 7): one key per step index
    // getting-started (F#, noise) ends
    Assert.Equal<float32[]>(noise.ToArray(), again.ToArray())
    Assert.Equal<float32[]>(Prng.normal [| 2; 3 |] key, noise.ToArray())
    Assert.NotEqual<float32[]>(noise.ToArray(), (NdArray.normal [| 2; 3 |] fresh[0]).ToArray())
    Assert.NotEqual<float32[]>((NdArray.normal [| 2; 3 |] fresh[0]).ToArray(), (NdArray.normal [| 2; 3 |] fresh[1]).ToArray())
    Assert.NotEqual<float32[]>(noise.ToArray(), (NdArray.normal [| 2; 3 |] perStep).ToArray())
