module Schedulers.PropertyTests.EdmHeunProperties

open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open Schedulers.Core

/// A Gaussian target N(0, s²I) and an EDM config sized to it.
type GaussianCase = GaussianCase of std: float * config: EdmHeunConfig * seed: uint32

/// Generators for EDM configs and Gaussian cases.
type EdmHeunGenerators =
    /// s in [0.5, 2], σ_max in [5, 80], σ_min in [0.001, 0.01], ρ in [5, 9], any seed.
    static member GaussianCase() : Arbitrary<GaussianCase> =
        gen {
            let! s = Gen.choose (50, 200)
            let! smax = Gen.choose (5, 80)
            let! smin = Gen.choose (1, 10)
            let! rho = Gen.choose (5, 9)
            let! seed = Gen.choose (0, System.Int32.MaxValue)
            let config = { EdmHeun.defaults with SigmaMin = float smin / 1000.0; SigmaMax = float smax; Rho = float rho }
            return GaussianCase(float s / 100.0, config, uint32 seed)
        }
        |> Arb.fromGen

/// D(x; σ) = x·s²/(s² + σ²): the exact denoiser of N(0, s²I).
let private gaussianDenoiser (s: float) (x: NdArray) (sigma: float) : NdArray =
    NdArray.scale (float32 (s * s / (s * s + sigma * sigma))) x

/// x_T ~ N(0, σ_max² I) of shape [4, 3].
let private initial (config: EdmHeunConfig) (seed: uint32) : NdArray =
    NdArray.scale (float32 config.SigmaMax) (NdArray.create [| 4; 3 |] (Prng.normal [| 4; 3 |] (Prng.key (int64 seed))))

/// The relative error of the final sample against the ODE's solution x(0) = x_T·s/√(s² + σ_max²).
let private relativeError (s: float) (config: EdmHeunConfig) (x0: NdArray) (final: NdArray) : float =
    let exact = NdArray.scale (float32 (s / sqrt (s * s + config.SigmaMax * config.SigmaMax))) x0
    float (NdArray.norm (NdArray.sub final exact)) / float (NdArray.norm exact)

/// N plain Euler steps (Algorithm 1 without the correction), through the same plans.
let private eulerOnly (s: float) (state: EdmHeunState) (x0: NdArray) : NdArray =
    let sigmas = EdmHeun.sigmasOf state
    let mutable x = x0
    for i in 0 .. sigmas.Length - 2 do
        let struct (next, _) = EdmHeun.eulerStepArray (EdmHeun.eulerPlan state i) x (gaussianDenoiser s x (float sigmas[i]))
        x <- next
    x

/// The schedule is strictly decreasing, starts at σ_max, its last level is σ_min and it ends at 0 (Eq. 5).
[<Property(Arbitrary = [| typeof<EdmHeunGenerators> |], MaxTest = 100)>]
let ``the schedule falls strictly from sigma_max to sigma_min then 0`` (GaussianCase(_, config, seed)) =
    let n = 2 + int (seed % 499u)
    let s = EdmHeun.sigmas config n
    s.Length = n + 1
    && s[0] = float32 config.SigmaMax
    && s[n - 1] = float32 config.SigmaMin
    && s[n] = 0.0f
    && Array.pairwise s |> Array.forall (fun (a, b) -> a > b)

/// The exponential schedule (`sigma_schedule` "exponential") is geometric: every ratio of neighbouring levels is
/// (σ_min/σ_max)^(1/(N−1)), up to the float32 rounding of the levels; it keeps the endpoints and the final 0.
[<Property(Arbitrary = [| typeof<EdmHeunGenerators> |], MaxTest = 100)>]
let ``the exponential schedule is geometric from sigma_max to sigma_min then 0`` (GaussianCase(_, config, seed)) =
    let n = 2 + int (seed % 499u)
    let config = { config with SigmaSchedule = SigmaSchedule.Exponential }
    let s = EdmHeun.sigmas config n
    let ratio = (config.SigmaMin / config.SigmaMax) ** (1.0 / float (n - 1))
    s.Length = n + 1
    && s[0] = float32 config.SigmaMax
    && s[n - 1] = float32 config.SigmaMin
    && s[n] = 0.0f
    && s[.. n - 1] |> Array.pairwise |> Array.forall (fun (a, b) -> abs (float b / float a / ratio - 1.0) < 1e-6)

/// Heun's final error falls at second order as N doubles (32 → 64), plain Euler's at first order, on a Gaussian
/// target whose probability-flow ODE has the closed form x(σ) = x_T·√(s² + σ²)/√(s² + σ_T²).
[<Property(Arbitrary = [| typeof<EdmHeunGenerators> |], MaxTest = 30)>]
let ``Heun converges at second order and Euler at first on a Gaussian`` (GaussianCase(s, config, seed)) =
    let x0 = initial config seed
    let state n = EdmHeun.createState config |> EdmHeun.setTimesteps n
    let heun n = relativeError s config x0 (EdmHeunSampling.runArray (gaussianDenoiser s) (state n) x0)
    let euler n = relativeError s config x0 (eulerOnly s (state n) x0)
    let heunOrder = log (heun 32 / heun 64) / log 2.0
    let eulerOrder = log (euler 32 / euler 64) / log 2.0
    (heunOrder >= 1.7 && eulerOrder >= 0.8 && eulerOrder <= 1.3)
    |> Prop.label (sprintf "Heun order %g, Euler order %g" heunOrder eulerOrder)

/// The sampler is a pure function: the same inputs give the same bits, the shape is kept and the input is not
/// written.
[<Property(Arbitrary = [| typeof<EdmHeunGenerators>; typeof<ShapeGenerators> |], MaxTest = 50)>]
let ``same inputs give the same outputs, shapes kept, input untouched`` (GaussianCase(s, config, seed)) (SmallShape shape) =
    let x0 = NdArray.scale (float32 config.SigmaMax) (NdArray.create shape (Prng.normal shape (Prng.key (int64 seed))))
    let before = x0.ToArray()
    let state = EdmHeun.createState config |> EdmHeun.setTimesteps (1 + int (seed % 12u))
    let a = EdmHeunSampling.runArray (gaussianDenoiser s) state x0
    let b = EdmHeunSampling.runArray (gaussianDenoiser s) state x0
    a.Shape = x0.Shape && a.ToArray() = b.ToArray() && x0.ToArray() = before

/// setTimesteps returns a new state and leaves the one it was given without a schedule.
[<Property(Arbitrary = [| typeof<EdmHeunGenerators> |], MaxTest = 50)>]
let ``setTimesteps does not change the state it is given`` (GaussianCase(_, config, seed)) =
    let empty = EdmHeun.createState config
    let n = 1 + int (seed % 50u)
    let set = EdmHeun.setTimesteps n empty
    let again = EdmHeun.setTimesteps (n + 1) set
    empty.Sigmas = None && empty.NumInferenceSteps = None
    && set.NumInferenceSteps = Some n && (EdmHeun.sigmasOf set).Length = n + 1
    && (EdmHeun.sigmasOf again).Length = n + 2

/// The plans are the float32 coefficients of the update: Δ = σ_{i+1} − σ_i, ½Δ for Heun, no Heun plan on the last
/// interval to 0, and NFE = 2N − 1.
[<Property(Arbitrary = [| typeof<EdmHeunGenerators> |], MaxTest = 50)>]
let ``plans hold the step's float32 coefficients`` (GaussianCase(_, config, seed)) =
    let n = 1 + int (seed % 30u)
    let state = EdmHeun.createState config |> EdmHeun.setTimesteps n
    let s = EdmHeun.sigmasOf state
    let plansOk =
        [ 0 .. n - 1 ]
        |> List.forall (fun i ->
            let e = EdmHeun.eulerPlan state i
            let h = EdmHeun.heunPlan state i
            e.Sigma = s[i] && e.Delta = s[i + 1] - s[i]
            && (if i = n - 1 then h.IsNone else h = Some { SigmaNext = s[i + 1]; HalfDelta = 0.5f * (s[i + 1] - s[i]) }))
    let calls = ref 0
    let counting (x: NdArray) (_: float) = calls.Value <- calls.Value + 1; x
    EdmHeunSampling.runArray counting state (NdArray.zeros [| 2; 2 |]) |> ignore
    plansOk && calls.Value = EdmHeun.nfe n && EdmHeun.nfe n = 2 * n - 1

/// Invalid configs are refused with the key named.
[<Property(MaxTest = 1)>]
let ``validation names the key`` () =
    let key (c: EdmHeunConfig) =
        try EdmHeun.validate c |> ignore; "" with :? System.ArgumentException as e -> string e.ParamName
    key { EdmHeun.defaults with SigmaMin = 0.0 } = "sigma_min"
    && key { EdmHeun.defaults with SigmaMax = 0.001 } = "sigma_max"
    && key { EdmHeun.defaults with Rho = nan } = "rho"
    && key EdmHeun.defaults = ""
