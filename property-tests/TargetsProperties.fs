module Schedulers.PropertyTests.TargetsProperties

open System
open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open Schedulers.Core
open Schedulers.Evaluation

/// A small random mixture: 1–4 components in 1–3 dimensions, means in [−3, 3], variances in [0.05, 2].
type SmallMixture = SmallMixture of GaussianMixture

/// A noise level σ in [0.01, 20] (log-uniform).
type NoiseLevel = NoiseLevel of float

/// A VP level ᾱ in [0.001, 0.999]: α = √ᾱ, σ_vp = √(1 − ᾱ).
type AlphaBar = AlphaBar of float

/// Generators for mixtures and noise levels.
type TargetGenerators =
    /// Random small mixtures with unequal weights.
    static member SmallMixture() : Arbitrary<SmallMixture> =
        let unit = Gen.choose (0, 1_000_000) |> Gen.map (fun i -> float i / 1e6)
        gen {
            let! k = Gen.choose (1, 4)
            let! d = Gen.choose (1, 3)
            let! weights = Gen.arrayOfLength k (unit |> Gen.map (fun u -> 0.1 + u))
            let! means = Gen.arrayOfLength k (Gen.arrayOfLength d (unit |> Gen.map (fun u -> 6.0 * u - 3.0)))
            let! vars = Gen.arrayOfLength k (Gen.arrayOfLength d (unit |> Gen.map (fun u -> 0.05 + 1.95 * u)))
            return SmallMixture(Targets.create "random" weights means vars)
        }
        |> Arb.fromGen

    /// Log-uniform σ in [0.01, 20].
    static member NoiseLevel() : Arbitrary<NoiseLevel> =
        Gen.choose (0, 1_000_000) |> Gen.map (fun i -> NoiseLevel(0.01 * Math.Pow(2000.0, float i / 1e6))) |> Arb.fromGen

    /// ᾱ in [0.001, 0.999].
    static member AlphaBar() : Arbitrary<AlphaBar> =
        Gen.choose (1, 999) |> Gen.map (fun i -> AlphaBar(float i / 1000.0)) |> Arb.fromGen

/// Throws with the message when the condition fails (so a failing property says which value was off).
let ensure (condition: bool) (message: unit -> string) = if not condition then failwith (message ())

/// A batch of B points spread over the mixture's range (mean ± 3 std per coordinate, plus noise of scale `spread`).
let pointsNear (key: PrngKey) (batch: int) (spread: float) (mixture: GaussianMixture) : NdArray =
    let d = mixture.Dimension
    let u = Prng.uniform [| batch; d |] key
    let keys = Prng.split 2 key
    let z = Prng.normal [| batch; d |] keys[1]
    let sd = Targets.covariance mixture |> Array.mapi (fun j row -> sqrt row[j])
    let mu = Targets.mean mixture
    NdArray.init [| batch; d |] (fun i ->
        let j = i % d
        float32 (mu[j] + 3.0 * sd[j] * (2.0 * float u[i] - 1.0) + spread * float z[i]))

/// Central finite differences of a float64 function at x, with step h per coordinate.
let finiteDifferenceGradient (f: float[] -> float) (h: float) (x: float[]) : float[] =
    Array.init x.Length (fun j ->
        let plus = Array.copy x
        let minus = Array.copy x
        plus[j] <- x[j] + h
        minus[j] <- x[j] - h
        (f plus - f minus) / (2.0 * h))

let private row (x: NdArray) (i: int) =
    let d = x.Length / x.BatchSize
    Array.init d (fun j -> float x[i * d + j])

/// Checks |actual − expected| ≤ tol · max(1, |expected|) for every coordinate of every row.
let private closeRows (what: string) (tol: float) (expected: int -> float[]) (actual: NdArray) =
    for i in 0 .. actual.BatchSize - 1 do
        let e = expected i
        let a = row actual i
        for j in 0 .. e.Length - 1 do
            ensure (abs (a[j] - e[j]) <= tol * max 1.0 (abs e[j])) (fun () ->
                sprintf "%s row %d coordinate %d: expected %.9g, got %.9g" what i j e[j] a[j])

/// The step for finite differences: small against the narrowest perturbed component.
let private stepFor (perturbed: GaussianMixture) =
    1e-4 * sqrt (perturbed.Variances |> Array.collect id |> Array.min)

[<Properties(Arbitrary = [| typeof<Generators>; typeof<TargetGenerators> |], MaxTest = 100)>]
module Scores =

    [<Property>]
    let ``the VE score equals finite differences of the perturbed log-density`` (SmallMixture m) (NoiseLevel sigma) (key: PrngKey) =
        let p = Targets.perturb 1.0 sigma m
        let x = pointsNear key 4 sigma m
        let score = Targets.veScore m sigma x
        closeRows "veScore" 1e-4 (fun i -> finiteDifferenceGradient (Targets.logDensityAt p) (stepFor p) (row x i)) score

    [<Property>]
    let ``the VP epsilon is −σ_vp times finite differences of the perturbed log-density`` (SmallMixture m) (AlphaBar abar) (key: PrngKey) =
        let alpha, s = sqrt abar, sqrt (1.0 - abar)
        let p = Targets.perturb alpha s m
        let x = pointsNear key 4 s p
        let eps = Targets.vpEpsilon m alpha s x
        let expected i = finiteDifferenceGradient (Targets.logDensityAt p) (stepFor p) (row x i) |> Array.map (fun g -> -s * g)
        closeRows "vpEpsilon" 1e-4 expected eps
        closeRows "vpScore" 1e-4 (fun i -> expected i |> Array.map (fun e -> -e / s)) (Targets.vpScore m alpha s x)

    [<Property>]
    let ``the EDM denoiser is x + σ² times the VE score`` (SmallMixture m) (NoiseLevel sigma) (key: PrngKey) =
        let p = Targets.perturb 1.0 sigma m
        let x = pointsNear key 5 sigma m
        let expected i =
            let xi = row x i
            Array.map2 (fun xj g -> xj + sigma * sigma * g) xi (Targets.scoreAt p xi)
        // Both sides are exact in float64; the output is rounded to float32 (and cancellation in x + σ²·score at
        // large σ costs a few digits in the float64 reference).
        closeRows "edmDenoiser" 1e-5 expected (Targets.edmDenoiser m sigma x)

    [<Property>]
    let ``ε and x0 predictions recombine to x_t and match Tweedie`` (SmallMixture m) (AlphaBar abar) (key: PrngKey) =
        let alpha, s = sqrt abar, sqrt (1.0 - abar)
        let x = pointsNear key 5 s (Targets.perturb alpha s m)
        let eps = Targets.vpEpsilon m alpha s x
        let x0 = Targets.vpX0 m alpha s x
        for i in 0 .. x.Length - 1 do
            let recombined = alpha * float x0[i] + s * float eps[i]
            let scale = abs (float x[i]) + alpha * abs (float x0[i]) + s * abs (float eps[i])
            ensure (abs (recombined - float x[i]) <= 1e-6 * max 1.0 scale) (fun () ->
                sprintf "element %d: α·x0 + σ·ε = %.9g but x = %.9g" i recombined (float x[i]))
        let p = Targets.perturb alpha s m
        let tweedie i = Array.map2 (fun xj g -> (xj + s * s * g) / alpha) (row x i) (Targets.scoreAt p (row x i))
        closeRows "vpX0 vs Tweedie" (1e-5 / alpha) tweedie x0

    [<Property>]
    let ``v-prediction is α·ε − σ·x0`` (SmallMixture m) (AlphaBar abar) (key: PrngKey) =
        let alpha, s = sqrt abar, sqrt (1.0 - abar)
        let x = pointsNear key 3 s (Targets.perturb alpha s m)
        let eps = Targets.vpEpsilon m alpha s x
        let x0 = Targets.vpX0 m alpha s x
        closeRows "vpV" 1e-6 (fun i -> Array.map2 (fun e z -> alpha * e - s * z) (row eps i) (row x0 i)) (Targets.vpV m alpha s x)

    [<Property>]
    let ``the perturbed mixture has mean α·μ and covariance α²·Σ + σ²·I`` (SmallMixture m) (AlphaBar abar) (NoiseLevel sigma) =
        let alpha = sqrt abar
        let p = Targets.perturb alpha sigma m
        let mu, cov = Targets.mean m, Targets.covariance m
        let muP, covP = Targets.mean p, Targets.covariance p
        for i in 0 .. m.Dimension - 1 do
            ensure (abs (muP[i] - alpha * mu[i]) <= 1e-12 * (1.0 + abs mu[i])) (fun () -> sprintf "mean[%d]" i)
            for j in 0 .. m.Dimension - 1 do
                let expected = alpha * alpha * cov[i][j] + (if i = j then sigma * sigma else 0.0)
                ensure (abs (covP[i][j] - expected) <= 1e-10 * (1.0 + abs expected)) (fun () -> sprintf "cov[%d][%d]" i j)

    [<Property>]
    let ``responsibilities are a probability vector`` (SmallMixture m) (key: PrngKey) =
        Targets.responsibilities m (pointsNear key 4 5.0 m)
        |> Array.forall (fun r -> r |> Array.forall (fun v -> v >= 0.0 && v <= 1.0) && abs (Array.sum r - 1.0) < 1e-12)

    [<Property>]
    let ``scores stay finite far from every component`` (SmallMixture m) (key: PrngKey) =
        // Far away every component's density underflows; log-sum-exp keeps the responsibilities defined.
        let x = pointsNear key 4 1000.0 m
        NdArray.isFinite (Targets.veScore m 0.01 x) && NdArray.isFinite (Targets.edmDenoiser m 0.01 x)
        && (Targets.logDensity m x |> Array.forall Double.IsFinite)

module Limits =

    [<Xunit.Fact>]
    let ``the denoiser is the identity at σ = 0 and the mixture mean at huge σ`` () =
        let m = Targets.ring8
        let x = pointsNear (Prng.key 3L) 16 1.0 m
        ensure (Targets.edmDenoiser m 0.0 x = x) (fun () -> "D(x; 0) differs from x")
        let far = Targets.edmDenoiser m 1e6 x
        ensure (far.ToArray() |> Array.forall (fun v -> abs v < 1e-4f)) (fun () -> sprintf "D(x; 1e6) = %O, not ≈ 0" far)

    [<Xunit.Fact>]
    let ``at α = 0 the x0-prediction is the mixture mean and ε is x / σ_vp`` () =
        // x_t = z carries no information on x0: E[x0 | x_t] = E[x0] and E[z | x_t] = x_t.
        let m = Targets.line1d
        let x = pointsNear (Prng.key 4L) 8 2.0 m
        let mu = float32 (Targets.mean m).[0]
        ensure ((Targets.vpX0 m 0.0 1.0 x).ToArray() |> Array.forall (fun v -> abs (v - mu) < 1e-6f)) (fun () -> "x0 at α = 0")
        ensure (Targets.vpEpsilon m 0.0 1.0 x = x) (fun () -> "ε at α = 0")

    [<Xunit.Fact>]
    let ``the 1-D and 2-D densities integrate to 1`` () =
        let h = 0.01
        let line = Array.init 2001 (fun i -> -10.0 + h * float i)
        let oneD = line |> Array.sumBy (fun x -> exp (Targets.logDensityAt Targets.line1d [| x |]) * h)
        ensure (abs (oneD - 1.0) < 1e-6) (fun () -> sprintf "∫ p = %.9g on line1d" oneD)
        let g = 0.05
        let axis = Array.init 281 (fun i -> -7.0 + g * float i)
        let twoD = axis |> Array.sumBy (fun a -> axis |> Array.sumBy (fun b -> exp (Targets.logDensityAt Targets.ring8 [| a; b |]))) |> (*) (g * g)
        ensure (abs (twoD - 1.0) < 1e-6) (fun () -> sprintf "∫ p = %.9g on ring8" twoD)

    [<Xunit.Fact>]
    let ``the built-ins have the documented shapes`` () =
        let shape (m: GaussianMixture) = m.Name, m.ComponentCount, m.Dimension
        let actual = Targets.builtIns |> List.map shape
        let expected = [ "ring8", 8, 2; "grid", 25, 2; "moons", 32, 2; "line1d", 3, 1; "gaussian64", 8, 64 ]
        ensure (actual = expected) (fun () -> sprintf "%A" actual)
        ensure (Targets.byName "RING8" = Targets.ring8) (fun () -> "byName is not case-insensitive")
        let means = Targets.gaussian64.Means
        for a in 0 .. 7 do
            for b in 0 .. 7 do
                let dot = Array.fold2 (fun s x y -> s + x * y) 0.0 means[a] means[b]
                ensure (abs (dot - (if a = b then 36.0 else 0.0)) < 1e-12) (fun () -> sprintf "μ%d·μ%d = %g" a b dot)

    [<Xunit.Fact>]
    let ``wrong arguments are named in the error`` () =
        let message (f: unit -> unit) =
            try
                f ()
                ""
            with :? ArgumentException as e -> string e.ParamName + ": " + e.Message
        let bad = NdArray.zeros [| 4; 3 |]
        ensure ((message (fun () -> Targets.veScore Targets.ring8 1.0 bad |> ignore)).StartsWith "x: x has shape [4,3]") (fun () ->
            message (fun () -> Targets.veScore Targets.ring8 1.0 bad |> ignore))
        ensure ((message (fun () -> Targets.veScore Targets.ring8 (-1.0) (NdArray.zeros [| 4; 2 |]) |> ignore)).StartsWith "sigma: sigma is -1") (fun () -> "sigma")
        ensure ((message (fun () -> Targets.create "m" [| 1.0 |] [| [| 0.0 |] |] [| [| 0.0 |] |] |> ignore)).StartsWith "variances:") (fun () -> "variances")
        ensure ((message (fun () -> Targets.byName "nope" |> ignore)).Contains "ring8, grid, moons, line1d, gaussian64") (fun () -> "byName")

[<Properties(Arbitrary = [| typeof<Generators> |], MaxTest = 20)>]
module Sampling =

    [<Property>]
    let ``any split of a batch into ranges gives the same points`` (key: PrngKey) (PositiveInt a) (PositiveInt b) =
        let a, b = a % 40, b % 40
        let m = Targets.moons
        let whole = Targets.sample key (a + b) m
        let parts = Array.append ((Targets.sampleRange key 0 a m).ToArray()) ((Targets.sampleRange key a b m).ToArray())
        whole.ToArray() = parts && whole.Shape = [| a + b; 2 |]

    [<Property>]
    let ``the same key gives the same sample and another key another`` (key: PrngKey) =
        let other = Prng.foldIn 7u key
        Targets.sample key 16 Targets.grid = Targets.sample key 16 Targets.grid
        && Targets.sample key 16 Targets.grid <> Targets.sample other 16 Targets.grid

    /// Sample moments of N exact draws against the closed-form mean and covariance, within 6 standard errors.
    [<Xunit.Fact>]
    let ``sample moments match the mixture moments`` () =
        let n = 20000
        for m in Targets.builtIns do
            let x = Targets.sample (Prng.key 11L) (if m.Dimension > 2 then 4000 else n) m
            let mean, cov = Metrics.gaussianFit x
            let count = float x.BatchSize
            let mu = Targets.mean m
            let sigma = Targets.covariance m
            for i in 0 .. m.Dimension - 1 do
                ensure (abs (mean[i] - mu[i]) <= 6.0 * sqrt (sigma[i][i] / count)) (fun () ->
                    sprintf "%s mean[%d] = %g, expected %g" m.Name i mean.[i] mu.[i])
                for j in 0 .. m.Dimension - 1 do
                    let se = sqrt (2.0 * sigma[i][i] * sigma[j][j] / count)
                    ensure (abs (cov[i][j] - sigma[i][j]) <= 6.0 * se) (fun () ->
                        sprintf "%s cov[%d][%d] = %g, expected %g" m.Name i j cov.[i].[j] sigma.[i].[j])
            let coverage = Metrics.modeCoverage m x
            ensure (coverage.TotalVariation < 0.05 && coverage.ModesCovered = m.ComponentCount) (fun () ->
                sprintf "%s coverage of exact draws: TV %g, %d modes" m.Name coverage.TotalVariation coverage.ModesCovered)
