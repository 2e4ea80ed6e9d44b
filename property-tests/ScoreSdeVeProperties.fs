module Schedulers.PropertyTests.ScoreSdeVeProperties

open System
open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open Schedulers.Core

/// A valid configuration with σ_max/σ_min ≥ 10, so consecutive float32 levels stay distinct for ≤ 200 steps.
type SdeVeCase =
    { Config: ScoreSdeVeConfig
      Steps: int
      Flavour: Flavour }

/// Generators of configurations, step counts and flavours.
type SdeVeGenerators =
    /// Configs across several decades of σ, eps in [1e-6, 1e-2], 2–300 training steps; 2–200 inference steps.
    static member SdeVeCase() : Arbitrary<SdeVeCase> =
        gen {
            let! logMin = Gen.choose (-400, 0) |> Gen.map (fun v -> float v / 100.0)
            let! decades = Gen.choose (100, 500) |> Gen.map (fun v -> float v / 100.0)
            let! logEps = Gen.choose (-600, -200) |> Gen.map (fun v -> float v / 100.0)
            let! snr = Gen.choose (1, 100) |> Gen.map (fun v -> float v / 100.0)
            let! train = Gen.choose (2, 300)
            let! steps = Gen.choose (2, 200)
            let! flavour = Gen.elements [ Flavour.Torch; Flavour.Flax ]
            let sigmaMin = 10.0 ** logMin
            return
                { Config =
                    { NumTrainTimesteps = train
                      Snr = snr
                      SigmaMin = sigmaMin
                      SigmaMax = sigmaMin * 10.0 ** decades
                      SamplingEps = 10.0 ** logEps
                      CorrectSteps = 1 }
                  Steps = steps
                  Flavour = flavour }
        }
        |> Arb.fromGen

/// The pipeline's schedule (set_timesteps(n), then set_sigmas(n)) of a case.
let private schedule (c: SdeVeCase) =
    ScoreSdeVe.createStateWith c.Flavour c.Config
    |> ScoreSdeVe.setTimestepsWith c.Config c.Steps None
    |> ScoreSdeVe.setSigmasWith c.Config c.Steps None None None

let private strictly (cmp: float32 -> float32 -> bool) (xs: float32[]) = xs |> Array.pairwise |> Array.forall (fun (a, b) -> cmp a b)

let private near (relative: float) (expected: float) (actual: float32) = abs (float actual - expected) <= relative * abs expected

let private sampleOf (SmallShape shape) (key: PrngKey) = NdArray.normal shape key

let private deepCopy (s: ScoreSdeVeState) =
    { Flavour = s.Flavour
      Timesteps = s.Timesteps |> Option.map Array.copy
      DiscreteSigmas = s.DiscreteSigmas |> Option.map Array.copy
      Sigmas = s.Sigmas |> Option.map Array.copy }

[<Properties(Arbitrary = [| typeof<Generators>; typeof<SdeVeGenerators>; typeof<ShapeGenerators> |], MaxTest = 60)>]
module Schedule =

    [<Property>]
    let ``discrete sigmas strictly increase, sigmas and timesteps strictly decrease`` (c: SdeVeCase) =
        let s = schedule c
        strictly (<) s.DiscreteSigmas.Value && strictly (>) s.Sigmas.Value && strictly (>) s.Timesteps.Value
        && s.DiscreteSigmas.Value.Length = c.Steps && s.Sigmas.Value.Length = c.Steps

    [<Property>]
    let ``discrete sigmas run from sigma_min to sigma_max and sigmas from sigma_max to sigma_min·ratio^eps`` (c: SdeVeCase) =
        let s = schedule c
        let ds, sg = s.DiscreteSigmas.Value, s.Sigmas.Value
        let ratio = c.Config.SigmaMax / c.Config.SigmaMin
        // A few float32 ulps: the logs, the exp and the power each round once.
        near 2e-6 c.Config.SigmaMin ds[0] && near 2e-6 c.Config.SigmaMax ds[ds.Length - 1]
        && near 2e-6 c.Config.SigmaMax sg[0]
        && near 2e-6 (c.Config.SigmaMin * ratio ** float (float32 c.Config.SamplingEps)) sg[sg.Length - 1]
        && s.Timesteps.Value[0] = 1.0f && s.Timesteps.Value[c.Steps - 1] = float32 c.Config.SamplingEps

    [<Property>]
    let ``the adjacent sigma is 0 exactly at index 0 and the previous discrete sigma elsewhere`` (c: SdeVeCase) =
        let s = schedule c
        let ds = s.DiscreteSigmas.Value
        let adjacent = ScoreSdeVe.getAdjacentSigma s (Array.init ds.Length id)
        adjacent[0] = 0.0f
        && Array.forall (fun i -> adjacent[i] = ds[i - 1] && adjacent[i] <> 0.0f) [| 1 .. ds.Length - 1 |]

    [<Property>]
    let ``set_sigmas reuses existing timesteps whatever their length`` (c: SdeVeCase) =
        let s =
            ScoreSdeVe.createStateWith c.Flavour c.Config
            |> ScoreSdeVe.setSigmasWith c.Config c.Steps None None None
        s.Sigmas.Value.Length = c.Config.NumTrainTimesteps && s.DiscreteSigmas.Value.Length = c.Steps

[<Properties(Arbitrary = [| typeof<Generators>; typeof<SdeVeGenerators>; typeof<ShapeGenerators> |], MaxTest = 60)>]
module Steps =

    let private stepBoth (c: SdeVeCase) (s: ScoreSdeVeState) (i: int) (x: NdArray) (key: PrngKey) =
        let t = s.Timesteps.Value[i % c.Steps]
        let score = NdArray.scale -0.5f x
        let pred = ScoreSdeVe.stepPredOn NdArrayBackend.Default s score t x (ScoreSdeVe.flaxNoiseKey key)
        let corr = ScoreSdeVe.stepCorrectOn NdArrayBackend.Default c.Config s score x (ScoreSdeVe.flaxNoiseKey key)
        pred, corr

    [<Property>]
    let ``the same key gives the same output and different keys different noise`` (c: SdeVeCase) (shape: SmallShape) (key: PrngKey) (other: PrngKey) (NonNegativeInt i) =
        key <> other ==> lazy
            (let s = schedule c
             let x = sampleOf shape (Prng.foldIn 1u key)
             let p1, c1 = stepBoth c s i x key
             let p2, c2 = stepBoth c s i x key
             let p3, c3 = stepBoth c s i x other
             p1.PrevSample = p2.PrevSample && p1.PrevSampleMean = p2.PrevSampleMean && c1.PrevSample = c2.PrevSample
             && p1.PrevSample <> p3.PrevSample && p1.PrevSampleMean = p3.PrevSampleMean && c1.PrevSample <> c3.PrevSample)

    [<Property>]
    let ``outputs have the shape of the sample`` (c: SdeVeCase) (shape: SmallShape) (key: PrngKey) (NonNegativeInt i) =
        let s = schedule c
        let x = sampleOf shape key
        let pred, corr = stepBoth c s i x key
        let (SmallShape dims) = shape
        pred.PrevSample.Shape = dims && pred.PrevSampleMean.Value.Shape = dims && corr.PrevSample.Shape = dims
        && corr.PrevSampleMean.IsNone

    [<Property>]
    let ``with the adjacent sigma equal to sigma there is no diffusion and the update is deterministic`` (c: SdeVeCase) (shape: SmallShape) (key: PrngKey) (other: PrngKey) =
        // Equal neighbouring levels make g = sqrt(σ² − σ_adj²) = 0: prev_sample = prev_sample_mean = x, whatever the key.
        let s = schedule c
        let flat = { s with DiscreteSigmas = Some(Array.create c.Steps s.DiscreteSigmas.Value[c.Steps / 2]) }
        let x = sampleOf shape key
        let score = NdArray.scale 0.25f x
        let t = flat.Timesteps.Value[0] // index n − 1 > 0
        let a = ScoreSdeVe.stepPredOn NdArrayBackend.Default flat score t x (ScoreSdeVe.flaxNoiseKey key)
        let b = ScoreSdeVe.stepPredOn NdArrayBackend.Default flat score t x (ScoreSdeVe.flaxNoiseKey other)
        (ScoreSdeVe.predictorPlan flat t).Diffusion = 0.0f
        && a.PrevSample = b.PrevSample && a.PrevSample = a.PrevSampleMean.Value && a.PrevSample = x

    [<Property>]
    let ``no function changes the state it is given`` (c: SdeVeCase) (shape: SmallShape) (key: PrngKey) (NonNegativeInt i) =
        let s = schedule c
        let before = deepCopy s
        let x = sampleOf shape key
        stepBoth c s i x key |> ignore
        ScoreSdeVe.getAdjacentSigma s [| 0; c.Steps - 1 |] |> ignore
        ScoreSdeVe.setTimestepsWith c.Config 7 None s |> ignore
        ScoreSdeVe.setSigmasWith c.Config 5 None None None s |> ignore
        ScoreSdeVe.addNoise s x x (Array.create x.BatchSize (i % c.Steps)) |> ignore
        s = before

[<Properties(Arbitrary = [| typeof<Generators>; typeof<SdeVeGenerators> |], MaxTest = 20)>]
module Loop =

    [<Property>]
    let ``the predictor-corrector loop is a pure function of its key`` (c: SdeVeCase) (key: PrngKey) =
        let n = 1 + c.Steps % 6
        let model (x: NdArray) (sigma: NdArray) = NdArray.scale (-1.0f / (sigma[0] * sigma[0] + 1.0f)) x
        let steps = ResizeArray()
        let a = PredictorCorrector.run c.Config model [| 2; 3; 2; 2 |] n steps.Add key
        let b = PredictorCorrector.run c.Config model [| 2; 3; 2; 2 |] n ignore key
        a.Sample = b.Sample && steps.Count = n && steps[n - 1].Output.PrevSampleMean = Some a.Sample
        && a.State.Sigmas.Value.Length = n
