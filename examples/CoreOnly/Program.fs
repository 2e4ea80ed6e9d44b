// The Flax flavour on the pure F# core: an explicit JAX key, an immutable ScoreSdeVe state and the VE predictor
// (Song et al. 2021, reverse diffusion) folded over the timesteps. The data are 2-D points from N(0, I), whose
// σ-perturbed score is exact: ∇ log p_σ(x) = -x / (1 + σ²). Prints the standard deviation of the samples (≈ 1).
open Schedulers.Core

let steps = 500
let config = { ScoreSdeVe.defaults with SigmaMax = 50.0 }
let state =
    ScoreSdeVe.createState config
    |> ScoreSdeVe.setTimesteps config steps
    |> ScoreSdeVe.setSigmas config steps

/// The exact score of N(0, I) perturbed with noise level σ.
let score (sigma: float32) (x: NdArray) = NdArray.scale (-1.0f / (1.0f + sigma * sigma)) x

let key = Prng.key 0L
let keys = Prng.split 2 key
let init = NdArray.scale (float32 config.SigmaMax) (NdArray.normal [| 1000; 2 |] keys[0])

let timesteps = state.Timesteps.Value
let sigmas = state.Sigmas.Value
let final =
    timesteps
    |> Array.indexed
    |> Array.fold (fun x (i, t) ->
        let stepKey = Prng.foldIn (uint32 i) keys[1]
        let out = ScoreSdeVe.stepPred state (score sigmas[i] x) t x stepKey
        // The last step keeps the mean, as diffusers' ScoreSdeVePipeline returns it.
        if i = timesteps.Length - 1 then out.PrevSampleMean.Value else out.PrevSample) init

let values = Array.init final.Length (fun i -> float final[i])
let mean = Array.average values
let std = sqrt (values |> Array.averageBy (fun v -> (v - mean) * (v - mean)))
printfn "std %.3f" std
