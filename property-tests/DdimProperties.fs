module Schedulers.PropertyTests.DdimProperties

open System
open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open Schedulers.Core

/// A DDIM config over the options that change the numbers, and a step count.
type DdimCase = DdimCase of config: DdimConfig * steps: int

/// Generators: every beta schedule, prediction type and spacing, with or without clipping, 1–60 steps.
type DdimGenerators =
    static member DdimCase() : Arbitrary<DdimCase> =
        gen {
            let! schedule = Gen.elements [ BetaSchedule.Linear; BetaSchedule.ScaledLinear; BetaSchedule.SquaredcosCapV2 ]
            let! prediction = Gen.elements [ PredictionType.Epsilon; PredictionType.Sample; PredictionType.VPrediction ]
            let! spacing = Gen.elements [ TimestepSpacing.Leading; TimestepSpacing.Linspace; TimestepSpacing.Trailing ]
            let! clip = Gen.elements [ true; false ]
            let! offset = Gen.choose (0, 1)
            let! steps = Gen.choose (1, 60)
            let config =
                { Ddim.defaults with
                    BetaSchedule = schedule
                    PredictionType = prediction
                    TimestepSpacing = spacing
                    ClipSample = clip
                    StepsOffset = offset }
            return DdimCase(config, steps)
        }
        |> Arb.fromGen

let private shape = [| 2; 3; 4 |]

/// Timesteps strictly decreasing and within [0, N) for every spacing (leading with steps_offset 0 or 1).
[<Property(Arbitrary = [| typeof<DdimGenerators> |], MaxTest = 200)>]
let ``timesteps strictly decrease within the training range`` (DdimCase(config, steps)) =
    let state = Ddim.create config |> Ddim.setTimesteps steps
    let ts = state.Timesteps
    ts.Length = steps
    && Array.forall (fun t -> t >= 0L && t < int64 config.NumTrainTimesteps) ts
    && Array.pairwise ts |> Array.forall (fun (a, b) -> a > b)

/// With the model that knows the noise (x_t = add_noise(x0, ε, t); the model returns the ε, x0 or v of that
/// x0 and ε), one deterministic step from the first timestep predicts x0 exactly up to float32 rounding.
[<Property(Arbitrary = [| typeof<DdimGenerators>; typeof<Generators> |], MaxTest = 100)>]
let ``a perfect model's first step predicts the clean sample`` (DdimCase(config, steps)) (key: PrngKey) =
    let config = { config with ClipSample = false }
    let state = Ddim.create config |> Ddim.setTimesteps steps
    let keys = Prng.split 2 key
    let x0 = NdArray.normal shape keys[0] |> NdArray.scale 0.5f
    let eps = NdArray.normal shape keys[1]
    let t = state.Timesteps[0]
    let ops = NdArrayBackend.Default :> IBackend<NdArray, PrngKey>
    let xt = Ddim.addNoiseOn ops state x0 eps [| t; t |]
    let output =
        match config.PredictionType with
        | PredictionType.Sample -> x0
        | PredictionType.VPrediction -> Ddim.getVelocityOn ops state x0 eps [| t; t |]
        | _ -> eps
    let r = Ddim.stepOn ops state output t xt 0.0 false ValueNone
    let err = Array.map2 (fun (a: float32) (b: float32) -> abs (float a - float b)) (r.PredOriginalSample.ToArray()) (x0.ToArray()) |> Array.max
    // ᾱ at the first timestep can be tiny (√ᾱ ~ 0.006 for linear betas at t = 999), so x0 = (x − √(1−ᾱ)ε)/√ᾱ
    // carries the float32 rounding of x magnified by 1/√ᾱ.
    let a = float state.Common.AlphasCumprod[int t]
    (err <= 1e-5 * (1.0 + 4.0 / sqrt a)) |> Prop.label (sprintf "max |x0 error| %g at t = %d (alpha_bar %g)" err t a)

/// The same inputs, noise source and η give the same bits; the state and the inputs are not written.
[<Property(Arbitrary = [| typeof<DdimGenerators>; typeof<Generators> |], MaxTest = 100)>]
let ``a step is a pure function of its inputs`` (DdimCase(config, steps)) (key: PrngKey) =
    let state = Ddim.create config |> Ddim.setTimesteps steps
    let before = Array.copy state.Common.AlphasCumprod, Array.copy state.Timesteps
    let x = NdArray.normal shape key
    let m = NdArray.normal shape (Prng.foldIn 1u key)
    let copy = x.ToArray(), m.ToArray()
    let ops = NdArrayBackend.Default :> IBackend<NdArray, PrngKey>
    let draw () = NdArray.normal shape (Prng.foldIn 2u key)
    let t = state.Timesteps[0]
    let a = Ddim.stepOn ops state m t x 1.0 true (ValueSome draw)
    let b = Ddim.stepOn ops state m t x 1.0 true (ValueSome draw)
    a.PrevSample = b.PrevSample && a.PredOriginalSample = b.PredOriginalSample
    && (x.ToArray(), m.ToArray()) = copy
    && (state.Common.AlphasCumprod, state.Timesteps) = before

/// With η > 0 a step that draws its noise from a key inside its pass (`StepNoise.Source`) gives the bits of the step
/// given that key's normal as a tensor, at a shape the pass splits into tiles with a ragged end.
[<Property(Arbitrary = [| typeof<DdimGenerators>; typeof<Generators> |], MaxTest = 60)>]
let ``noise drawn inside the pass equals the same noise given`` (DdimCase(config, steps)) (key: PrngKey) (thresholding: bool) =
    let config = { config with Thresholding = thresholding }
    let state = Ddim.create config |> Ddim.setTimesteps steps
    let big = [| 2; 3; 701 |]
    let x = NdArray.normal big key
    let m = NdArray.normal big (Prng.foldIn 1u key)
    let z = Prng.foldIn 2u key
    let ops = NdArrayBackend.Default :> IBackend<NdArray, PrngKey>
    let t = state.Timesteps[steps / 2]
    let given = Ddim.stepOn ops state m t x 0.8 false (ValueSome(fun () -> NdArray.normal big z))
    let drawn = Ddim.stepWith ops state m t x 0.8 false (ValueSome(StepNoise.Source(fun () -> z)))
    let without = Ddim.stepOn ops state m t x 0.8 false ValueNone
    // σ_t is 0 where ᾱ_prev = 1 (the last step with set_alpha_to_one): no noise is added there.
    let std = (Ddim.plan state t 0.8).StdDev
    let differs = given.PrevSample <> without.PrevSample
    given.PrevSample = drawn.PrevSample && given.PredOriginalSample = drawn.PredOriginalSample
    && (std > 0.0f || not differs) && (std < 1e-6f || differs)

/// The torch and Flax flavours agree to float32 rounding (jnp's and torch's linspace and cumprod differ by ulps;
/// XLA divides by a scalar through its reciprocal).
[<Property(Arbitrary = [| typeof<DdimGenerators>; typeof<Generators> |], MaxTest = 100)>]
let ``the flavours agree within rounding`` (DdimCase(config, steps)) (key: PrngKey) =
    let config = { config with TimestepSpacing = TimestepSpacing.Leading }
    let torch = Ddim.createWith Flavour.Torch config |> Ddim.setTimesteps steps
    let flax = Ddim.createWith Flavour.Flax config |> Ddim.setTimesteps steps
    let x = NdArray.normal shape key
    let m = NdArray.normal shape (Prng.foldIn 1u key)
    let ops = NdArrayBackend.Default :> IBackend<NdArray, PrngKey>
    let t = torch.Timesteps[0]
    let a = (Ddim.stepOn ops torch m t x 0.0 false ValueNone).PrevSample.ToArray()
    let b = (Ddim.flaxStep flax m t x 0.0).PrevSample.ToArray()
    let scale = a |> Array.map (fun v -> abs (float v)) |> Array.max |> max 1.0
    let worst = Array.map2 (fun (p: float32) (q: float32) -> abs (float p - float q)) a b |> Array.max
    (torch.Timesteps = flax.Timesteps && worst <= 2e-5 * scale) |> Prop.label (sprintf "worst %g (scale %g)" worst scale)

/// The relative error of deterministic DDIM (η = 0, trailing spacing, so every run starts at t = N − 1 and ends at
/// ᾱ = 1) against the exact probability-flow solution on a Gaussian target N(0, s²I) with the exact v-prediction
/// model: in x̄ = x/√ᾱ, σ = √((1 − ᾱ)/ᾱ), DDIM is Euler's method on dx̄/dσ = ε̂, whose solution here is
/// x̄(σ) ∝ √(s² + σ²), so the final sample is exactly x_T/√ᾱ_T · s/√(s² + σ_T²).
let ddimGaussianError (s: float) (steps: int) : float =
    let config = { Ddim.defaults with PredictionType = PredictionType.VPrediction; ClipSample = false; TimestepSpacing = TimestepSpacing.Trailing }
    let state = Ddim.create config |> Ddim.setTimesteps steps
    let ops = NdArrayBackend.Default :> IBackend<NdArray, PrngKey>
    let xT = NdArray.normal [| 64; 8 |] (Prng.key 7L)
    let s2 = s * s
    // E[ε | x_t] and E[x0 | x_t] of x_t = √ᾱ·x0 + √(1 − ᾱ)·ε with x0 ~ N(0, s²I), combined as v = √ᾱ·ε − √(1 − ᾱ)·x0.
    let model (x: NdArray) (t: int64) =
        let a = float state.Common.AlphasCumprod[int t]
        let d = a * s2 + 1.0 - a
        let v = sqrt a * (sqrt (1.0 - a) / d) - sqrt (1.0 - a) * (sqrt a * s2 / d)
        NdArray.scale (float32 v) x
    let mutable x = xT
    for t in state.Timesteps do
        x <- (Ddim.stepOn ops state (model x t) t x 0.0 false ValueNone).PrevSample
    let aT = float state.Common.AlphasCumprod[int state.Timesteps[0]]
    let sigmaT2 = (1.0 - aT) / aT
    let factor = s / sqrt (s2 + sigmaT2) / sqrt aT
    let exact = xT.ToArray() |> Array.map (fun v -> float v * factor)
    let num = Array.map2 (fun (a: float32) e -> (float a - e) ** 2.0) (x.ToArray()) exact |> Array.sum
    sqrt (num / (exact |> Array.sumBy (fun e -> e * e)))

/// DDIM converges at first order: doubling the steps halves the error (measured orders in docs/schedulers/ddim.md).
[<Xunit.Fact>]
let ``deterministic DDIM converges at first order on a Gaussian target`` () =
    let errors = [ 25; 50; 100; 200 ] |> List.map (ddimGaussianError 0.5)
    let orders = errors |> List.pairwise |> List.map (fun (a, b) -> log (a / b) / log 2.0)
    Xunit.Assert.True(orders |> List.forall (fun o -> o > 0.8 && o < 1.3), sprintf "errors %A, orders %A" errors orders)

/// img2img: x0 noised with `add_noise` at timesteps[b], then the one loop from begin index b with the model that
/// knows x0 (its ε at each x_t), returns x0 up to float32 rounding — the start and the noise level agree.
[<Property(Arbitrary = [| typeof<Generators> |], MaxTest = 50)>]
let ``an img2img start at a begin index recovers the clean sample with a perfect model`` (key: PrngKey) (start: NonNegativeInt) =
    let config = { Ddim.defaults with ClipSample = false }
    let scheduler = Ddim.scheduler<NdArray> config
    let steps = 20
    let b = start.Get % steps
    let state = scheduler.SetTimesteps(steps, shape, scheduler.Create Flavour.Torch) |> Ddim.setBeginIndex b
    let ops = NdArrayBackend.Default :> IBackend<NdArray, PrngKey>
    let keys = Prng.split 2 key
    let x0 = NdArray.normal shape keys[0] |> NdArray.scale 0.5f
    let eps = NdArray.normal shape keys[1]
    let t0 = state.Timesteps[b]
    let noised = Ddim.addNoiseOn ops state x0 eps [| t0; t0 |]
    // ε of x_t given x0: (x_t − √ᾱ_t·x0)/√(1 − ᾱ_t).
    let model (x: NdArray) (q: ModelQuery) =
        let a = state.Common.AlphasCumprod[int q.Timestep]
        NdArray.map2 (fun xt c -> (xt - MathF.Sqrt a * c) / MathF.Sqrt(1.0f - a)) x x0
    let progress = ResizeArray()
    let result = Loop.run scheduler ops model Loop.shared key (fun p -> progress.Add p.Step) state noised
    let err = Array.map2 (fun (a: float32) (c: float32) -> abs (float a - float c)) (result.Sample.ToArray()) (x0.ToArray()) |> Array.max
    (progress.Count = steps - b && progress[0] = b && err < 1e-3) |> Prop.label (sprintf "b = %d, steps run %d, error %g" b progress.Count err)

/// The step's one-pass program (two around thresholding) gives the bits of the same program op by op, for every
/// option: prediction types, clipping, thresholding, `use_clipped_model_output`, η with noise.
[<Property(Arbitrary = [| typeof<DdimGenerators>; typeof<Generators> |], MaxTest = 100)>]
let ``a step in one pass equals the step op by op`` (DdimCase(config, steps)) (key: PrngKey) (thresholding: bool) (clipped: bool) (eta: bool) =
    let config = { config with Thresholding = thresholding }
    let state = Ddim.create config |> Ddim.setTimesteps steps
    let x = NdArray.normal shape key |> NdArray.scale 2.0f
    let m = NdArray.normal shape (Prng.foldIn 1u key)
    let draw () = NdArray.normal shape (Prng.foldIn 2u key)
    let fused = NdArrayBackend.Default :> IBackend<NdArray, PrngKey>
    let reference = OpByOpBackend(fused) :> IBackend<NdArray, PrngKey>
    let e = if eta then 0.7 else 0.0
    state.Timesteps
    |> Array.forall (fun t ->
        let a = Ddim.stepOn fused state m t x e clipped (ValueSome draw)
        let b = Ddim.stepOn reference state m t x e clipped (ValueSome draw)
        let bits (y: NdArray) = y.ToArray() |> Array.map BitConverter.SingleToInt32Bits
        bits a.PrevSample = bits b.PrevSample && bits a.PredOriginalSample = bits b.PredOriginalSample)
