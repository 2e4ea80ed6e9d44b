module Schedulers.PropertyTests.LmsProperties

open System
open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open Schedulers.Core

/// An LMS config over the options that change the numbers, and a step count.
type LmsCase = LmsCase of config: LmsConfig * steps: int

/// Generators: every beta schedule, prediction type, spacing and sigma option, 1–60 steps.
type LmsGenerators =
    static member LmsCase() : Arbitrary<LmsCase> =
        gen {
            let! schedule = Gen.elements [ BetaSchedule.Linear; BetaSchedule.ScaledLinear; BetaSchedule.SquaredcosCapV2 ]
            let! prediction = Gen.elements [ PredictionType.Epsilon; PredictionType.Sample; PredictionType.VPrediction ]
            let! spacing = Gen.elements [ TimestepSpacing.Leading; TimestepSpacing.Linspace; TimestepSpacing.Trailing ]
            let! sigmas = Gen.choose (0, 3)
            let! offset = Gen.choose (0, 1)
            let! steps = Gen.choose (1, 60)
            let config =
                { Lms.defaults with
                    BetaSchedule = schedule
                    PredictionType = prediction
                    TimestepSpacing = spacing
                    StepsOffset = offset
                    UseKarrasSigmas = (sigmas = 1)
                    UseExponentialSigmas = (sigmas = 2)
                    UseBetaSigmas = (sigmas = 3) }
            return LmsCase(config, steps)
        }
        |> Arb.fromGen

let private shape = [| 2; 3; 4 |]

let private ops = NdArrayBackend.Default :> IBackend<NdArray, PrngKey>

/// Timesteps decrease within [0, N] (strictly for the plain spacings); sigmas do not increase and end with 0.
[<Property(Arbitrary = [| typeof<LmsGenerators> |], MaxTest = 200)>]
let ``timesteps decrease within the training range and sigmas end at zero`` (LmsCase(config, steps)) =
    let state = Lms.create<NdArray> config |> Lms.setTimesteps steps
    let ts = state.Timesteps
    let sg = state.Sigmas
    let plain = not (config.UseKarrasSigmas || config.UseExponentialSigmas || config.UseBetaSigmas)
    (ts.Length = steps
     && sg.Length = steps + 1
     && sg[steps] = 0.0f
     && Array.forall (fun t -> t >= 0.0f && t <= float32 config.NumTrainTimesteps) ts
     && Array.pairwise ts |> Array.forall (fun (a, b) -> if plain then a > b else a >= b)
     && Array.pairwise sg |> Array.forall (fun (a, b) -> a >= b))
    |> Prop.label (sprintf "timesteps %A sigmas %A" ts sg)

/// The Lagrange basis sums to 1, so the coefficients of every order sum to σ_{i+1} − σ_i (the order-1 coefficient
/// is exactly that step), up to the quadrature's tolerance.
[<Property(Arbitrary = [| typeof<LmsGenerators> |], MaxTest = 100)>]
let ``the coefficients of every order sum to the step in sigma`` (LmsCase(config, steps)) (order: PositiveInt) =
    let state = Lms.create<NdArray> config |> Lms.setTimesteps steps
    let i = steps - 1
    let order = min (1 + order.Get % 4) (i + 1)
    let h = float state.Sigmas[i + 1] - float state.Sigmas[i]
    let sum = Lms.coefficients state.Sigmas order i |> Array.sum
    (abs (sum - h) <= 1e-4 * abs h + 1e-6) |> Prop.label (sprintf "sum %g, step %g, order %d" sum h order)

/// With the model that knows the noise (x = add_noise(x0, ε) at the first timestep; the model returns ε, x0 or the
/// v of that x0 and ε), the first step predicts x0 up to float32 rounding magnified by σ.
[<Property(Arbitrary = [| typeof<LmsGenerators>; typeof<Generators> |], MaxTest = 100)>]
let ``a perfect model's first step predicts the clean sample`` (LmsCase(config, steps)) (key: PrngKey) =
    let state = Lms.create<NdArray> config |> Lms.setTimesteps steps
    let keys = Prng.split 2 key
    let x0 = NdArray.normal shape keys[0] |> NdArray.scale 0.5f
    let eps = NdArray.normal shape keys[1]
    let t = state.Timesteps[0]
    let xt = Lms.addNoiseOn ops state x0 eps [| t; t |]
    let sigma = state.Sigmas[0]
    let output =
        match config.PredictionType with
        | PredictionType.Sample -> x0
        | PredictionType.VPrediction ->
            // v = α·ε − σ_vp·x0 of the VP sample x/√(σ² + 1) (α = 1/√(σ² + 1), σ_vp = σ·α).
            let a = 1.0f / MathF.Sqrt(sigma * sigma + 1.0f)
            Backend.lin ops [ a, eps; -(sigma * a), x0 ]
        | _ -> eps
    let r = Lms.stepOn ops state output t xt 4
    let err = Array.map2 (fun (a: float32) (b: float32) -> abs (float a - float b)) (r.PredOriginalSample.ToArray()) (x0.ToArray()) |> Array.max
    (err <= 1e-5 * (1.0 + 4.0 * float sigma)) |> Prop.label (sprintf "max |x0 error| %g at sigma %g" err sigma)

/// The same inputs give the same bits; the state and the inputs are not written; the history grows to `order`.
[<Property(Arbitrary = [| typeof<LmsGenerators>; typeof<Generators> |], MaxTest = 100)>]
let ``a step is a pure function of its inputs`` (LmsCase(config, steps)) (key: PrngKey) =
    let state = Lms.create<NdArray> config |> Lms.setTimesteps steps
    let before = Array.copy state.Sigmas, Array.copy state.Timesteps
    let x = NdArray.normal shape key
    let m = NdArray.normal shape (Prng.foldIn 1u key)
    let copy = x.ToArray(), m.ToArray()
    let t = state.Timesteps[0]
    let a = Lms.stepOn ops state m t x 4
    let b = Lms.stepOn ops state m t x 4
    a.PrevSample = b.PrevSample && a.PredOriginalSample = b.PredOriginalSample
    && (x.ToArray(), m.ToArray()) = copy
    && (state.Sigmas, state.Timesteps) = before
    && state.Derivatives.Length = 0 && state.StepIndex.IsNone
    && a.State.Derivatives.Length = 1 && a.State.StepIndex = Some 1

/// The relative error of LMS of the given order against the exact probability-flow solution on a Gaussian target
/// N(0, s²I) with the exact ε model: dx/dσ = ε̂ = σ·x/(s² + σ²), so x(σ) ∝ √(s² + σ²) and the final sample is
/// x_T·s/√(s² + σ_T²). Karras sigmas (a smooth grid in σ), every step one model evaluation.
let lmsGaussianError (order: int) (s: float) (steps: int) : float =
    let config = { Lms.defaults with BetaSchedule = BetaSchedule.ScaledLinear; BetaStart = 0.00085; BetaEnd = 0.012; UseKarrasSigmas = true }
    let state = Lms.create<NdArray> config |> Lms.setTimesteps steps
    let xT = NdArray.normal [| 64; 8 |] (Prng.key 7L) |> NdArray.scale (float32 (sqrt (s * s + float state.Sigmas[0] ** 2.0)))
    let mutable x = xT
    let mutable st = state
    for i in 0 .. steps - 1 do
        let sigma = float st.Sigmas[i]
        let eps = NdArray.scale (float32 (sigma / (s * s + sigma * sigma))) x
        let r = Lms.stepOn ops st eps st.Timesteps[i] x order
        x <- r.PrevSample
        st <- r.State
    let factor = s / sqrt (s * s + float state.Sigmas[0] ** 2.0)
    let exact = xT.ToArray() |> Array.map (fun v -> float v * factor)
    let num = Array.map2 (fun (a: float32) e -> (float a - e) ** 2.0) (x.ToArray()) exact |> Array.sum
    sqrt (num / (exact |> Array.sumBy (fun e -> e * e)))

/// LMS converges at its order: from 20 to 40 to 80 Karras steps the error falls by about 2^order (measured in
/// docs/schedulers/lms.md; at order 4 float32 rounding takes over beyond about 100 steps).
[<Xunit.Fact>]
let ``LMS converges at its order on a Gaussian target`` () =
    for order in 1 .. 4 do
        let errors = [ 20; 40; 80 ] |> List.map (lmsGaussianError order 0.5)
        let orders = errors |> List.pairwise |> List.map (fun (a, b) -> log (a / b) / log 2.0)
        Xunit.Assert.True(
            orders |> List.forall (fun o -> o > float order - 0.5 && o < float order + 0.6),
            sprintf "order %d: errors %A, measured orders %A" order errors orders
        )
