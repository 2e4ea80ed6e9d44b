module Schedulers.PropertyTests.MetricsProperties

open System
open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open Schedulers.Core
open Schedulers.Evaluation
open Schedulers.PropertyTests.TargetsProperties

/// A Gaussian in 1–6 dimensions: a mean in [−5, 5]^d and a covariance A·Aᵀ + 0.1·I with A's entries in [−1, 1].
type RandomGaussian = RandomGaussian of mean: float[] * cov: float[][]

/// Generators for the metric properties.
type MetricGenerators =
    /// Random Gaussians (dimension 1–6).
    static member RandomGaussian() : Arbitrary<RandomGaussian> =
        let unit = Gen.choose (-1_000_000, 1_000_000) |> Gen.map (fun i -> float i / 1e6)
        gen {
            let! d = Gen.choose (1, 6)
            let! mean = Gen.arrayOfLength d (unit |> Gen.map ((*) 5.0))
            let! a = Gen.arrayOfLength d (Gen.arrayOfLength d unit)
            let cov =
                Array.init d (fun i ->
                    Array.init d (fun j -> Array.fold2 (fun s x y -> s + x * y) 0.0 a[i] a[j] + (if i = j then 0.1 else 0.0)))
            return RandomGaussian(mean, cov)
        }
        |> Arb.fromGen

let private trace (m: float[][]) = Array.init m.Length (fun i -> m[i][i]) |> Array.sum

/// A [n; d] standard-normal-ish cloud from the key.
let private cloud (key: PrngKey) (n: int) (d: int) = NdArray.normal [| n; d |] key

let private shifted (c: float32[]) (x: NdArray) =
    let d = c.Length
    NdArray.init x.Shape (fun i -> x[i] + c[i % d])

[<Properties(Arbitrary = [| typeof<Generators>; typeof<MetricGenerators> |], MaxTest = 100)>]
module Frechet =

    [<Property>]
    let ``identical Gaussians are at distance 0`` (RandomGaussian(mu, cov)) =
        let fd = Metrics.frechetDistanceOfGaussians mu cov mu cov
        fd >= 0.0 && fd <= 1e-9 * (1.0 + trace cov)

    [<Property>]
    let ``shifted Gaussians with equal covariance are at ‖Δμ‖²`` (RandomGaussian(mu, cov)) (RandomGaussian(shift, _)) =
        let shift = Array.init mu.Length (fun i -> if i < shift.Length then shift[i] else 1.0)
        let mu2 = Array.map2 (+) mu shift
        let expected = shift |> Array.sumBy (fun v -> v * v)
        let fd = Metrics.frechetDistanceOfGaussians mu cov mu2 cov
        abs (fd - expected) <= 1e-9 * (1.0 + expected + trace cov)

    [<Property>]
    let ``commuting (diagonal) covariances give Σ (√a − √b)²`` (RandomGaussian(mu, _)) (key: PrngKey) =
        let d = mu.Length
        let u = Prng.uniform [| 2 * d |] key |> Array.map (fun v -> 0.05 + 4.0 * float v)
        let diag (xs: float[]) = Array.init d (fun i -> Array.init d (fun j -> if i = j then xs[i] else 0.0))
        let a, b = u[.. d - 1], u[d ..]
        let expected = Array.fold2 (fun s x y -> s + (sqrt x - sqrt y) ** 2.0) 0.0 a b
        let fd = Metrics.frechetDistanceOfGaussians mu (diag a) mu (diag b)
        abs (fd - expected) <= 1e-10 * (1.0 + expected)

    [<Property>]
    let ``the distance is symmetric`` (RandomGaussian(mu1, c1)) (key: PrngKey) =
        let d = mu1.Length
        let z = Prng.normal [| d + d * d |] key |> Array.map float
        let mu2 = z[.. d - 1]
        let c2 = Array.init d (fun i -> Array.init d (fun j -> c1[i][j] * 0.5 + (if i = j then abs z[d + i * d + j] else 0.0)))
        let ab = Metrics.frechetDistanceOfGaussians mu1 c1 mu2 c2
        let ba = Metrics.frechetDistanceOfGaussians mu2 c2 mu1 c1
        abs (ab - ba) <= 1e-9 * (1.0 + ab)

    [<Property>]
    let ``a sample against itself is 0 and against its shift is ‖c‖²`` (key: PrngKey) (RandomGaussian(c, _)) =
        let d = min c.Length 4
        let c = Array.init d (fun i -> float32 c[i])
        let x = cloud key 64 d
        let expected = c |> Array.sumBy (fun v -> float v * float v)
        let self = Metrics.frechetDistance x x
        // The shifted sample's coordinates are rounded to float32, so its covariance differs by round-off.
        let moved = Metrics.frechetDistance x (shifted c x)
        self <= 1e-9 && abs (moved - expected) <= 1e-4 * (1.0 + expected)

    [<Xunit.Fact>]
    let ``the Gaussian fit of a sample is its mean and unbiased covariance`` () =
        let x = NdArray.create [| 3; 2 |] [| 1.0f; 2.0f; 3.0f; 6.0f; 5.0f; 1.0f |]
        let mean, cov = Metrics.gaussianFit x
        ensure (mean = [| 3.0; 3.0 |]) (fun () -> sprintf "%A" mean)
        ensure (cov = [| [| 4.0; -1.0 |]; [| -1.0; 7.0 |] |]) (fun () -> sprintf "%A" cov)

[<Properties(Arbitrary = [| typeof<Generators> |], MaxTest = 100)>]
module SlicedWasserstein =

    /// W₂² by replication: repeat each of a's n values m times and each of b's m values n times; the
    /// equal-size sorted pairing is then the exact coupling.
    let private byReplication (a: float[]) (b: float[]) =
        let n, m = a.Length, b.Length
        let ra = a |> Array.collect (Array.create m)
        let rb = b |> Array.collect (Array.create n)
        Array.fold2 (fun s x y -> s + (x - y) * (x - y)) 0.0 ra rb / float (n * m)

    [<Property>]
    let ``1-D W2² of different sizes equals the replicated equal-size pairing`` (key: PrngKey) (PositiveInt n) (PositiveInt m) =
        let n, m = 1 + n % 13, 1 + m % 17
        let keys = Prng.split 2 key
        let a = Prng.normal [| n |] keys[0] |> Array.map float |> Array.sort
        let b = Prng.normal [| m |] keys[1] |> Array.map (fun v -> 2.0 * float v + 1.0) |> Array.sort
        let exact = Metrics.wasserstein2Squared1d a b
        abs (exact - byReplication a b) <= 1e-12 * (1.0 + exact)

    [<Property>]
    let ``a sample against itself is 0 and the distance is symmetric`` (key: PrngKey) =
        let keys = Prng.split 3 key
        let x = cloud keys[0] 50 3
        let y = cloud keys[1] 70 3
        Metrics.slicedWasserstein2 keys[2] 16 x x = 0.0
        && Metrics.slicedWasserstein2 keys[2] 16 x y = Metrics.slicedWasserstein2 keys[2] 16 y x

    [<Property>]
    let ``a sample repeated twice has the same law as the sample`` (key: PrngKey) =
        let x = cloud key 40 2
        let twice = NdArray.create [| 80; 2 |] (Array.append (x.ToArray()) (x.ToArray()))
        Metrics.slicedWasserstein2 (Prng.foldIn 1u key) 16 x twice <= 1e-12

    [<Property>]
    let ``in 1-D a shift by c gives exactly |c|`` (key: PrngKey) (NormalFloat c) =
        let c = float32 (c % 100.0)
        let x = cloud key 100 1
        let moved = shifted [| c |] x
        // Exact up to the float32 rounding of the shifted points.
        let expected = Array.map2 (fun (a: float32) (b: float32) -> float b - float a) (x.ToArray()) (moved.ToArray())
        let rms = sqrt (expected |> Array.averageBy (fun v -> v * v))
        abs (Metrics.slicedWasserstein2 key 3 x moved - rms) <= 1e-9 * (1.0 + rms)

    [<Xunit.Fact>]
    let ``in D dimensions a shift by c gives about ‖c‖/√D`` () =
        for d in [ 2; 5; 16 ] do
            let x = cloud (Prng.key 5L) 200 d
            let c = Array.init d (fun i -> float32 (1 + i % 3))
            let norm = sqrt (c |> Array.sumBy (fun v -> float v * float v))
            let sw = Metrics.slicedWasserstein2 (Prng.key 6L) 800 x (shifted c x)
            ensure (abs (sw - norm / sqrt (float d)) <= 0.05 * norm / sqrt (float d)) (fun () ->
                sprintf "D = %d: SW2 = %g, expected ≈ %g" d sw (norm / sqrt (float d)))

[<Properties(Arbitrary = [| typeof<Generators> |], MaxTest = 10)>]
module Reports =

    [<Property>]
    let ``the report is a function of the key`` (key: PrngKey) =
        let samples = Targets.sample (Prng.foldIn 9u key) 300 Targets.ring8
        let a = Metrics.evaluateWith key 32 500 Targets.ring8 samples
        let b = Metrics.evaluateWith key 32 500 Targets.ring8 samples
        a = b && Metrics.formatTable [ "x", a ] = Metrics.formatTable [ "x", b ]

    [<Xunit.Fact>]
    let ``exact draws score well and a collapsed sampler scores badly`` () =
        let key = Prng.key 21L
        for m in [ Targets.ring8; Targets.line1d; Targets.gaussian64 ] do
            let good = Metrics.evaluateWith key 32 1000 m (Targets.sample (Prng.key 22L) 1000 m)
            let first = Targets.sample (Prng.key 23L) 1000 (Targets.create "first" [| 1.0 |] [| m.Means[0] |] [| m.Variances[0] |])
            let bad = Metrics.evaluateWith key 32 1000 m first
            ensure (good.Coverage.ModesCovered = m.ComponentCount && bad.Coverage.ModesCovered = 1) (fun () ->
                sprintf "%s modes: good %d, collapsed %d" m.Name good.Coverage.ModesCovered bad.Coverage.ModesCovered)
            // A few draws of the first component's far tail may fall to a neighbour.
            ensure (abs (bad.Coverage.TotalVariation - (1.0 - m.Weights[0])) < 0.01) (fun () ->
                sprintf "%s collapsed TV %g" m.Name bad.Coverage.TotalVariation)
            ensure (good.Coverage.TotalVariation < 0.05) (fun () -> sprintf "%s good TV %g" m.Name good.Coverage.TotalVariation)
            ensure (good.SlicedWasserstein2 < bad.SlicedWasserstein2 / 4.0) (fun () ->
                sprintf "%s SW2 good %g vs collapsed %g" m.Name good.SlicedWasserstein2 bad.SlicedWasserstein2)
            ensure (good.FrechetDistance < bad.FrechetDistance / 10.0) (fun () ->
                sprintf "%s FD good %g vs collapsed %g" m.Name good.FrechetDistance bad.FrechetDistance)
            // Exact draws have the target's expected log-density (−entropy) up to sampling error.
            ensure (abs (good.MeanLogDensity - good.ReferenceMeanLogDensity) < 0.1 * (1.0 + abs good.ReferenceMeanLogDensity)) (fun () ->
                sprintf "%s mean log p %g vs reference %g" m.Name good.MeanLogDensity good.ReferenceMeanLogDensity)

    [<Xunit.Fact>]
    let ``mode coverage and mean log-density follow their definitions`` () =
        let m = Targets.line1d
        let x = NdArray.create [| 5; 1 |] [| -3.0f; -2.9f; 0.1f; 2.5f; 40.0f |]
        let c = Metrics.modeCoverage m x
        // 40 is far from everything: the widest component (std 0.6 at 0) is the most responsible there.
        ensure (c.Counts = [| 2; 2; 1 |] && c.Shares = [| 0.4; 0.4; 0.2 |]) (fun () -> sprintf "%A" c)
        let tv = 0.5 * (abs (0.4 - 0.2) + abs (0.4 - 0.5) + abs (0.2 - 0.3))
        ensure (abs (c.TotalVariation - tv) < 1e-12 && c.ModesCovered = 3) (fun () -> sprintf "%A" c)
        let expected = Targets.logDensity m x |> Array.average
        ensure (Metrics.meanLogDensity m x = expected) (fun () -> "meanLogDensity")

    [<Xunit.Fact>]
    let ``non-finite rows are dropped and counted`` () =
        let m = Targets.ring8
        let x = Targets.sample (Prng.key 1L) 100 m
        let data = x.ToArray()
        data[10] <- nanf
        data[51] <- infinityf
        let report = Metrics.evaluateWith (Prng.key 2L) 16 200 m (NdArray.create [| 100; 2 |] data)
        ensure (report.SampleCount = 98 && report.NonFiniteCount = 2 && Double.IsFinite report.SlicedWasserstein2) (fun () -> sprintf "%A" report)
        let text = Metrics.format "euler" report
        ensure (text.Contains "euler" && text.Contains "target ring8, 200 reference points, 16 projections") (fun () -> text)
        let lines = text.TrimEnd().Split('\n') |> Array.skip 1
        ensure (lines |> Array.forall (fun l -> l.Length = lines[0].Length)) (fun () -> text)
        let threw =
            try
                Metrics.frechetDistance (NdArray.create [| 100; 2 |] data) x |> ignore
                ""
            with :? ArgumentException as e -> e.Message
        ensure (threw.StartsWith "samples[5,0] is ") (fun () -> threw)
