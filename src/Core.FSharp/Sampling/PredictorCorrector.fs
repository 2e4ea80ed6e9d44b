/// The predictor–corrector sampling loop of the VE SDE (Song et al. 2021, Algorithm 2), as diffusers'
/// `ScoreSdeVePipeline` runs it (spec §6.1): for each time, `correct_steps` Langevin corrector steps, then one
/// reverse-diffusion predictor step; the result is the last predictor's `prev_sample_mean` (its noise is dropped).
/// Pure: the model, the noise stream and the progress callback are arguments, nothing is drawn from global state.
module Schedulers.Core.PredictorCorrector

open System

/// The end of a loop.
type PcResult<'T> =
    { /// The last predictor's `prev_sample_mean`: what the pipeline returns (before its clamp to [0, 1]).
      Sample: 'T
      /// The last predictor's `prev_sample` (with the noise the pipeline discards).
      LastPrevSample: 'T
      /// The scheduler state the loop ran with (after `set_timesteps(n)` then `set_sigmas(n)`).
      State: ScoreSdeVeState }

/// The Flax key discipline: `key, sub = split(key)`; the step then draws from `split(sub, 1)[0]`.
/// Returns the carried key and the key the draw uses.
let nextKey (key: PrngKey) : struct (PrngKey * PrngKey) =
    let keys = Prng.split 2 key
    struct (keys[0], ScoreSdeVe.flaxNoiseKey keys[1])

/// The pipeline's schedule: `set_timesteps(n)` then `set_sigmas(n)`, so `sigmas` has n entries.
let schedule (flavour: Flavour) (config: ScoreSdeVeConfig) (numInferenceSteps: int) : ScoreSdeVeState =
    (ScoreSdeVe.scheduler config).SetTimesteps(numInferenceSteps, [||], ScoreSdeVe.emptyWith flavour)

/// The loop from a given initial sample on any backend: `Loop.run` with `ScoreSdeVe.scheduler` on the pipeline's
/// schedule. `next` advances the noise stream before every draw and returns the carried stream and the draw's source
/// (a shared torch generator returns itself twice; JAX keys use `nextKey`). The model receives the sample and
/// σ = `sigmas[i]`. `onStep` sees each iteration's predictor output (its `Timestep` is the continuous time t); the
/// loop releases every tensor it made and no longer needs.
let runFromOn
    (ops: IBackend<'T, 'N>)
    (flavour: Flavour)
    (config: ScoreSdeVeConfig)
    (numInferenceSteps: int)
    (model: 'T -> float32 -> 'T)
    (next: 'N -> struct ('N * 'N))
    (onStep: StepProgress<ScoreSdeVeOutput<'T>> -> unit)
    (initial: 'T)
    (noise: 'N)
    : PcResult<'T> =
    if numInferenceSteps < 1 then
        invalidArg "num_inference_steps" (sprintf "num_inference_steps is %d but must be at least 1" numInferenceSteps)
    let scheduler = ScoreSdeVe.scheduler config
    let state = schedule flavour config numInferenceSteps
    let result = Loop.run scheduler ops (fun x q -> model x (float32 q.Sigma)) next noise onStep state initial
    { Sample = result.Sample
      LastPrevSample = result.Last.Value.PrevSample
      State = result.State }

/// A model over arrays that takes σ as a `(B,)` vector, as diffusers' UNet does, seen as the loop's `x -> σ -> x`.
let private perBatchSigma (model: NdArray -> NdArray -> NdArray) : NdArray -> float32 -> NdArray =
    fun x sigma -> model x (NdArray.full [| x.BatchSize |] sigma)

/// The Flax-flavoured loop on arrays from a given sample, keys advanced by `key, sub = split(key)` before every
/// corrector and predictor step.
let runFrom (config: ScoreSdeVeConfig) (model: NdArray -> NdArray -> NdArray) (numInferenceSteps: int) (onStep: StepProgress<ScoreSdeVeOutput<NdArray>> -> unit) (initial: NdArray) (key: PrngKey) =
    runFromOn NdArrayBackend.Default Flavour.Flax config numInferenceSteps (perBatchSigma model) nextKey onStep initial key

/// The whole sampler on arrays: `key, sub = split(key)`, x = `normal(sub, shape)·sigma_max` (the pipeline's
/// `randn·init_noise_sigma`), then the loop from x with the carried key.
let run (config: ScoreSdeVeConfig) (model: NdArray -> NdArray -> NdArray) (shape: int[]) (numInferenceSteps: int) (onStep: StepProgress<ScoreSdeVeOutput<NdArray>> -> unit) (key: PrngKey) =
    let config = ScoreSdeVe.validate config
    if numInferenceSteps < 1 then
        invalidArg "num_inference_steps" (sprintf "num_inference_steps is %d but must be at least 1" numInferenceSteps)
    let keys = Prng.split 2 key
    let initial = NdArray.normal shape keys[1] |> NdArray.scale (ScoreSdeVe.initNoiseSigma config)
    runFrom config model numInferenceSteps onStep initial keys[0]
