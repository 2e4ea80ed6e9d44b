module Schedulers.PropertyTests.DdpmProperties

open System
open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open Schedulers.Core

/// A DDPM config over the options that change the numbers, and a step count.
type DdpmCase = DdpmCase of config: DdpmConfig * steps: int

/// Generators: every beta schedule, variance type, prediction type and spacing, with or without clipping, 1–60 steps.
type DdpmGenerators =
    static member DdpmCase() : Arbitrary<DdpmCase> =
        gen {
            let! schedule = Gen.elements [ BetaSchedule.Linear; BetaSchedule.ScaledLinear; BetaSchedule.SquaredcosCapV2 ]
            let! variance =
                Gen.elements
                    [ DdpmVarianceType.FixedSmall; DdpmVarianceType.FixedSmallLog; DdpmVarianceType.FixedLarge
                      DdpmVarianceType.Learned; DdpmVarianceType.LearnedRange; DdpmVarianceType.Unset ]
            let! prediction = Gen.elements [ PredictionType.Epsilon; PredictionType.Sample; PredictionType.VPrediction ]
            let! spacing = Gen.elements [ TimestepSpacing.Leading; TimestepSpacing.Linspace; TimestepSpacing.Trailing ]
            let! clip = Gen.elements [ true; false ]
            let! steps = Gen.choose (1, 60)
            let config =
                { Ddpm.defaults with
                    BetaSchedule = schedule
                    VarianceType = variance
                    PredictionType = prediction
                    TimestepSpacing = spacing
                    ClipSample = clip }
            return DdpmCase(config, steps)
        }
        |> Arb.fromGen

let private shape = [| 2; 3; 4 |]

let private ops = NdArrayBackend.Default :> IBackend<NdArray, PrngKey>

/// The model output of a step: the sample's shape, or twice its channels (the second half in (−1, 1)) for a learned
/// variance type.
let private modelOutput (config: DdpmConfig) (key: PrngKey) =
    let m = NdArray.normal shape key
    if config.VarianceType.PredictsVariance then
        let v = NdArray.normal shape (Prng.foldIn 9u key) |> NdArray.map (fun x -> 0.5f * tanh x)
        let half = shape[1] * shape[2]
        NdArray.create [| 2; 6; 4 |] (Array.init 48 (fun i ->
            let b, r = i / (2 * half), i % (2 * half)
            if r < half then m.ToArray()[b * half + r] else abs (v.ToArray()[b * half + r - half])))
    else m

/// With the model that knows the noise, the first step's x0 is the clean sample up to float32 rounding.
[<Property(Arbitrary = [| typeof<DdpmGenerators>; typeof<Generators> |], MaxTest = 100)>]
let ``a perfect model's first step predicts the clean sample`` (DdpmCase(config, steps)) (key: PrngKey) =
    let config = { config with ClipSample = false; VarianceType = DdpmVarianceType.FixedSmall }
    let state = Ddpm.create config |> Ddpm.setTimesteps steps
    let keys = Prng.split 3 key
    let x0 = NdArray.normal shape keys[0] |> NdArray.scale 0.5f
    let eps = NdArray.normal shape keys[1]
    let t = state.Timesteps[0]
    let xt = Ddpm.addNoiseOn ops state x0 eps [| t; t |]
    let output =
        match config.PredictionType with
        | PredictionType.Sample -> x0
        | PredictionType.VPrediction -> Ddpm.getVelocityOn ops state x0 eps [| t; t |]
        | _ -> eps
    let r = Ddpm.stepOn ops state output t xt (fun () -> NdArray.normal shape keys[2])
    let err = Array.map2 (fun (a: float32) (b: float32) -> abs (float a - float b)) (r.PredOriginalSample.ToArray()) (x0.ToArray()) |> Array.max
    let a = float state.Common.AlphasCumprod[int t]
    (err <= 1e-5 * (1.0 + 4.0 / sqrt a)) |> Prop.label (sprintf "max |x0 error| %g at t = %d (alpha_bar %g)" err t a)

/// Every step of a loop gives the same bits with the fused stages as op by op, for every variance type; the
/// inputs are not written; the step at t = 0 draws no noise.
[<Property(Arbitrary = [| typeof<DdpmGenerators>; typeof<Generators> |], MaxTest = 100)>]
let ``a step is bit-identical fused and op by op and draws only for t above 0`` (DdpmCase(config, steps)) (key: PrngKey) =
    let state = Ddpm.create config |> Ddpm.setTimesteps steps
    let generic = OpByOpBackend(NdArrayBackend.Default) :> IBackend<NdArray, PrngKey>
    let x = NdArray.normal shape key
    let m = modelOutput config (Prng.foldIn 1u key)
    let copy = x.ToArray(), m.ToArray()
    state.Timesteps
    |> Array.forall (fun t ->
        let mutable draws = 0
        let draw () =
            draws <- draws + 1
            NdArray.normal shape (Prng.foldIn 2u key)
        let a = Ddpm.stepOn ops state m t x draw
        let b = Ddpm.stepOn generic state m t x draw
        a.PrevSample = b.PrevSample && a.PredOriginalSample = b.PredOriginalSample && draws = (if t > 0L then 2 else 0))
    && (x.ToArray(), m.ToArray()) = copy

/// The posterior mean's coefficients of x0 and x_t (Ho et al. 2020, eq. 7) are those of the closed form, and the
/// previous timestep follows the timesteps, −1 after the last.
[<Property(Arbitrary = [| typeof<DdpmGenerators> |], MaxTest = 200)>]
let ``the plan is the posterior of eq. 7`` (DdpmCase(config, steps)) =
    let state = Ddpm.create config |> Ddpm.setTimesteps steps
    let ts = state.Timesteps
    ts
    |> Array.mapi (fun i t ->
        let p = Ddpm.plan state t
        let prev = if i = ts.Length - 1 then -1L else ts[i + 1]
        let a = float state.Common.AlphasCumprod[int t]
        let ap = if prev >= 0L then float state.Common.AlphasCumprod[int prev] else 1.0
        let beta = 1.0 - a / ap
        let close (x: float32) (y: float) = abs (float x - y) <= 1e-4 * (1.0 + abs y)
        p.PrevTimestep = prev && close p.OriginalCoef (sqrt ap * beta / (1.0 - a)) && close p.SampleCoef (sqrt (a / ap) * (1.0 - ap) / (1.0 - a)))
    |> Array.forall id

/// The Flax class against the torch class where the two define the same step: before `set_timesteps` torch also
/// steps from t to t − 1, so with the same noise the results agree to float32 rounding (jnp's linspace and cumprod,
/// β_t read from the table where torch derives 1 − ᾱ_t/ᾱ_{t−1}, XLA's division by a scalar). Near t = 0 the
/// coefficients divide by 1 − ᾱ_t ≈ 1e-4, whose float32 rounding (≈ ε/(1 − ᾱ_t) relative) the tolerance carries.
[<Property(MaxTest = 100)>]
let ``the Flax step agrees with the torch step from t to t - 1`` (key: PrngKey) (t: NonNegativeInt) (v: bool) =
    let config =
        { Ddpm.defaults with
            PredictionType = (if v then PredictionType.VPrediction else PredictionType.Epsilon)
            ClipSample = false }
    let torch = Ddpm.create config
    let flax = Ddpm.flaxCreateState config
    let timestep = int64 (t.Get % config.NumTrainTimesteps)
    let shape = [| 2; 3; 4 |]
    let x = NdArray.normal shape (Prng.foldIn 1u key)
    let m = NdArray.normal shape (Prng.foldIn 2u key)
    let z () = NdArray.normal shape (Prng.split 1 key).[0]
    let ops = NdArrayBackend.Default :> IBackend<NdArray, PrngKey>
    let a = (Ddpm.stepOn ops torch m timestep x z).PrevSample.ToArray()
    let b = (Ddpm.flaxStep flax m timestep x key).PrevSample.ToArray()
    let scale = a |> Array.map (fun e -> abs (float e)) |> Array.max |> max 1.0
    let worst = Array.map2 (fun (p: float32) (q: float32) -> abs (float p - float q)) a b |> Array.max
    let cancellation = 2.0 * 6e-8 / (1.0 - float torch.Common.AlphasCumprod[int timestep])
    (worst <= (5e-5 + cancellation) * scale) |> Prop.label (sprintf "t = %d: worst %g (scale %g)" timestep worst scale)

/// The Flax class refuses, naming the key, the options it does not have.
[<Xunit.Fact>]
let ``the Flax class refuses options it lacks`` () =
    for config, key in
        [ { Ddpm.defaults with Thresholding = true }, "thresholding"
          { Ddpm.defaults with TimestepSpacing = TimestepSpacing.Trailing }, "timestep_spacing"
          { Ddpm.defaults with VarianceType = DdpmVarianceType.Learned }, "variance_type" ] do
        let e = Xunit.Assert.Throws<System.ArgumentException>(fun () -> Ddpm.flaxCreateState config |> ignore)
        Xunit.Assert.Equal(key, e.ParamName)
    let state = Ddpm.flaxCreateState Ddpm.defaults |> Ddpm.flaxSetTimesteps 10
    Xunit.Assert.Equal<int64[]>([| 900L; 800L; 700L; 600L; 500L; 400L; 300L; 200L; 100L; 0L |], state.Timesteps)

/// Timesteps strictly decrease within [0, N) for every spacing and step count (1–60).
[<Property(Arbitrary = [| typeof<DdpmGenerators> |], MaxTest = 200)>]
let ``timesteps strictly decrease within the training range`` (DdpmCase(config, steps)) =
    let state = Ddpm.create config |> Ddpm.setTimesteps steps
    let ts = state.Timesteps
    ts.Length = steps
    && Array.forall (fun t -> t >= 0L && t < int64 config.NumTrainTimesteps) ts
    && Array.pairwise ts |> Array.forall (fun (a, b) -> a > b)

/// A step is a function of its inputs and its noise: the same state, model output, sample and noise give the same
/// output (twice, at every timestep of the schedule), and neither the state's tables and timesteps nor the inputs
/// change.
[<Property(Arbitrary = [| typeof<DdpmGenerators> |], MaxTest = 60)>]
let ``a step is a pure function of its inputs`` (DdpmCase(config, steps)) (key: PrngKey) =
    let state = Ddpm.create config |> Ddpm.setTimesteps steps
    let before = Array.copy state.Common.AlphasCumprod, Array.copy state.Timesteps
    let x = NdArray.normal shape (Prng.foldIn 1u key)
    let m = modelOutput config (Prng.foldIn 3u key)
    let copy = x.ToArray(), m.ToArray()
    let draw () = NdArray.normal shape (Prng.foldIn 2u key)
    state.Timesteps
    |> Array.forall (fun t ->
        let a = Ddpm.stepOn ops state m t x draw
        let b = Ddpm.stepOn ops state m t x draw
        let same (p: NdArray) (q: NdArray) = Array.forall2 (fun (u: float32) (v: float32) -> u = v || (Single.IsNaN u && Single.IsNaN v)) (p.ToArray()) (q.ToArray())
        same a.PrevSample b.PrevSample && same a.PredOriginalSample b.PredOriginalSample)
    && (x.ToArray(), m.ToArray()) = copy
    && (state.Common.AlphasCumprod, state.Timesteps) = before
