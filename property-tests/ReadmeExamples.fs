/// The F# examples of README.md, compiled and run so the documentation cannot drift from the API.
module Schedulers.PropertyTests.ReadmeExamples

open Xunit
open Schedulers.Core

[<Fact>]
let ``README: JAX keys and a DPM-Solver++ loop in the Flax flavour`` () =
    // README example (F#) begins
    let key = Prng.key 0L                                  // jax.random.PRNGKey(0)
    let keys = Prng.split 2 key                            // jax.random.split(key, 2)
    let x = NdArray.normal [| 4; 3; 8; 8 |] keys[1]        // jax.random.normal(keys[1], (4, 3, 8, 8))
    let model (sample: NdArray) (t: int) = NdArray.scale (float32 t / (float32 t + 1.0f)) sample
    let mutable state = DpmSolverMultistepFlax.createState DpmSolverConfig.defaults
    state <- DpmSolverMultistepFlax.setTimesteps state 20 x.Shape
    let mutable sample = x
    for t in state.Timesteps do
        let out = DpmSolverMultistepFlax.step state (model sample (int t)) (int t) sample
        sample <- out.PrevSample
        state <- out.State
    printfn "mean |x| = %f" (NdArray.meanAbs sample)
    // README example (F#) ends
    Assert.Equal(20, state.Timesteps.Length)
    Assert.True(NdArray.isFinite sample)

[<Fact>]
let ``README: the VE predictor-corrector loop on NdArray with a key`` () =
    // README example (F#, SDE-VE) begins
    // A score model gets the sample and one σ per batch element (the golden files' closed-form model).
    let score (x: NdArray) (sigma: NdArray) =
        let inner = x.Length / x.BatchSize
        NdArray.init x.Shape (fun i -> let s = sigma[i / inner] in x[i] * s / (s + 1.0f))
    let result = Sampling.predictorCorrector ScoreSdeVe.defaults score [| 2; 3; 4; 4 |] 10 ignore (Prng.key 0L)
    // README example (F#, SDE-VE) ends
    Assert.Equal<int[]>([| 2; 3; 4; 4 |], result.Sample.Shape)
    Assert.True(NdArray.isFinite result.Sample)
