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

/// The Flax class's schedule for every step count 1–N of a 1000-step training schedule: int32 timesteps decreasing
/// from N − 1 to 0 — strictly below n = N; at n = N XLA's float32 linspace gives 1.999999, 0.999999, 0 at the end,
/// which truncate to 1, 0, 0 — and sigmas strictly decreasing from the largest training sigma to the final 0.
[<Xunit.Fact>]
let ``the Flax schedule has distinct decreasing timesteps for every step count`` () =
    let state = LmsFlax.create Lms.defaults
    let N = Lms.defaults.NumTrainTimesteps
    for n in 1..N do
        let s = LmsFlax.setTimesteps n state
        let ts = s.Timesteps
        let sg = s.Lms.Sigmas
        Xunit.Assert.True(ts.Length = n && ts[0] = int64 (N - 1) && (n = 1 || ts[n - 1] = 0L), sprintf "n = %d: ends %A" n ts)
        Xunit.Assert.True(Array.pairwise ts |> Array.forall (fun (a, b) -> a > b || n = N && a = b), sprintf "n = %d: timesteps repeat" n)
        Xunit.Assert.True(sg.Length = n + 1 && sg[n] = 0.0f && sg[0] = LmsFlax.initNoiseSigma s, sprintf "n = %d: sigma ends" n)
        Xunit.Assert.True(Array.pairwise sg |> Array.forall (fun (a, b) -> a > b), sprintf "n = %d: sigmas do not decrease" n)

/// A model of the scaled input only, for runs whose timesteps differ in kind (the Flax class's are integers).
let private lmsTestModel (x: NdArray) = x |> NdArray.map (fun v -> 0.8f * tanh v)

/// The Flax class against the torch class over whole runs of 2–60 steps (linspace spacing, order 4, both prediction
/// types of the Flax class; at one step the classes differ: torch's linspace(0, N − 1, 1) is [0], the Flax class's
/// linspace(N − 1, 0, 1) is [N − 1]): the torch class's sigmas are numpy's float64 interpolation rounded to float32, the Flax
/// class's a float32 (1 − f)·σ₀ + f·σ₁, its tables XLA's, its divisions by a scalar a multiplication by the
/// reciprocal; the samples agree within 1e-5 of the largest value of the run, the start included (with
/// squaredcos_cap_v2, σ_max ≈ 1e4: the first step cancels x against the multistep sum, leaving an ulp of the start
/// in both).
[<Property(Arbitrary = [| typeof<LmsGenerators> |], MaxTest = 60)>]
let ``the Flax class agrees with the torch class within float32 rounding`` (LmsCase(config, steps)) (key: PrngKey) =
    let config =
        { config with
            TimestepSpacing = TimestepSpacing.Linspace
            UseKarrasSigmas = false
            UseExponentialSigmas = false
            UseBetaSigmas = false
            PredictionType = (if config.PredictionType = PredictionType.VPrediction then PredictionType.VPrediction else PredictionType.Epsilon) }
    let steps = max steps 2
    let flax0 = LmsFlax.create config |> LmsFlax.setTimesteps steps
    let torch0 = Lms.create<NdArray> config |> Lms.setTimesteps steps
    let x = NdArray.normal shape key |> NdArray.scale (LmsFlax.initNoiseSigma flax0)
    let _, _, _, _, worst, scale =
        Seq.fold
            (fun (flax: LmsFlaxState, torch: LmsState<NdArray>, xf, xt, worst, scale) i ->
                let tf = flax.Timesteps[i]
                let tt = torch.Timesteps[i]
                let struct (flax', rf) = LmsFlax.step flax (lmsTestModel (LmsFlax.scaleModelInput flax xf tf)) tf xf 4
                let struct (torch, scaled) = Lms.scaleModelInputOn ops torch xt tt
                let rt = Lms.stepOn ops torch (lmsTestModel scaled) tt xt 4
                let a, b = rf.PrevSample.ToArray(), rt.PrevSample.ToArray()
                let d = Array.map2 (fun (p: float32) (q: float32) -> abs (float p - float q)) a b |> Array.max
                let m = b |> Array.fold (fun m v -> max m (abs (float v))) scale
                flax', rt.State, rf.PrevSample, rt.PrevSample, max worst d, m)
            (flax0, torch0, x, x, 0.0, x.ToArray() |> Array.fold (fun m v -> max m (abs (float v))) 1.0)
            (seq { 0 .. steps - 1 })
    (worst <= 1e-5 * scale) |> Prop.label (sprintf "steps %d: worst %g (scale %g)" steps worst scale)

/// The Flax class refuses what it does not have, naming the key, and a timestep its schedule does not hold.
[<Xunit.Fact>]
let ``the Flax class refuses options it lacks`` () =
    for config, key in
        [ { Lms.defaults with PredictionType = PredictionType.Sample }, "prediction_type"
          { Lms.defaults with TimestepSpacing = TimestepSpacing.Leading }, "timestep_spacing"
          { Lms.defaults with UseKarrasSigmas = true }, "use_karras_sigmas"
          { Lms.defaults with UseBetaSigmas = true }, "use_beta_sigmas" ] do
        let e = Xunit.Assert.Throws<ArgumentException>(fun () -> LmsFlax.create config |> ignore)
        Xunit.Assert.Equal(key, e.ParamName)
    let state = LmsFlax.create Lms.defaults |> LmsFlax.setTimesteps 10
    let x = NdArray.zeros shape
    let e = Xunit.Assert.Throws<ArgumentException>(fun () -> LmsFlax.step state x 998L x 4 |> ignore)
    Xunit.Assert.Equal("timestep", e.ParamName)
    Xunit.Assert.Throws<InvalidOperationException>(fun () -> LmsFlax.step (LmsFlax.create Lms.defaults) x 999L x 4 |> ignore) |> ignore

/// At n = N the truncated timesteps end 1, 0, 0; the step index takes each sigma once, so the run still ends on
/// the final sigma 0 with finite samples.
[<Xunit.Fact>]
let ``the Flax class runs the repeated timestep of n = N once per position`` () =
    let state = LmsFlax.create Lms.defaults |> LmsFlax.setTimesteps Lms.defaults.NumTrainTimesteps
    let x0 = NdArray.normal shape (Prng.key 3L) |> NdArray.scale (LmsFlax.initNoiseSigma state)
    let final, x =
        state.Timesteps
        |> Array.fold
            (fun (s, x) t ->
                let struct (s', r) = LmsFlax.step s (lmsTestModel (LmsFlax.scaleModelInput s x t)) t x 4
                s', r.PrevSample)
            (state, x0)
    Xunit.Assert.Equal(Some state.Timesteps.Length, final.Lms.StepIndex)
    Xunit.Assert.True(x.ToArray() |> Array.forall Single.IsFinite)
