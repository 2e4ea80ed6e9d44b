namespace Schedulers.Evaluation

open System
open Schedulers.Core

/// The quality of a set of generated digit images, measured with the fixed classifier against the real data.
type DigitsReport =
    { /// Images evaluated (the finite ones).
      Count: int
      /// Images dropped because a pixel was NaN or infinite (a diverged sampler).
      NonFiniteCount: int
      /// The real images compared with.
      RealCount: int
      /// The squared Fréchet distance between Gaussian fits of the classifier's features of the generated and the
      /// real images (the digits stand-in for FID).
      Frechet: float
      /// The share of each predicted class among the generated images.
      ClassShares: float[]
      /// The share of each predicted class among the real images.
      RealClassShares: float[]
      /// ½ Σ_k |share_k − real share_k|: 0 for the real histogram, 1 for disjoint ones.
      ClassTotalVariation: float
      /// The classifier's mean probability of its predicted class over the generated images.
      MeanConfidence: float
      /// The same over the real images.
      RealMeanConfidence: float }

/// A stand-in for FID on the digits: the classifier's last hidden layer plays Inception's pool layer, and the
/// squared Fréchet distance between Gaussian fits of the generated and the real images' features is the score
/// (Heusel et al. 2017, eq. (6)), with the class histogram and mean confidence beside it (what the Inception Score
/// looks at). Images are clamped to the data's range [−1, 1] first, as images are clipped before they are saved.
module DigitsQuality =

    let private finiteRows (images: NdArray) : NdArray * int =
        let n = images.Shape[0]
        let xs = images.ToArray()
        let keep = [| 0 .. n - 1 |] |> Array.filter (fun r -> Seq.forall (fun j -> Single.IsFinite xs[r * Digits.Pixels + j]) (seq { 0 .. Digits.Pixels - 1 }))
        let out = Array.zeroCreate<float32> (keep.Length * Digits.Pixels)
        keep |> Array.iteri (fun i r -> Array.blit xs (r * Digits.Pixels) out (i * Digits.Pixels) Digits.Pixels)
        NdArray.clamp -1.0f 1.0f (NdArray.create [| keep.Length; Digits.Pixels |] out), n - keep.Length

    /// The squared Fréchet distance between Gaussian fits (mean, unbiased covariance, in float64) of two feature
    /// sets, each row one image's features (`Metrics.frechetDistanceOfGaussians`). 0 for identical sets; ‖δ‖² for a
    /// set and its copy shifted by δ.
    let frechetOfFeatures (a: float[][]) (b: float[][]) : float =
        let fit (name: string) (rows: float[][]) =
            if Targets.missing rows || rows.Length < 2 then invalidArg name (sprintf "%s needs at least 2 rows" name)
            let n = float rows.Length
            let d = rows[0].Length
            if rows |> Array.exists (fun r -> Targets.missing r || r.Length <> d) then invalidArg name (sprintf "every row of %s must have %d values" name d)
            let mu = Array.init d (fun j -> (rows |> Array.sumBy (fun r -> r[j])) / n)
            let cov = Array.init d (fun _ -> Array.zeroCreate<float> d)
            for r in rows do
                for i in 0 .. d - 1 do
                    let ri = r[i] - mu[i]
                    let row = cov[i]
                    for j in 0 .. d - 1 do
                        row[j] <- row[j] + ri * (r[j] - mu[j])
            mu, cov |> Array.map (Array.map (fun v -> v / (n - 1.0)))
        let m1, c1 = fit "a" a
        let m2, c2 = fit "b" b
        if m1.Length <> m2.Length then invalidArg "b" (sprintf "b has %d features per row but a has %d" m2.Length m1.Length)
        Metrics.frechetDistanceOfGaussians m1 c1 m2 c2

    /// Evaluates generated images ([N; 64], any values) against real ones with classifier `c`.
    let evaluate (c: DigitsClassifier) (real: DigitsData) (generated: NdArray) : DigitsReport =
        if generated.Rank <> 2 || generated.Shape[1] <> Digits.Pixels then
            invalidArg "generated" (sprintf "generated has shape %s but must be [N,%d]" generated.ShapeText Digits.Pixels)
        let images, dropped = finiteRows generated
        if images.Shape[0] < 2 then invalidArg "generated" (sprintf "generated has %d finite images but the Fréchet distance needs 2" images.Shape[0])
        let ours = DigitsClassifiers.classify c images
        let theirs = DigitsClassifiers.classify c (fst (finiteRows real.Images))
        let shares (rows: (float[] * int * float)[]) = Digits.classShares (rows |> Array.map (fun (_, k, _) -> k))
        let s = shares ours
        let r = shares theirs
        { Count = ours.Length
          NonFiniteCount = dropped
          RealCount = theirs.Length
          Frechet = frechetOfFeatures (ours |> Array.map (fun (f, _, _) -> f)) (theirs |> Array.map (fun (f, _, _) -> f))
          ClassShares = s
          RealClassShares = r
          ClassTotalVariation = 0.5 * Array.fold2 (fun acc a b -> acc + abs (a - b)) 0.0 s r
          MeanConfidence = ours |> Array.averageBy (fun (_, _, p) -> p)
          RealMeanConfidence = theirs |> Array.averageBy (fun (_, _, p) -> p) }

    /// The distance between the two halves of the real data (`Digits.halves`): the level below which no sampler's
    /// score means anything at this sample size.
    let realHalves (c: DigitsClassifier) (data: DigitsData) : float =
        let a, b = Digits.halves data
        (evaluate c a b.Images).Frechet

    /// The real images with Gaussian noise of std `sigma` added, image r's noise from `fold_in(key, r)`.
    let noised (key: PrngKey) (sigma: float) (data: DigitsData) : NdArray =
        let n = data.Count
        let xs = data.Images.ToArray()
        let out = Array.zeroCreate<float32> xs.Length
        for r in 0 .. n - 1 do
            let z = Prng.normal [| Digits.Pixels |] (Prng.foldIn (uint32 r) key)
            for j in 0 .. Digits.Pixels - 1 do
                out[r * Digits.Pixels + j] <- xs[r * Digits.Pixels + j] + float32 sigma * z[j]
        NdArray.create [| n; Digits.Pixels |] out

    /// The distance between the real data and noised copies of it at each noise level (the validation of the
    /// measure: it must grow with the noise).
    let noisedCurve (c: DigitsClassifier) (key: PrngKey) (levels: float[]) (data: DigitsData) : (float * float)[] =
        levels |> Array.map (fun s -> s, (evaluate c data (noised key s data)).Frechet)

    /// The report as text: the distance, the class histogram against the real one, the mean confidences.
    let format (title: string) (report: DigitsReport) (floor: float option) : string =
        let inv (v: float) (f: string) = v.ToString(f, Globalization.CultureInfo.InvariantCulture)
        let sb = Text.StringBuilder()
        let line (s: string) = sb.Append(s).Append('\n') |> ignore
        line (sprintf "quality of %s (%d images%s, against %d real; classifier features)" title report.Count
                (if report.NonFiniteCount > 0 then sprintf ", %d non-finite dropped" report.NonFiniteCount else "") report.RealCount)
        match floor with
        | Some f -> line (sprintf "  Fréchet distance (features)  %s   (real half vs real half: %s)" (inv report.Frechet "0.000") (inv f "0.000"))
        | None -> line (sprintf "  Fréchet distance (features)  %s" (inv report.Frechet "0.000"))
        line (sprintf "  mean confidence              %s   (real: %s)" (inv report.MeanConfidence "0.000") (inv report.RealMeanConfidence "0.000"))
        line (sprintf "  class histogram TV           %s" (inv report.ClassTotalVariation "0.000"))
        line ("  class        " + String.Join(" ", [| 0 .. Digits.Classes - 1 |] |> Array.map (fun k -> sprintf "%5d" k)))
        line ("  generated %  " + String.Join(" ", report.ClassShares |> Array.map (fun s -> (100.0 * s).ToString("0.0", Globalization.CultureInfo.InvariantCulture).PadLeft 5)))
        line ("  real %       " + String.Join(" ", report.RealClassShares |> Array.map (fun s -> (100.0 * s).ToString("0.0", Globalization.CultureInfo.InvariantCulture).PadLeft 5)))
        sb.ToString()
