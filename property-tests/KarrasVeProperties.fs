module Schedulers.PropertyTests.KarrasVeProperties

open System
open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open Schedulers.Core

/// A valid KarrasVe config: σ_min in [1e-3, 1], σ_max/σ_min in [10, 1e4], churn settings anywhere sensible.
type ValidConfig = ValidConfig of KarrasVeConfig

/// A number of inference steps in [2, 200].
type StepCount = StepCount of int

/// Either flavour.
type AnyFlavour = AnyFlavour of Flavour

type KarrasVeGenerators =
    static member ValidConfig() : Arbitrary<ValidConfig> =
        gen {
            let! minExp = Gen.choose (-300, 0)
            let! ratioExp = Gen.choose (100, 400)
            let! sNoise = Gen.choose (1000, 1011)
            let! sChurn = Gen.choose (0, 100)
            let! sMin = Gen.choose (0, 1000)
            let! sMaxExtra = Gen.choose (0, 10000)
            let sigmaMin = Math.Pow(10.0, float minExp / 100.0)
            let sMin = float sMin / 100.0
            return
                ValidConfig
                    { SigmaMin = sigmaMin
                      SigmaMax = sigmaMin * Math.Pow(10.0, float ratioExp / 100.0)
                      SNoise = float sNoise / 1000.0
                      SChurn = float sChurn
                      SMin = sMin
                      SMax = sMin + float sMaxExtra / 100.0 }
        }
        |> Arb.fromGen

    static member StepCount() : Arbitrary<StepCount> = Gen.choose (2, 200) |> Gen.map StepCount |> Arb.fromGen

    static member AnyFlavour() : Arbitrary<AnyFlavour> =
        Gen.elements [ Flavour.Torch; Flavour.Flax ] |> Gen.map AnyFlavour |> Arb.fromGen

let private ops = NdArrayBackend.Default :> IBackend<NdArray, PrngKey>

let private ready flavour config n = KarrasVe.createState flavour config |> KarrasVe.setTimesteps n

let private sampleOf (SmallShape shape) (key: PrngKey) = NdArray.normal shape key |> NdArray.scale 10.0f

/// A σ from the state's own schedule (the values the loop uses), picked by an arbitrary index.
let private sigmaOf (state: KarrasVeState) (pick: int) =
    let s = state.Schedule.Value
    float s[(abs (pick % s.Length))]

[<Properties(Arbitrary = [| typeof<Generators>; typeof<ShapeGenerators>; typeof<KarrasVeGenerators> |], MaxTest = 100)>]
module Schedule =

    [<Property>]
    let ``schedule is strictly increasing in index order and timesteps descend`` (ValidConfig config) (StepCount n) =
        let state = ready Flavour.Torch config n
        let s = state.Schedule.Value
        s.Length = n
        && Array.pairwise s |> Array.forall (fun (a, b) -> a < b)
        && state.Timesteps.Value = Array.init n (fun k -> n - 1 - k)

    [<Property>]
    let ``schedule ends are sigma_max squared and sigma_min squared`` (ValidConfig config) (StepCount n) =
        let s = (ready Flavour.Flax config n).Schedule.Value
        let close (actual: float32) (expected: float) = abs (float actual - expected) <= 1e-6 * expected
        s[n - 1] = float32 (config.SigmaMax * config.SigmaMax)
        && close s[0] (config.SigmaMin * config.SigmaMin)

    [<Property>]
    let ``both flavours build the same schedule`` (ValidConfig config) (StepCount n) =
        (ready Flavour.Torch config n).Schedule.Value = (ready Flavour.Flax config n).Schedule.Value

[<Properties(Arbitrary = [| typeof<Generators>; typeof<ShapeGenerators>; typeof<KarrasVeGenerators> |], MaxTest = 100)>]
module Churn =

    let private root2m1 = Math.Sqrt 2.0 - 1.0

    [<Property>]
    let ``gamma lies in 0 to sqrt2 - 1 and is 0 outside s_min to s_max`` (AnyFlavour flavour) (ValidConfig config) (StepCount n) (NormalFloat sigma) =
        let state = ready flavour config n
        let sigma = abs sigma
        let g = KarrasVe.gamma state sigma
        // torch compares the float32 σ with float32 bounds; Flax compares Python floats.
        let inside =
            if obj.ReferenceEquals(flavour, Flavour.Torch) then float32 config.SMin <= float32 sigma && float32 sigma <= float32 config.SMax
            else config.SMin <= sigma && sigma <= config.SMax
        g >= 0.0 && g <= root2m1 && g = (if inside then min (config.SChurn / float n) root2m1 else 0.0)

    [<Property>]
    let ``sigma_hat is at least sigma and sample_hat keeps the shape`` (AnyFlavour flavour) (ValidConfig config) (StepCount n) (pick: int) (shape: SmallShape) (key: PrngKey) =
        let state = ready flavour config n
        let sigma = sigmaOf state pick
        let x = sampleOf shape key
        let noised = KarrasVe.addNoiseToInputOn ops state x sigma key
        noised.SigmaHat >= sigma && noised.SampleHat.Shape = x.Shape

    [<Property>]
    let ``the same key gives the same output and the draw is split(key, 1)[0]`` (AnyFlavour flavour) (ValidConfig config) (StepCount n) (pick: int) (shape: SmallShape) (key: PrngKey) =
        let state = ready flavour config n
        let sigma = sigmaOf state pick
        let x = sampleOf shape key
        let a = KarrasVe.addNoiseToInput state x sigma key
        let b = KarrasVe.addNoiseToInput state x sigma key
        let c = KarrasVe.addNoiseToInputOn ops state x sigma (KarrasVe.drawKeyWith ThreefryMode.Partitionable key)
        a = b && a = c

    [<Property>]
    let ``without churn the sample is unchanged and sigma_hat is sigma`` (AnyFlavour flavour) (ValidConfig config) (StepCount n) (shape: SmallShape) (key: PrngKey) =
        // σ above s_max: γ = 0, so x̂ = x + 0·ε exactly, although the noise is still drawn.
        let state = ready flavour config n
        let sigma = config.SMax * 2.0 + 1.0
        let x = sampleOf shape key
        let noised = KarrasVe.addNoiseToInput state x sigma key
        let expectedSigmaHat = if flavour = Flavour.Torch then float (float32 sigma) else sigma
        noised.SampleHat = x && noised.SigmaHat = expectedSigmaHat

    [<Property>]
    let ``the churn noise has scale sqrt(sigma_hat^2 - sigma^2) times s_noise`` (ValidConfig config) (StepCount n) (shape: SmallShape) (key: PrngKey) =
        let state = ready Flavour.Flax config n
        let sigma = (config.SMin + min config.SMax (config.SMin + 1.0)) / 2.0
        let x = NdArray.zeros (let (SmallShape s) = shape in s)
        let noised = KarrasVe.addNoiseToInput state x sigma key
        let z = NdArray.normal x.Shape (KarrasVe.drawKeyWith ThreefryMode.Partitionable key)
        let plan = KarrasVe.churnPlan state sigma
        let expected = z.ToArray() |> Array.map (fun v -> plan.NoiseScale * (plan.SNoise * v))
        noised.SampleHat.ToArray() = expected

[<Properties(Arbitrary = [| typeof<Generators>; typeof<ShapeGenerators>; typeof<KarrasVeGenerators> |], MaxTest = 100)>]
module Stages =

    /// |actual − expected| ≤ 1e-5 · (largest |x̂|), elementwise.
    let private near (scale: float32) (actual: NdArray) (expected: float32[]) =
        Array.forall2 (fun (a: float32) (e: float32) -> abs (float a - float e) <= 1e-5 * float (max scale 1.0f)) (actual.ToArray()) expected

    [<Property>]
    let ``step is exact on a linear denoiser`` (AnyFlavour flavour) (ValidConfig config) (StepCount n) (pick: int) (shape: SmallShape) (key: PrngKey) (c: float32) =
        // model_output = −c·x̂/σ̂ means D(x̂) = (1 − c)·x̂, so x_prev = x̂·(1 + c(σ_prev − σ̂)/σ̂) in closed form.
        let c = if Single.IsFinite c then abs c % 1.0f else 0.5f
        let state = ready flavour config n
        let sigmaHat = max (sigmaOf state pick) 1e-3
        let sigmaPrev = sigmaHat / 3.0
        let xHat = sampleOf shape key
        let model = xHat.ToArray() |> Array.map (fun x -> -c * x / float32 sigmaHat) |> NdArray.create xHat.Shape
        let o = KarrasVe.step state model sigmaHat sigmaPrev xHat
        let scale = xHat.ToArray() |> Array.fold (fun m v -> max m (abs v)) 0.0f
        let factor = 1.0 + float c * (sigmaPrev - sigmaHat) / sigmaHat
        near scale o.PrevSample (xHat.ToArray() |> Array.map (fun x -> float32 (float x * factor)))
        && near scale o.PredOriginalSample (xHat.ToArray() |> Array.map (fun x -> (1.0f - c) * x))
        && near (scale / float32 sigmaHat) o.Derivative (xHat.ToArray() |> Array.map (fun x -> float32 (float c * float x / sigmaHat)))

    [<Property>]
    let ``step_correct returns the first-stage derivative and averages the slopes`` (AnyFlavour flavour) (ValidConfig config) (StepCount n) (shape: SmallShape) (key: PrngKey) =
        let state = ready flavour config n
        let keys = Prng.split 3 key
        let xHat, m1, m2 = sampleOf shape keys[0], sampleOf shape keys[1], sampleOf shape keys[2]
        let sigmaHat, sigmaPrev = 2.0, 0.5
        let first = KarrasVe.step state m1 sigmaHat sigmaPrev xHat
        let corr = KarrasVe.stepCorrect state m2 sigmaHat sigmaPrev xHat first.PrevSample first.Derivative
        // With d' = −m2 (up to rounding): x_prev' = x̂ + (σ_prev − σ̂)·(d − m2)/2.
        let expected = Array.init xHat.Length (fun i -> xHat[i] + float32 (sigmaPrev - sigmaHat) * (0.5f * first.Derivative[i] - 0.5f * m2[i]))
        let scale = Array.concat [ xHat.ToArray(); m1.ToArray(); m2.ToArray() ] |> Array.fold (fun m v -> max m (abs v)) 0.0f
        obj.ReferenceEquals(corr.Derivative, first.Derivative)
        && near scale corr.PrevSample expected
        && corr.PrevSample.Shape = xHat.Shape

    [<Property>]
    let ``no function changes the state or its inputs`` (AnyFlavour flavour) (ValidConfig config) (StepCount n) (pick: int) (shape: SmallShape) (key: PrngKey) =
        let state = ready flavour config n
        let schedule, timesteps = Array.copy state.Schedule.Value, Array.copy state.Timesteps.Value
        let snapshot = { state with Schedule = Some schedule; Timesteps = Some timesteps }
        let x = sampleOf shape key
        let xBefore = x.ToArray()
        let sigma = sigmaOf state pick
        let noised = KarrasVe.addNoiseToInput state x sigma key
        let model = NdArray.scale -0.1f noised.SampleHat
        let o = KarrasVe.step state model (max noised.SigmaHat 1e-3) (sigma / 2.0) noised.SampleHat
        KarrasVe.stepCorrect state model (max noised.SigmaHat 1e-3) (max (sigma / 2.0) 1e-4) noised.SampleHat o.PrevSample o.Derivative |> ignore
        KarrasVe.setTimesteps (n + 1) state |> ignore
        state = snapshot && x.ToArray() = xBefore

[<Properties(Arbitrary = [| typeof<Generators>; typeof<ShapeGenerators>; typeof<KarrasVeGenerators> |], MaxTest = 30)>]
module Loop =

    [<Property>]
    let ``the loop is deterministic per key, keeps the shape and stays finite`` (ValidConfig config) (shape: SmallShape) (key: PrngKey) =
        let state = ready Flavour.Flax config 5
        let x = sampleOf shape key |> NdArray.scale (float32 config.SigmaMax)
        let steps = ref 0
        let model (x: NdArray) (s: float) = NdArray.scale (float32 (-s / (s * s + 1.0))) x
        let hooks = { KarrasStochastic.hooks model with NextNoise = KarrasStochastic.flaxKeyChain; Progress = fun _ -> steps.Value <- steps.Value + 1 }
        let a = KarrasStochastic.run ops hooks state key x
        let b = KarrasStochastic.run ops hooks state key x
        a = b && a.Shape = x.Shape && NdArray.isFinite a && steps.Value = 10
