/// The deterministic EDM sampler's loop (Karras et al. 2022, Algorithm 1): `Loop.run` with `EdmHeun.scheduler`, with
/// the denoiser D(x; σ) as the model.
module Schedulers.Core.EdmHeunSampling

/// Runs Algorithm 1 from `sample` (already scaled by σ_max) on a state after `setTimesteps` and returns the final
/// sample; `progress` sees every step.
let runWith (ops: IBackend<'T, 'Noise>) (denoiser: 'T -> float -> 'T) (progress: StepProgress<'T> -> unit) (state: EdmHeunState) (sample: 'T) : 'T =
    let noDraws: NoiseStream<'Noise> = fun _ -> invalidOp "the EDM sampler draws no noise"
    (Loop.run (EdmHeun.scheduler state.Config) ops (fun y q -> denoiser y q.Sigma) noDraws Unchecked.defaultof<'Noise> progress state sample).Sample

/// `runWith` without progress.
let run (ops: IBackend<'T, 'Noise>) (denoiser: 'T -> float -> 'T) (state: EdmHeunState) (sample: 'T) : 'T =
    runWith ops denoiser ignore state sample

/// `run` on NdArray: the final sample of Algorithm 1 from `sample` with the denoiser D(x; σ), each denoised array
/// checked to have the sample's shape.
let runArray (denoiser: NdArray -> float -> NdArray) (state: EdmHeunState) (sample: NdArray) : NdArray =
    run (NdArrayBackend.Default :> IBackend<NdArray, PrngKey>) (fun x sigma ->
        let d = denoiser x sigma
        NdArray.checkSameShape "sample" x "denoised" d
        d) state sample
