/// The pure sampling loops under one name, one per scheduler family (each lives in its own module with its
/// helpers): the VE predictor–corrector, the stochastic Karras sampler and the DPM-Solver multistep loop.
[<RequireQualifiedAccess>]
module Schedulers.Core.Sampling

/// diffusers' `ScoreSdeVePipeline` loop on `NdArray` with JAX keys (`PredictorCorrector.run`): initial noise
/// `normal(key)·σ_max`, then per time `correct_steps` corrector steps and one predictor step; returns the last
/// `prev_sample_mean`.
let predictorCorrector config model shape numInferenceSteps onStep key =
    PredictorCorrector.run config model shape numInferenceSteps onStep key

/// diffusers' `KarrasVePipeline` loop over any backend (`KarrasStochastic.run`): churn, Euler step, and the Heun
/// correction when σ_prev ≠ 0.
let karrasStochastic ops hooks state noise sample = KarrasStochastic.run ops hooks state noise sample

/// The DPM-Solver loop of a diffusers pipeline over any backend, torch flavour (`MultistepSampling.run`).
let multistep ops noise model progress sample state = MultistepSampling.run ops noise model progress sample state

/// The DPM-Solver loop of the Flax class on `NdArray` (`MultistepSampling.runFlax`).
let multistepFlax model progress numInferenceSteps sample state =
    MultistepSampling.runFlax model progress numInferenceSteps sample state
