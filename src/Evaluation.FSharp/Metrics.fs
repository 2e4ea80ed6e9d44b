namespace Schedulers.Evaluation

open System
open Schedulers.Core
open MathNet.Numerics.LinearAlgebra

/// How a sample's points fall on the target's components: each point goes to its most responsible component.
type ModeCoverage =
    { /// The number of points assigned to each component.
      Counts: int[]
      /// Counts / N: the share of points per component.
      Shares: float[]
      /// The target's weights, for comparison with `Shares`.
      Weights: float[]
      /// ½ Σ_k |share_k − w_k|: 0 when the shares equal the weights, 1 when they are disjoint.
      TotalVariation: float
      /// The number of components that received at least a quarter of their expected share (w_k / 4).
      ModesCovered: int }

/// Every quality number of one sample against its target.
type QualityReport =
    { /// The target's name.
      Target: string
      /// The number of points evaluated (the finite ones).
      SampleCount: int
      /// Points dropped because a coordinate was NaN or infinite (a diverged sampler).
      NonFiniteCount: int
      /// The size of the fresh reference sample drawn from the target.
      ReferenceCount: int
      /// The number of random directions of the sliced Wasserstein distance.
      Projections: int
      /// SW₂ to the reference sample (same units as x; 0 for equal laws).
      SlicedWasserstein2: float
      /// The squared Fréchet distance between Gaussian fits of the sample and the reference.
      FrechetDistance: float
      /// Mode coverage against the target's weights.
      Coverage: ModeCoverage
      /// The mean exact log-density of the sample's points under the target.
      MeanLogDensity: float
      /// The same mean over the reference sample (≈ −entropy of the target): what a perfect sampler scores.
      ReferenceMeanLogDensity: float }

/// Sample-quality metrics against a `GaussianMixture`: sliced Wasserstein-2, Fréchet distance, mode coverage and
/// mean exact log-density. Pure and deterministic: the only randomness comes from the key given.
module Metrics =

    /// The number of directions `evaluate` uses unless told otherwise.
    let defaultProjections = 128

    /// The reference sample size `evaluate` uses unless told otherwise.
    let defaultReferenceCount = 4096

    /// The rows of a [B; D] array (any shape [B; ...]) as float64 points; throws on a non-finite coordinate.
    let private points (name: string) (x: NdArray) : float[][] =
        if obj.ReferenceEquals(x, null) then nullArg name
        if x.Rank < 2 || x.BatchSize = 0 then
            invalidArg name (sprintf "%s has shape %s but must be [B,D] with B ≥ 1" name x.ShapeText)
        let b = x.BatchSize
        let d = x.Length / b
        let span = x.ToArray()
        Array.init b (fun i ->
            Array.init d (fun j ->
                let v = span[i * d + j]
                if not (Single.IsFinite v) then
                    invalidArg name (sprintf "%s[%d,%d] is %g but every coordinate must be finite" name i j v)
                float v))

    let private checkDimensions (nameA: string) (a: float[][]) (nameB: string) (b: float[][]) =
        if a[0].Length <> b[0].Length then
            invalidArg nameB (sprintf "%s has %d coordinates per point but %s has %d" nameA a[0].Length nameB b[0].Length)

    /// W₂² between the empirical laws of two sorted 1-D samples: ∫₀¹ (F_a⁻¹(u) − F_b⁻¹(u))² du, exact for any
    /// sizes (the quantile functions are step functions; their breakpoints i/n and j/m are merged in integers).
    let wasserstein2Squared1d (sortedA: float[]) (sortedB: float[]) : float =
        let n = sortedA.Length
        let m = sortedB.Length
        if n = 0 || m = 0 then invalidArg "sortedA" "both samples must hold at least one value"
        if n = m then
            let mutable s = 0.0
            for i in 0 .. n - 1 do
                let r = sortedA[i] - sortedB[i]
                s <- s + r * r
            s / float n
        else
            // Positions on [0, 1] in units of 1/(n·m): a's step i ends at (i+1)·m, b's step j at (j+1)·n.
            let mutable i = 0
            let mutable j = 0
            let mutable pos = 0L
            let mutable s = 0.0
            while i < n && j < m do
                let endA = int64 (i + 1) * int64 m
                let endB = int64 (j + 1) * int64 n
                let next = min endA endB
                let r = sortedA[i] - sortedB[j]
                s <- s + float (next - pos) * r * r
                pos <- next
                if endA = next then i <- i + 1
                if endB = next then j <- j + 1
            s / (float n * float m)

    let private unitDirections (key: PrngKey) (count: int) (d: int) : float[][] =
        let z = Prng.normal [| count; d |] key
        Array.init count (fun p ->
            let row = Array.init d (fun j -> float z[p * d + j])
            let norm = sqrt (row |> Array.sumBy (fun v -> v * v))
            // An all-zero normal draw has probability ~0; the first axis keeps the result defined.
            if norm > 0.0 then row |> Array.map (fun v -> v / norm) else Array.init d (fun j -> if j = 0 then 1.0 else 0.0))

    let private slicedOfPoints (key: PrngKey) (numProjections: int) (a: float[][]) (b: float[][]) : float =
        let d = a[0].Length
        let dirs = unitDirections key numProjections d
        // Plain loops: this is the hot path (P · (N + M) · D multiply-adds), also in unoptimised builds.
        let project (xs: float[][]) (theta: float[]) =
            let p = Array.zeroCreate<float> xs.Length
            for i in 0 .. xs.Length - 1 do
                let x = xs[i]
                let mutable acc = 0.0
                for j in 0 .. d - 1 do
                    acc <- acc + x[j] * theta[j]
                p[i] <- acc
            Array.Sort p
            p
        let total = dirs |> Array.sumBy (fun theta -> wasserstein2Squared1d (project a theta) (project b theta))
        sqrt (total / float numProjections)

    /// Sliced Wasserstein-2: SW₂ = (1/P · Σ_p W₂²(θ_p·X, θ_p·Y))^½ over P unit directions θ_p drawn from the key
    /// (normalised standard normals, the same directions for both samples). Each 1-D W₂² is exact between the two
    /// empirical laws, also for different sizes. In the units of x: a shift by c gives SW₂ ≈ ‖c‖/√D
    /// (exactly |c| in 1-D), since E[(θ·c)²] = ‖c‖²/D for a uniform direction.
    let slicedWasserstein2 (key: PrngKey) (numProjections: int) (samples: NdArray) (reference: NdArray) : float =
        if numProjections < 1 then
            invalidArg "numProjections" (sprintf "numProjections is %d but must be at least 1" numProjections)
        let a = points "samples" samples
        let b = points "reference" reference
        checkDimensions "samples" a "reference" b
        slicedOfPoints key numProjections a b

    /// The mean and the unbiased (N − 1) covariance of a set of points; needs at least two.
    let private fitPoints (name: string) (xs: float[][]) : float[] * float[][] =
        let n = xs.Length
        if n < 2 then invalidArg name (sprintf "%s has %d points but a covariance needs at least 2" name n)
        let d = xs[0].Length
        let mu = Array.init d (fun j -> (xs |> Array.sumBy (fun x -> x[j])) / float n)
        let cov = Array.init d (fun _ -> Array.zeroCreate<float> d)
        for x in xs do
            for i in 0 .. d - 1 do
                let ri = x[i] - mu[i]
                let row = cov[i]
                for j in i .. d - 1 do
                    row[j] <- row[j] + ri * (x[j] - mu[j])
        for i in 0 .. d - 1 do
            for j in i .. d - 1 do
                cov[i][j] <- cov[i][j] / float (n - 1)
                cov[j][i] <- cov[i][j]
        mu, cov

    /// The Gaussian fit (mean, unbiased covariance as rows) of a [B; D] sample with B ≥ 2.
    let gaussianFit (samples: NdArray) : float[] * float[][] = fitPoints "samples" (points "samples" samples)

    let private eigenvaluesSymmetric (m: Matrix<float>) : float[] =
        let sym = (m + m.Transpose()) * 0.5
        sym.Evd(Symmetricity.Symmetric).EigenValues.Real().ToArray()

    /// The symmetric square root V·diag(√max(λ, 0))·Vᵀ of a symmetric positive semi-definite matrix
    /// (round-off negatives of λ are clamped to 0).
    let symmetricSqrt (m: Matrix<float>) : Matrix<float> =
        let sym = (m + m.Transpose()) * 0.5
        let evd = sym.Evd(Symmetricity.Symmetric)
        let v = evd.EigenVectors
        let roots = evd.EigenValues.Real().Map(fun l -> sqrt (max l 0.0))
        v * Matrix<float>.Build.DiagonalOfDiagonalVector(roots) * v.Transpose()

    /// The squared Fréchet (2-Wasserstein) distance between N(μ1, Σ1) and N(μ2, Σ2):
    /// ‖μ1 − μ2‖² + Tr(Σ1 + Σ2 − 2 (Σ1^½ Σ2 Σ1^½)^½), with symmetric square roots by eigendecomposition.
    /// Clamped at 0 against round-off (it is 0 for equal Gaussians).
    let frechetDistanceOfGaussians (mu1: float[]) (cov1: float[][]) (mu2: float[]) (cov2: float[][]) : float =
        if Targets.missing mu1 then nullArg "mu1"
        if Targets.missing mu2 then nullArg "mu2"
        let d = mu1.Length
        if mu2.Length <> d then invalidArg "mu2" (sprintf "mu2 has length %d but mu1 has %d" mu2.Length d)
        let toMatrix (name: string) (rows: float[][]) =
            if Targets.missing rows || rows.Length <> d || rows |> Array.exists (fun r -> Targets.missing r || r.Length <> d) then
                invalidArg name (sprintf "%s must be a %d×%d matrix (array of %d rows of length %d)" name d d d d)
            Matrix<float>.Build.DenseOfRowArrays(rows)
        let s1 = toMatrix "cov1" cov1
        let s2 = toMatrix "cov2" cov2
        let meanTerm = Array.fold2 (fun s a b -> s + (a - b) * (a - b)) 0.0 mu1 mu2
        let root1 = symmetricSqrt s1
        let traceCross = eigenvaluesSymmetric (root1 * s2 * root1) |> Array.sumBy (fun l -> sqrt (max l 0.0))
        max 0.0 (meanTerm + s1.Trace() + s2.Trace() - 2.0 * traceCross)

    let private frechetOfPoints (a: float[][]) (b: float[][]) =
        let mu1, c1 = fitPoints "samples" a
        let mu2, c2 = fitPoints "reference" b
        frechetDistanceOfGaussians mu1 c1 mu2 c2

    /// The squared Fréchet distance between Gaussian fits (mean, unbiased covariance) of two samples, as FID
    /// computes it on features; here on the points themselves.
    let frechetDistance (samples: NdArray) (reference: NdArray) : float =
        let a = points "samples" samples
        let b = points "reference" reference
        checkDimensions "samples" a "reference" b
        frechetOfPoints a b

    let private checkTargetDimension (mixture: GaussianMixture) (xs: float[][]) =
        if xs[0].Length <> mixture.Dimension then
            invalidArg "samples" (sprintf "samples have %d coordinates but the target '%s' has dimension %d" xs[0].Length mixture.Name mixture.Dimension)

    let private coverageOfPoints (mixture: GaussianMixture) (xs: float[][]) : ModeCoverage =
        let counts = Array.zeroCreate<int> mixture.ComponentCount
        for x in xs do
            let lj = Targets.componentLogJoint mixture x
            // argmax of the log joint = argmax of the responsibility (same normaliser); ties go to the lower index.
            let mutable best = 0
            for k in 1 .. lj.Length - 1 do
                if lj[k] > lj[best] then best <- k
            counts[best] <- counts[best] + 1
        let n = float xs.Length
        let shares = counts |> Array.map (fun c -> float c / n)
        { Counts = counts
          Shares = shares
          Weights = Array.copy mixture.Weights
          TotalVariation = 0.5 * Array.fold2 (fun s a w -> s + abs (a - w)) 0.0 shares mixture.Weights
          ModesCovered = Array.fold2 (fun c a w -> if a >= w / 4.0 then c + 1 else c) 0 shares mixture.Weights }

    /// Assigns every point to its most responsible component (max p(k | x) under the clean target) and compares
    /// the shares with the weights.
    let modeCoverage (mixture: GaussianMixture) (samples: NdArray) : ModeCoverage =
        let xs = points "samples" samples
        checkTargetDimension mixture xs
        coverageOfPoints mixture xs

    /// The mean of log p(x) over the points, under the clean target (higher is better up to the target's
    /// −entropy; points off the target's support drive it down quadratically).
    let meanLogDensity (mixture: GaussianMixture) (samples: NdArray) : float =
        let xs = points "samples" samples
        checkTargetDimension mixture xs
        xs |> Array.averageBy (Targets.logDensityAt mixture)

    /// All four metrics of a sample against its target. A fresh reference sample of `referenceCount` points comes
    /// from `Targets.sample (Prng.foldIn 0u key)` and the directions from `Prng.foldIn 1u key`. Rows with a
    /// non-finite coordinate are dropped and counted; with fewer than 2 finite rows the distances are +∞.
    let evaluateWith (key: PrngKey) (numProjections: int) (referenceCount: int) (mixture: GaussianMixture) (samples: NdArray) : QualityReport =
        if numProjections < 1 then
            invalidArg "numProjections" (sprintf "numProjections is %d but must be at least 1" numProjections)
        if referenceCount < 2 then
            invalidArg "referenceCount" (sprintf "referenceCount is %d but must be at least 2" referenceCount)
        if obj.ReferenceEquals(samples, null) then nullArg "samples"
        if samples.Rank < 2 || samples.BatchSize = 0 || samples.Length <> samples.BatchSize * mixture.Dimension then
            invalidArg "samples" (sprintf "samples has shape %s but the target '%s' needs [B,%d] with B ≥ 1" samples.ShapeText mixture.Name mixture.Dimension)
        let d = mixture.Dimension
        let span = samples.ToArray()
        let all = Array.init samples.BatchSize (fun i -> Array.init d (fun j -> float span[i * d + j]))
        let finite = all |> Array.filter (Array.forall Double.IsFinite)
        let reference = Targets.sample (Prng.foldIn 0u key) referenceCount mixture |> points "reference"
        let referenceLogDensity = reference |> Array.averageBy (Targets.logDensityAt mixture)
        let enough = finite.Length >= 2
        { Target = mixture.Name
          SampleCount = finite.Length
          NonFiniteCount = all.Length - finite.Length
          ReferenceCount = referenceCount
          Projections = numProjections
          SlicedWasserstein2 = if enough then slicedOfPoints (Prng.foldIn 1u key) numProjections finite reference else infinity
          FrechetDistance = if enough then frechetOfPoints finite reference else infinity
          Coverage =
            if finite.Length > 0 then coverageOfPoints mixture finite
            else
                { Counts = Array.zeroCreate mixture.ComponentCount
                  Shares = Array.zeroCreate mixture.ComponentCount
                  Weights = Array.copy mixture.Weights
                  TotalVariation = 1.0
                  ModesCovered = 0 }
          MeanLogDensity = if finite.Length > 0 then finite |> Array.averageBy (Targets.logDensityAt mixture) else -infinity
          ReferenceMeanLogDensity = referenceLogDensity }

    /// `evaluateWith` with `defaultProjections` directions and `defaultReferenceCount` reference points.
    let evaluate (key: PrngKey) (mixture: GaussianMixture) (samples: NdArray) : QualityReport =
        evaluateWith key defaultProjections defaultReferenceCount mixture samples

    let private num (v: float) =
        if Double.IsNaN v then "n/a"
        elif Double.IsPositiveInfinity v then "inf"
        elif Double.IsNegativeInfinity v then "-inf"
        else v.ToString("0.0000", Globalization.CultureInfo.InvariantCulture)

    /// A short one-line summary for plot titles: `SW2 0.0123  FD 0.0045  TV 0.020  8/8 modes  log p -2.31`.
    let summaryLine (report: QualityReport) : string =
        sprintf "SW2 %s  FD %s  TV %s  %d/%d modes  log p %s"
            (num report.SlicedWasserstein2) (num report.FrechetDistance) (num report.Coverage.TotalVariation)
            report.Coverage.ModesCovered report.Coverage.Weights.Length (num report.MeanLogDensity)

    /// A text table with one row per named report (e.g. one per scheduler), columns aligned, values in
    /// invariant culture: name, points (non-finite), SW₂, Fréchet, mode TV, modes covered, mean log p (reference).
    let formatTable (rows: seq<string * QualityReport>) : string =
        let rows = List.ofSeq rows
        let header = [| "sampler"; "points"; "non-finite"; "SW2"; "Frechet"; "mode TV"; "modes"; "mean log p"; "ref log p" |]
        let cells =
            rows
            |> List.map (fun (name, r) ->
                [| name
                   string r.SampleCount
                   string r.NonFiniteCount
                   num r.SlicedWasserstein2
                   num r.FrechetDistance
                   num r.Coverage.TotalVariation
                   sprintf "%d/%d" r.Coverage.ModesCovered r.Coverage.Weights.Length
                   num r.MeanLogDensity
                   num r.ReferenceMeanLogDensity |])
        let all = header :: cells
        let widths = Array.init header.Length (fun c -> all |> List.map (fun row -> row[c].Length) |> List.max)
        let line (row: string[]) =
            row
            |> Array.mapi (fun c s -> if c = 0 then s.PadRight widths[c] else s.PadLeft widths[c])
            |> String.concat "  "
        let rule = widths |> Array.map (fun w -> String('-', w)) |> String.concat "  "
        let target =
            match rows with
            | (_, r) :: _ -> sprintf "target %s, %d reference points, %d projections\n" r.Target r.ReferenceCount r.Projections
            | [] -> ""
        target + String.concat "\n" ([ line header; rule ] @ (cells |> List.map line)) + "\n"

    /// The table of a single report, under the given name.
    let format (name: string) (report: QualityReport) : string = formatTable [ name, report ]
