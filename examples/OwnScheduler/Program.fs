// Runs the EulerAncestral sampler of EulerAncestral.fs on the core's closed-form targets (docs/targets-and-metrics.md),
// whose denoiser D(x; σ) = E[x0 | x] is exact, so whatever error remains is the sampler's:
//  1. a Gaussian N(μ, s²): D is linear, D = (s²·x + σ²·μ)/(s² + σ²), so every step maps x − μ to k·(x − μ) + σ_up·z
//     with k = 1 + Δ·(1 − s²/(s² + σ²))/σ. The mean error and the variance then follow exactly
//     (e' = k·e, v' = k²·v + σ_up², from e = 0, v = σ_max²), and the sampled mean and std must match that prediction
//     within sampling error; the prediction itself tends to (μ, s) as the steps grow (first order in 1/N).
//  2. ring8 (eight Gaussians on a circle): the sliced Wasserstein-2 distance to the target, next to the distance
//     of exact draws of the same size (the floor finite samples put under it), and the modes covered.
open Schedulers.Core
open Schedulers.Evaluation
open OwnScheduler

let ops = NdArrayBackend.Default :> IBackend<NdArray, PrngKey>
let keys = Prng.split 3 (Prng.key 0L)

/// Samples `count` points of `target` in `steps` steps, from σ_max·z; step i draws its noise from its own key.
let sampleTarget (target: GaussianMixture) (config: EulerAncestral.EulerAncestralConfig) (steps: int) (count: int) =
    let state = EulerAncestral.createState config |> EulerAncestral.setTimesteps steps
    let init = NdArray.scale (float32 config.SigmaMax) (NdArray.normal [| count; target.Dimension |] keys[0])
    let denoiser x sigma = Targets.edmDenoiser target sigma x
    EulerAncestral.run ops denoiser (fun i -> Prng.foldIn (uint32 i) keys[1]) state init, state

let meanStd (x: NdArray) =
    let values = Array.init x.Length (fun i -> float x[i])
    let mean = Array.average values
    mean, sqrt (values |> Array.averageBy (fun v -> (v - mean) * (v - mean)))

// 1. The Gaussian, against the exact prediction of the same schedule.
let mu, s = 1.5, 0.5
let gaussian = Targets.isotropic "gaussian" [| 1.0 |] [| [| mu |] |] [| s |]
let config = EulerAncestral.defaults
let predictWith (config: EulerAncestral.EulerAncestralConfig) steps =
    let state = EulerAncestral.createState config |> EulerAncestral.setTimesteps steps
    let mutable e, v = -mu, config.SigmaMax * config.SigmaMax
    for i in 0 .. steps - 1 do
        let p = EulerAncestral.plan state i
        let sigma = float p.Sigma
        let k = 1.0 + float p.Delta * (1.0 - s * s / (s * s + sigma * sigma)) / sigma
        e <- k * e
        v <- k * k * v + float p.NoiseScale * float p.NoiseScale
    mu + e, sqrt v
let predict = predictWith config
let steps, count = 25, 20000
let samples, _ = sampleTarget gaussian config steps count
let sampledMean, sampledStd = meanStd samples
let predictedMean, predictedStd = predict steps
printfn "Gaussian N(%g, %g^2), %d steps, %d samples" mu s steps count
printfn "gaussian-mean sampled=%.5f predicted=%.5f target=%g" sampledMean predictedMean mu
printfn "gaussian-std sampled=%.5f predicted=%.5f target=%g" sampledStd predictedStd s
// The first-order convergence in the number of steps, and the deterministic Euler step (η = 0) for comparison.
printfn "  steps  std (eta 1)  std (eta 0)"
for n in [ 5; 10; 25; 50; 100; 1000 ] do
    printfn "  %5d  %11.5f  %11.5f" n (snd (predict n)) (snd (predictWith { config with Eta = 0.0 } n))

// 2. ring8, against exact draws of the same size.
let ring = Targets.ring8
let ringSamples, _ = sampleTarget ring config steps 2000
let metricsKey = Prng.key 1L
let report = Metrics.evaluate metricsKey ring ringSamples
let exact = Metrics.evaluate metricsKey ring (Targets.sample (Prng.key 2L) 2000 ring)
printfn "ring8, %d steps, 2000 samples" steps
printfn "ring8 sw2=%.4f exact-sw2=%.4f modes=%d/%d mean-log-p=%.3f ref-log-p=%.3f"
    report.SlicedWasserstein2 exact.SlicedWasserstein2 report.Coverage.ModesCovered ring.ComponentCount
    report.MeanLogDensity report.ReferenceMeanLogDensity
