module Schedulers.PropertyTests.EulerProperties

open System
open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open Schedulers.Core

/// An Euler config over the options that change the numbers, and a step count.
type EulerCase = EulerCase of config: EulerConfig * steps: int

/// Generators: every beta schedule, prediction type, spacing, sigma schedule and final sigma, 1–60 steps.
type EulerGenerators =
    static member EulerCase() : Arbitrary<EulerCase> =
        gen {
            let! schedule = Gen.elements [ BetaSchedule.Linear; BetaSchedule.ScaledLinear; BetaSchedule.SquaredcosCapV2 ]
            let! prediction = Gen.elements [ PredictionType.Epsilon; PredictionType.Sample; PredictionType.VPrediction ]
            let! spacing = Gen.elements [ TimestepSpacing.Leading; TimestepSpacing.Linspace; TimestepSpacing.Trailing ]
            let! sigmas = Gen.choose (0, 3)
            let! final = Gen.elements [ FinalSigmasType.Zero; FinalSigmasType.SigmaMin ]
            let! offset = Gen.choose (0, 1)
            let! steps = Gen.choose (1, 60)
            let config =
                { Euler.defaults with
                    BetaSchedule = schedule
                    PredictionType = prediction
                    TimestepSpacing = spacing
                    UseKarrasSigmas = (sigmas = 1)
                    UseExponentialSigmas = (sigmas = 2)
                    UseBetaSigmas = (sigmas = 3)
                    FinalSigmasType = final
                    StepsOffset = offset }
            return EulerCase(config, steps)
        }
        |> Arb.fromGen

let private shape = [| 2; 3; 4 |]

let private ops = NdArrayBackend.Default :> IBackend<NdArray, PrngKey>

/// Timesteps strictly decreasing within [0, N); sigmas one longer, non-increasing, the last as configured.
[<Property(Arbitrary = [| typeof<EulerGenerators> |], MaxTest = 200)>]
let ``timesteps strictly decrease and sigmas end as configured`` (EulerCase(config, steps)) =
    let state = Euler.create config |> Euler.setTimesteps steps
    let ts = state.Timesteps
    let sg = state.Sigmas
    let last =
        match config.FinalSigmasType with
        | FinalSigmasType.Zero -> 0.0f
        | FinalSigmasType.SigmaMin -> (Euler.trainSigmas state.Common)[0]
    (ts.Length = steps
     && Array.forall (fun t -> t >= 0.0f && t < float32 config.NumTrainTimesteps) ts
     && Array.pairwise ts |> Array.forall (fun (a, b) -> a > b)
     && sg.Length = steps + 1
     && Array.pairwise sg |> Array.forall (fun (a, b) -> a >= b)
     && sg[steps] = last)
    |> Prop.label (sprintf "timesteps %A sigmas %A" ts sg)

/// With the model that knows the noise (x = add_noise(x0, ε, t) = x0 + σε; the model returns the ε, x0 or v of that
/// x0 and ε), the first step predicts x0 up to float32 rounding of σ-sized values.
[<Property(Arbitrary = [| typeof<EulerGenerators>; typeof<Generators> |], MaxTest = 100)>]
let ``a perfect model's first step predicts the clean sample`` (EulerCase(config, steps)) (key: PrngKey) =
    let state = Euler.create config |> Euler.setTimesteps steps
    let keys = Prng.split 2 key
    let x0 = NdArray.normal shape keys[0] |> NdArray.scale 0.5f
    let eps = NdArray.normal shape keys[1]
    let t = state.Timesteps[0]
    let xt = Euler.addNoiseOn ops state x0 eps [| t; t |]
    let sigma = state.Sigmas[0]
    let output =
        match config.PredictionType with
        | PredictionType.Sample -> x0
        | PredictionType.VPrediction ->
            // v = √ᾱ·ε − √(1 − ᾱ)·x0 with √ᾱ = 1/√(σ² + 1), √(1 − ᾱ) = σ/√(σ² + 1).
            let d = sqrt (float sigma * float sigma + 1.0)
            Backend.lin ops [ float32 (1.0 / d), eps; float32 (-float sigma / d), x0 ]
        | _ -> eps
    let struct (r, _) = Euler.stepOn ops state output t xt Euler.noChurn ValueNone
    let err = Array.map2 (fun (a: float32) (b: float32) -> abs (float a - float b)) (r.PredOriginalSample.ToArray()) (x0.ToArray()) |> Array.max
    (err <= 2e-6 * (1.0 + float sigma) * 4.0) |> Prop.label (sprintf "max |x0 error| %g at sigma %g" err sigma)

/// The same inputs and noise give the same bits; the state and the inputs are not written, and the returned
/// state has the step index advanced.
[<Property(Arbitrary = [| typeof<EulerGenerators>; typeof<Generators> |], MaxTest = 100)>]
let ``a step is a pure function of its inputs`` (EulerCase(config, steps)) (key: PrngKey) =
    let state = Euler.create config |> Euler.setTimesteps steps
    let before = Array.copy state.Common.AlphasCumprod, Array.copy state.Timesteps, Array.copy state.Sigmas
    let x = NdArray.normal shape key
    let m = NdArray.normal shape (Prng.foldIn 1u key)
    let copy = x.ToArray(), m.ToArray()
    let draw () = NdArray.normal shape (Prng.foldIn 2u key)
    let churn = { Euler.noChurn with SChurn = 1.0 }
    let t = state.Timesteps[0]
    let struct (a, sa) = Euler.stepOn ops state m t x churn (ValueSome draw)
    let struct (b, sb) = Euler.stepOn ops state m t x churn (ValueSome draw)
    a.PrevSample = b.PrevSample && a.PredOriginalSample = b.PredOriginalSample
    && sa = sb && sa.StepIndex = Some 1 && state.StepIndex = None
    && (x.ToArray(), m.ToArray()) = copy
    && (state.Common.AlphasCumprod, state.Timesteps, state.Sigmas) = before

/// With churn a step that draws its noise from a key inside its pass (`StepNoise.Source`) gives the bits of the step
/// given that key's normal as a tensor, at a shape the pass splits into tiles with a ragged end.
[<Property(Arbitrary = [| typeof<EulerGenerators>; typeof<Generators> |], MaxTest = 60)>]
let ``churn noise drawn inside the pass equals the same noise given`` (EulerCase(config, steps)) (key: PrngKey) =
    let state = Euler.create config |> Euler.setTimesteps steps
    let big = [| 2; 3; 701 |]
    let x = NdArray.normal big key
    let m = NdArray.normal big (Prng.foldIn 1u key)
    let z = Prng.foldIn 2u key
    let churn = { Euler.noChurn with SChurn = 3.0; SNoise = 1.007 }
    let t = state.Timesteps[0]
    let struct (given, _) = Euler.stepOn ops state m t x churn (ValueSome(fun () -> NdArray.normal big z))
    let struct (drawn, _) = Euler.stepWith ops state m t x churn (ValueSome(StepNoise.Source(fun () -> z)))
    let struct (without, _) = Euler.stepOn ops state m t x Euler.noChurn ValueNone
    given.PrevSample = drawn.PrevSample && given.PredOriginalSample = drawn.PredOriginalSample
    && given.PrevSample <> without.PrevSample

/// The Flax class (linspace or leading spacing, epsilon or v-prediction) agrees with the torch class to float32
/// rounding: leading timesteps are the torch ones with steps_offset 1, linspace ones within an ulp (jnp's float32
/// linspace), sigmas and the first step within the float32 rounding of jnp's cumprod (5e-5 of the largest value).
/// One step with "linspace" differs by design: torch's `linspace(0, N − 1, 1)` is [0], Flax's `linspace(N − 1, 0, 1)`
/// is [N − 1] (docs/schedulers/euler.md).
[<Property(Arbitrary = [| typeof<EulerGenerators>; typeof<Generators> |], MaxTest = 100)>]
let ``the Flax class agrees with the torch class within rounding`` (EulerCase(config, steps)) (key: PrngKey) (leading: bool) =
    let config =
        { Euler.defaults with
            BetaSchedule = config.BetaSchedule
            PredictionType = (if config.PredictionType = PredictionType.VPrediction then PredictionType.VPrediction else PredictionType.Epsilon)
            TimestepSpacing = (if leading then TimestepSpacing.Leading else TimestepSpacing.Linspace)
            StepsOffset = (if leading then 1 else 0) }
    let steps = if leading then steps else max 2 steps
    let torch = Euler.create config |> Euler.setTimesteps steps
    let flax = EulerFlax.create config |> EulerFlax.setTimesteps steps
    let x = NdArray.normal shape key
    let m = NdArray.normal shape (Prng.foldIn 1u key)
    let struct (a, _) = Euler.stepOn ops torch m torch.Timesteps[0] x Euler.noChurn ValueNone
    let b = EulerFlax.stepOn ops flax m flax.Timesteps[0] x
    let close (p: float32[]) (q: float32[]) =
        let scale = p |> Array.map (fun v -> abs (float v)) |> Array.max |> max 1.0
        Array.map2 (fun (u: float32) (v: float32) -> abs (float u - float v)) p q |> Array.max <= 5e-5 * scale
    let timesteps =
        if leading then torch.Timesteps = flax.Timesteps
        else Array.forall2 (fun (u: float32) (v: float32) -> abs (u - v) <= 1e-3f) torch.Timesteps flax.Timesteps
    let sigmas = Array.forall2 (fun (u: float32) (v: float32) -> abs (u - v) <= 5e-5f * max 1.0f (abs u)) torch.Sigmas flax.Sigmas
    (timesteps && sigmas
     && abs (EulerFlax.initNoiseSigma flax - Euler.initNoiseSigma torch) <= 5e-5f * Euler.initNoiseSigma torch
     && close (a.PrevSample.ToArray()) (b.PrevSample.ToArray())
     && close (a.PredOriginalSample.ToArray()) (b.PredOriginalSample.ToArray()))
    |> Prop.label (sprintf "torch %A / %A, flax %A / %A" torch.Timesteps torch.Sigmas flax.Timesteps flax.Sigmas)

/// The relative error of the deterministic Euler loop (linspace spacing, final sigma 0) against the exact
/// probability-flow solution on a Gaussian target N(0, s²I) with the exact ε-prediction model: dx/dσ = (x − D(x))/σ
/// with D(x) = s²/(s² + σ²)·x, whose solution is x(σ) ∝ √(s² + σ²), so the final sample is x_T·s/√(s² + σ_T²).
let eulerGaussianError (s: float) (steps: int) : float =
    let state = Euler.create Euler.defaults |> Euler.setTimesteps steps
    let xT = NdArray.normal [| 64; 8 |] (Prng.key 7L)
    let s2 = s * s
    let mutable state = state
    let mutable x = xT
    for i in 0 .. steps - 1 do
        let sigma = float state.Sigmas[i]
        let t = state.Timesteps[i]
        let struct (scaled, st) = Euler.scaleModelInputOn ops state x t
        // ε̂ = (x − D(x))/σ = σ/(s² + σ²)·x, written on the scaled input x/√(σ² + 1).
        let eps = NdArray.scale (float32 (sigma / (s2 + sigma * sigma) * sqrt (sigma * sigma + 1.0))) scaled
        let struct (r, st) = Euler.stepOn ops st eps t x Euler.noChurn ValueNone
        state <- st
        x <- r.PrevSample
    let sigmaT = float state.Sigmas[0]
    let factor = s / sqrt (s2 + sigmaT * sigmaT)
    let exact = xT.ToArray() |> Array.map (fun v -> float v * factor)
    let num = Array.map2 (fun (a: float32) e -> (float a - e) ** 2.0) (x.ToArray()) exact |> Array.sum
    sqrt (num / (exact |> Array.sumBy (fun e -> e * e)))

/// Euler converges at first order: doubling the steps halves the error (measured orders in docs/schedulers/euler.md).
[<Xunit.Fact>]
let ``deterministic Euler converges at first order on a Gaussian target`` () =
    let errors = [ 25; 50; 100; 200 ] |> List.map (eulerGaussianError 0.5)
    let orders = errors |> List.pairwise |> List.map (fun (a, b) -> log (a / b) / log 2.0)
    Xunit.Assert.True(orders |> List.forall (fun o -> o > 0.8 && o < 1.3), sprintf "errors %A, orders %A" errors orders)
