namespace Schedulers.Evaluation

open System
open Schedulers.Core

/// A mixture of Gaussians with diagonal covariances: Σ_k w_k N(μ_k, diag(v_k)). Built-in targets with exact
/// densities, so a sampler's output can be compared with ground truth; every perturbed density
/// (x = α·x0 + s·z) of such a mixture is again such a mixture, so its score is exact too.
type GaussianMixture =
    { /// A short name for tables and plot titles (`ring8`, `grid`, ...).
      Name: string
      /// The mixing weights w_k: positive, summing to 1.
      Weights: float[]
      /// The component means μ_k, each of length D.
      Means: float[][]
      /// The per-coordinate component variances v_k (diagonal covariances), each of length D, all positive.
      Variances: float[][] }

    /// The number of components K.
    member m.ComponentCount = m.Weights.Length

    /// The dimension D of a point.
    member m.Dimension = if m.Means.Length = 0 then 0 else m.Means[0].Length

/// The built-in targets, exact sampling and the exact (perturbed) log-densities, scores and denoisers.
/// Computation is in float64; batches come in and go out as float32 `NdArray`s of shape [B; D]
/// (any shape [B; ...] whose slices hold D elements is accepted and kept).
module Targets =

    let private log2Pi = log (2.0 * Math.PI)

    /// True for a null reference (arguments from C# may be null even where F# types say otherwise).
    let inline internal missing (x: 'T) = obj.ReferenceEquals(x, null)

    /// A mixture from weights, means and diagonal variances, checked: weights positive (normalised to sum 1),
    /// every mean and variance row of the same length D ≥ 1, variances positive and finite.
    let create (name: string) (weights: float[]) (means: float[][]) (variances: float[][]) : GaussianMixture =
        if missing name then nullArg "name"
        if missing weights then nullArg "weights"
        if missing means then nullArg "means"
        if missing variances then nullArg "variances"
        let k = weights.Length
        if k = 0 then invalidArg "weights" "weights is empty but a mixture needs at least one component"
        if means.Length <> k then
            invalidArg "means" (sprintf "means has %d rows but weights has %d components" means.Length k)
        if variances.Length <> k then
            invalidArg "variances" (sprintf "variances has %d rows but weights has %d components" variances.Length k)
        weights
        |> Array.iteri (fun i w ->
            if not (w > 0.0 && Double.IsFinite w) then
                invalidArg "weights" (sprintf "weights[%d] is %g but must be positive and finite" i w))
        let d = if missing (means[0]) then 0 else means[0].Length
        if d = 0 then invalidArg "means" "means[0] is empty but the dimension must be at least 1"
        for i in 0 .. k - 1 do
            if missing (means[i]) || means[i].Length <> d then
                invalidArg "means" (sprintf "means[%d] does not have length %d like means[0]" i d)
            if missing (variances[i]) || variances[i].Length <> d then
                invalidArg "variances" (sprintf "variances[%d] does not have length %d like means[0]" i d)
            means[i]
            |> Array.iteri (fun j v ->
                if not (Double.IsFinite v) then
                    invalidArg "means" (sprintf "means[%d][%d] is %g but must be finite" i j v))
            variances[i]
            |> Array.iteri (fun j v ->
                if not (v > 0.0 && Double.IsFinite v) then
                    invalidArg "variances" (sprintf "variances[%d][%d] is %g but must be positive and finite" i j v))
        let total = Array.sum weights
        { Name = name
          Weights = weights |> Array.map (fun w -> w / total)
          Means = means |> Array.map Array.copy
          Variances = variances |> Array.map Array.copy }

    /// A mixture whose component k has the isotropic covariance stds[k]²·I.
    let isotropic (name: string) (weights: float[]) (means: float[][]) (stds: float[]) : GaussianMixture =
        if missing stds then nullArg "stds"
        if missing means then nullArg "means"
        if stds.Length <> means.Length then
            invalidArg "stds" (sprintf "stds has %d entries but means has %d rows" stds.Length means.Length)
        let d = if means.Length = 0 || missing (means[0]) then 0 else means[0].Length
        create name weights means (stds |> Array.map (fun s -> Array.create d (s * s)))

    /// 8 equal-weight components on a circle of radius 4, std 0.25: the default 2-D target.
    let ring8 : GaussianMixture =
        let means = Array.init 8 (fun k -> let a = 2.0 * Math.PI * float k / 8.0 in [| 4.0 * cos a; 4.0 * sin a |])
        isotropic "ring8" (Array.create 8 1.0) means (Array.create 8 0.25)

    /// 25 equal-weight components on the 5×5 grid {−4, −2, 0, 2, 4}², std 0.25.
    let grid : GaussianMixture =
        let means = Array.init 25 (fun k -> [| -4.0 + 2.0 * float (k % 5); -4.0 + 2.0 * float (k / 5) |])
        isotropic "grid" (Array.create 25 1.0) means (Array.create 25 0.25)

    /// Two interleaved half-circles (as scikit-learn's `make_moons`, scaled by 2.5 and centred), each drawn by
    /// 16 equal-weight components of std 0.2: a curved, connected target.
    let moons : GaussianMixture =
        let perArc = 16
        let scaleBy = 2.5
        let point (x: float) (y: float) = [| scaleBy * (x - 0.5); scaleBy * (y - 0.25) |]
        let means =
            Array.init (2 * perArc) (fun k ->
                let t = Math.PI * float (k % perArc) / float (perArc - 1)
                if k < perArc then point (cos t) (sin t) else point (1.0 - cos t) (0.5 - sin t))
        isotropic "moons" (Array.create (2 * perArc) 1.0) means (Array.create (2 * perArc) 0.2)

    /// A 1-D mixture with unequal weights 0.2, 0.5, 0.3 at −3, 0, 2.5 and stds 0.4, 0.6, 0.3.
    let line1d : GaussianMixture =
        isotropic "line1d" [| 0.2; 0.5; 0.3 |] [| [| -3.0 |]; [| 0.0 |]; [| 2.5 |] |] [| 0.4; 0.6; 0.3 |]

    /// A 64-D mixture of 8 equal-weight components with std 0.4 whose means are ±0.75 along rows 0–7 of the
    /// 64×64 Walsh–Hadamard matrix (sign (−1)^popcount(k AND d)) with the columns shifted by one (d = j + 1 mod 64):
    /// all at norm 6 and pairwise 6√2 apart, and the first two coordinates split them into four pairs.
    let gaussian64 : GaussianMixture =
        let sign (k: int) (j: int) =
            if Numerics.BitOperations.PopCount(uint32 (k &&& ((j + 1) % 64))) % 2 = 0 then 0.75 else -0.75
        let means = Array.init 8 (fun k -> Array.init 64 (sign k))
        isotropic "gaussian64" (Array.create 8 1.0) means (Array.create 8 0.4)

    /// Every built-in target, the default (`ring8`) first.
    let builtIns : GaussianMixture list = [ ring8; grid; moons; line1d; gaussian64 ]

    /// The built-in target with this name (case-insensitive); throws naming the known names otherwise.
    let byName (name: string) : GaussianMixture =
        match builtIns |> List.tryFind (fun m -> String.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase)) with
        | Some m -> m
        | None ->
            let known = builtIns |> List.map (fun m -> m.Name) |> String.concat ", "
            invalidArg "name" (sprintf "target is '%s' but must be one of %s" name known)

    /// The law of α·x0 + s·z with x0 from the mixture and z standard normal: Σ w_k N(α μ_k, α² v_k + s²).
    let perturb (alpha: float) (sigma: float) (mixture: GaussianMixture) : GaussianMixture =
        if not (Double.IsFinite alpha) then invalidArg "alpha" (sprintf "alpha is %g but must be finite" alpha)
        if not (sigma >= 0.0 && Double.IsFinite sigma) then
            invalidArg "sigma" (sprintf "sigma is %g but must be non-negative and finite" sigma)
        { mixture with
            Means = mixture.Means |> Array.map (Array.map (fun m -> alpha * m))
            Variances = mixture.Variances |> Array.map (Array.map (fun v -> alpha * alpha * v + sigma * sigma)) }

    /// The marginal law of the given coordinates (exact for diagonal covariances), e.g. [|0; 1|] for a 2-D view.
    let marginal (coordinates: int[]) (mixture: GaussianMixture) : GaussianMixture =
        if missing coordinates then nullArg "coordinates"
        if coordinates.Length = 0 then invalidArg "coordinates" "coordinates is empty but must name at least one axis"
        coordinates
        |> Array.iter (fun c ->
            if c < 0 || c >= mixture.Dimension then
                invalidArg "coordinates" (sprintf "coordinate %d is outside [0, %d)" c mixture.Dimension))
        { mixture with
            Means = mixture.Means |> Array.map (fun m -> coordinates |> Array.map (fun c -> m[c]))
            Variances = mixture.Variances |> Array.map (fun v -> coordinates |> Array.map (fun c -> v[c])) }

    /// The mixture's mean Σ w_k μ_k.
    let mean (mixture: GaussianMixture) : float[] =
        Array.init mixture.Dimension (fun j -> Array.fold2 (fun s w (m: float[]) -> s + w * m[j]) 0.0 mixture.Weights mixture.Means)

    /// The mixture's covariance Σ w_k (diag(v_k) + μ_k μ_kᵀ) − μ μᵀ, as a D×D array of rows.
    let covariance (mixture: GaussianMixture) : float[][] =
        let mu = mean mixture
        let d = mixture.Dimension
        Array.init d (fun i ->
            Array.init d (fun j ->
                let mutable s = 0.0
                for k in 0 .. mixture.ComponentCount - 1 do
                    let m = mixture.Means[k]
                    s <- s + mixture.Weights[k] * ((if i = j then mixture.Variances[k][i] else 0.0) + m[i] * m[j])
                s - mu[i] * mu[j]))

    // ---- Single points, float64 -------------------------------------------------------------------------------

    let private checkPoint (mixture: GaussianMixture) (x: float[]) =
        if missing x then nullArg "x"
        if x.Length <> mixture.Dimension then
            invalidArg "x" (sprintf "x has %d coordinates but the target '%s' has dimension %d" x.Length mixture.Name mixture.Dimension)

    /// log w_k + log N(x; μ_k, diag v_k) for every component k.
    let componentLogJoint (mixture: GaussianMixture) (x: float[]) : float[] =
        checkPoint mixture x
        Array.init mixture.ComponentCount (fun k ->
            let m = mixture.Means[k]
            let v = mixture.Variances[k]
            let mutable quad = 0.0
            let mutable logDet = 0.0
            for j in 0 .. x.Length - 1 do
                let r = x[j] - m[j]
                quad <- quad + r * r / v[j]
                logDet <- logDet + log v[j]
            log mixture.Weights[k] - 0.5 * (quad + logDet + float x.Length * log2Pi))

    let private logSumExp (a: float[]) =
        let top = Array.max a
        if Double.IsNegativeInfinity top then top else top + log (a |> Array.sumBy (fun v -> exp (v - top)))

    /// The responsibilities p(k | x) (a softmax of `componentLogJoint`, computed with log-sum-exp).
    let responsibilitiesAt (mixture: GaussianMixture) (x: float[]) : float[] =
        let lj = componentLogJoint mixture x
        let lse = logSumExp lj
        lj |> Array.map (fun v -> exp (v - lse))

    /// log p(x) at one point, in float64.
    let logDensityAt (mixture: GaussianMixture) (x: float[]) : float = logSumExp (componentLogJoint mixture x)

    /// ∇ log p(x) = Σ_k p(k|x) · (μ_k − x) / v_k at one point, in float64.
    let scoreAt (mixture: GaussianMixture) (x: float[]) : float[] =
        let r = responsibilitiesAt mixture x
        Array.init x.Length (fun j ->
            let mutable s = 0.0
            for k in 0 .. r.Length - 1 do
                s <- s + r[k] * (mixture.Means[k][j] - x[j]) / mixture.Variances[k][j]
            s)

    /// E[x0 | α·x0 + s·z = x] at one point, in float64: Σ_k p_t(k|x) · (s² μ_k + α v_k x) / (α² v_k + s²),
    /// the Gaussian posterior mean per component (no division by α, so it stays exact as α → 0).
    let posteriorMeanAt (mixture: GaussianMixture) (alpha: float) (sigma: float) (x: float[]) : float[] =
        let r = responsibilitiesAt (perturb alpha sigma mixture) x
        let s2 = sigma * sigma
        Array.init x.Length (fun j ->
            let mutable acc = 0.0
            for k in 0 .. r.Length - 1 do
                let v = mixture.Variances[k][j]
                acc <- acc + r[k] * (s2 * mixture.Means[k][j] + alpha * v * x[j]) / (alpha * alpha * v + s2)
            acc)

    // ---- Batches: NdArray [B; D] in, float32 out ------------------------------------------------------------------

    let private checkBatch (mixture: GaussianMixture) (x: NdArray) =
        if obj.ReferenceEquals(x, null) then nullArg "x"
        let b = if x.Rank = 0 then 0 else x.BatchSize
        if x.Rank < 2 || b = 0 || x.Length <> b * mixture.Dimension then
            invalidArg "x" (sprintf "x has shape %s but the target '%s' needs [B,%d] with B ≥ 1" x.ShapeText mixture.Name mixture.Dimension)
        b

    let private rows (mixture: GaussianMixture) (x: NdArray) : float[][] =
        let b = checkBatch mixture x
        let d = mixture.Dimension
        let span = x.ToArray()
        Array.init b (fun i -> Array.init d (fun j -> float span[i * d + j]))

    let private ofRows (shape: int[]) (values: float[][]) : NdArray =
        NdArray.own shape (values |> Array.collect (Array.map float32))

    /// log p(x) of each batch element, in float64.
    let logDensity (mixture: GaussianMixture) (x: NdArray) : float[] =
        rows mixture x |> Array.map (logDensityAt mixture)

    /// The responsibilities p(k | x) of each batch element, in float64 (B rows of K).
    let responsibilities (mixture: GaussianMixture) (x: NdArray) : float[][] =
        rows mixture x |> Array.map (responsibilitiesAt mixture)

    /// ∇ log p(x) of the clean mixture for each batch element.
    let score (mixture: GaussianMixture) (x: NdArray) : NdArray =
        rows mixture x |> Array.map (scoreAt mixture) |> ofRows x.Shape

    let private checkSigma (name: string) (sigma: float) =
        if not (sigma >= 0.0 && Double.IsFinite sigma) then
            invalidArg name (sprintf "%s is %g but must be non-negative and finite" name sigma)

    /// The variance-exploding score ∇ log p_σ(x), p_σ = Σ w_k N(μ_k, v_k + σ²) (x_σ = x0 + σ·z).
    let veScore (mixture: GaussianMixture) (sigma: float) (x: NdArray) : NdArray =
        checkSigma "sigma" sigma
        score (perturb 1.0 sigma mixture) x

    /// The EDM denoiser D(x; σ) = E[x0 | x0 + σ·z = x] (= x + σ² ∇ log p_σ(x), Tweedie's formula).
    let edmDenoiser (mixture: GaussianMixture) (sigma: float) (x: NdArray) : NdArray =
        checkSigma "sigma" sigma
        rows mixture x |> Array.map (posteriorMeanAt mixture 1.0 sigma) |> ofRows x.Shape

    let private checkVp (alpha: float) (sigmaVp: float) =
        if not (alpha >= 0.0 && Double.IsFinite alpha) then
            invalidArg "alpha" (sprintf "alpha is %g but must be non-negative and finite" alpha)
        checkSigma "sigmaVp" sigmaVp
        if alpha = 0.0 && sigmaVp = 0.0 then
            invalidArg "sigmaVp" "alpha and sigmaVp are both 0, which leaves no distribution of x_t"

    /// The variance-preserving score ∇ log p_t(x) with x_t = α·x0 + σ_vp·z (α = √ᾱ_t, σ_vp = √(1 − ᾱ_t)).
    let vpScore (mixture: GaussianMixture) (alpha: float) (sigmaVp: float) (x: NdArray) : NdArray =
        checkVp alpha sigmaVp
        score (perturb alpha sigmaVp mixture) x

    /// The exact ε-prediction E[z | x_t = x] = −σ_vp · ∇ log p_t(x) for x_t = α·x0 + σ_vp·z.
    let vpEpsilon (mixture: GaussianMixture) (alpha: float) (sigmaVp: float) (x: NdArray) : NdArray =
        checkVp alpha sigmaVp
        let p = perturb alpha sigmaVp mixture
        rows mixture x |> Array.map (scoreAt p >> Array.map (fun g -> -sigmaVp * g)) |> ofRows x.Shape

    /// The exact x0-prediction E[x0 | x_t = x] for x_t = α·x0 + σ_vp·z (Tweedie: (x + σ_vp² ∇ log p_t) / α).
    let vpX0 (mixture: GaussianMixture) (alpha: float) (sigmaVp: float) (x: NdArray) : NdArray =
        checkVp alpha sigmaVp
        rows mixture x |> Array.map (posteriorMeanAt mixture alpha sigmaVp) |> ofRows x.Shape

    /// The exact v-prediction E[α·z − σ_vp·x0 | x_t = x] = α·ε̂ − σ_vp·x̂0 (diffusers' `v_prediction`).
    let vpV (mixture: GaussianMixture) (alpha: float) (sigmaVp: float) (x: NdArray) : NdArray =
        checkVp alpha sigmaVp
        let p = perturb alpha sigmaVp mixture
        rows mixture x
        |> Array.map (fun xi ->
            let eps = scoreAt p xi |> Array.map (fun g -> -sigmaVp * g)
            let x0 = posteriorMeanAt mixture alpha sigmaVp xi
            Array.map2 (fun e x0j -> alpha * e - sigmaVp * x0j) eps x0)
        |> ofRows x.Shape

    // ---- Exact sampling ------------------------------------------------------------------------------------------

    /// The component index for a uniform u ∈ [0, 1): the first k whose cumulative weight exceeds u.
    let private pickComponent (weights: float[]) (u: float) =
        let mutable k = 0
        let mutable cum = weights[0]
        while k < weights.Length - 1 && u >= cum do
            k <- k + 1
            cum <- cum + weights[k]
        k

    /// One exact draw with its own key: split it in two, a uniform picks the component, a normal its offset.
    let private drawOne (mixture: GaussianMixture) (key: PrngKey) : float32[] =
        let keys = Prng.split 2 key
        let u = float (Prng.uniform [| 1 |] keys[0]).[0]
        let z = Prng.normal [| mixture.Dimension |] keys[1]
        let k = pickComponent mixture.Weights u
        Array.init mixture.Dimension (fun j -> float32 (mixture.Means[k][j] + sqrt (mixture.Variances[k][j]) * float z[j]))

    /// Draws number `start` … `start + count − 1` of the stream `sample key`: draw i uses the key
    /// `Prng.foldIn (uint32 i) key`, so any split of a batch into ranges gives the same points. Shape [count; D].
    let sampleRange (key: PrngKey) (start: int) (count: int) (mixture: GaussianMixture) : NdArray =
        if start < 0 then invalidArg "start" (sprintf "start is %d but must be non-negative" start)
        if count < 0 then invalidArg "count" (sprintf "count is %d but must be non-negative" count)
        let data =
            Array.init count (fun i -> drawOne mixture (Prng.foldIn (uint32 (start + i)) key)) |> Array.concat
        NdArray.own [| count; mixture.Dimension |] data

    /// `count` exact draws from the mixture, shape [count; D]; draw i depends only on the key and i.
    let sample (key: PrngKey) (count: int) (mixture: GaussianMixture) : NdArray = sampleRange key 0 count mixture
