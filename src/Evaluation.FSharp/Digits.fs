namespace Schedulers.Evaluation

open System
open System.IO
open System.IO.Compression
open Schedulers.Core

/// A set of 8×8 grey-level digit images with their classes.
type DigitsData =
    { /// The images, shape [N; 64] (row-major 8×8), grey levels scaled to [−1, 1] (level v ↦ v/8 − 1).
      Images: NdArray
      /// The class 0 … 9 of each image.
      Labels: int[] }

    /// The number of images N.
    member d.Count = d.Labels.Length

/// The handwritten digits data set: the UCI "Optical Recognition of Handwritten Digits" test set as scikit-learn
/// ships it (1797 images of 8×8 grey levels 0 … 16, labels 0 … 9; CC BY 4.0, Alpaydin &amp; Kaynak 1998). The
/// library embeds the file and its README (source and licence, `attribution`), so nothing is read from disk or
/// downloaded. The same rows always come back in the same order: every split below is a fixed function of the row
/// index.
module Digits =

    /// The side of an image in pixels.
    [<Literal>]
    let Side = 8

    /// Pixels per image (the dimension D of a point).
    [<Literal>]
    let Pixels = 64

    /// The number of classes.
    [<Literal>]
    let Classes = 10

    /// The largest grey level of the file.
    [<Literal>]
    let MaxLevel = 16

    /// The largest compressed file `parse` accepts (the shipped one has 57 512 bytes).
    [<Literal>]
    let MaxCompressedBytes = 1_048_576

    /// The largest decompressed text `parse` accepts: a file that inflates beyond it is refused before it is held.
    [<Literal>]
    let MaxTextBytes = 8_388_608

    /// The number of rows of the shipped file.
    [<Literal>]
    let ShippedCount = 1797

    /// A grey level 0 … 16 as a pixel value in [−1, 1]: v/8 − 1 (exact in float32).
    let toPixel (level: int) : float32 = float32 level / 8.0f - 1.0f

    let private fail (line: int) (what: string) =
        raise (InvalidDataException(sprintf "digits data, line %d: %s" line what))

    /// Reads a gzip-compressed CSV of the shipped layout (no header; per line 64 integers 0 … 16 and a label 0 … 9).
    /// Hostile input is bounded: the compressed and inflated sizes, the field count and every value are checked,
    /// and an error names the line. Throws `InvalidDataException`.
    let parse (compressed: byte[]) : DigitsData =
        if Targets.missing compressed then nullArg "compressed"
        if compressed.Length > MaxCompressedBytes then
            raise (InvalidDataException(sprintf "digits data is %d bytes compressed but at most %d are accepted" compressed.Length MaxCompressedBytes))
        let text =
            try
                use gz = new GZipStream(new MemoryStream(compressed), CompressionMode.Decompress)
                use out = new MemoryStream()
                let buffer = Array.zeroCreate<byte> 65536
                let mutable n = gz.Read(buffer, 0, buffer.Length)
                while n > 0 do
                    if out.Length + int64 n > int64 MaxTextBytes then
                        raise (InvalidDataException(sprintf "digits data inflates to more than %d bytes" MaxTextBytes))
                    out.Write(buffer, 0, n)
                    n <- gz.Read(buffer, 0, buffer.Length)
                Text.Encoding.ASCII.GetString(out.GetBuffer(), 0, int out.Length)
            with :? InvalidDataException as e when not (e.Message.StartsWith "digits data") ->
                raise (InvalidDataException("digits data is not a gzip stream: " + e.Message, e))
        let lines = text.Split('\n') |> Array.map (fun l -> l.TrimEnd('\r'))
        let lines = if lines.Length > 0 && lines[lines.Length - 1] = "" then lines[.. lines.Length - 2] else lines
        if lines.Length = 0 then raise (InvalidDataException "digits data has no rows")
        let images = Array.zeroCreate<float32> (lines.Length * Pixels)
        let labels = Array.zeroCreate<int> lines.Length
        lines
        |> Array.iteri (fun row line ->
            let cells = line.Split(',')
            if cells.Length <> Pixels + 1 then
                fail (row + 1) (sprintf "has %d fields but must have %d (64 grey levels and a label)" cells.Length (Pixels + 1))
            for j in 0 .. Pixels do
                let ok, v = Int32.TryParse(cells[j], Globalization.NumberStyles.None, Globalization.CultureInfo.InvariantCulture)
                let top = if j = Pixels then Classes - 1 else MaxLevel
                if not ok || v < 0 || v > top then
                    fail (row + 1) (sprintf "field %d is '%s' but must be an integer from 0 to %d" (j + 1) cells[j] top)
                if j = Pixels then labels[row] <- v else images[row * Pixels + j] <- toPixel v)
        { Images = NdArray.create [| lines.Length; Pixels |] images; Labels = labels }

    /// The bytes of the library's embedded resource `Data/<name>`.
    let internal resource (name: string) : byte[] =
        let assembly = typeof<DigitsData>.Assembly
        match assembly.GetManifestResourceStream("Schedulers.Evaluation.Data." + name) with
        | null -> invalidOp (sprintf "the library has no embedded resource %s" name)
        | stream ->
            use stream = stream
            use out = new MemoryStream()
            stream.CopyTo out
            out.ToArray()

    let private shipped = lazy (parse (resource "digits.csv.gz"))

    /// The shipped data set (1797 images), parsed once.
    let load () : DigitsData = shipped.Force()

    /// The README shipped beside the data: its source, creators, licence (CC BY 4.0) and the citation to keep.
    let attribution () : string = Text.Encoding.UTF8.GetString(resource "README.md")

    /// The rows whose index satisfies `keep`, in order.
    let select (keep: int -> bool) (data: DigitsData) : DigitsData =
        let rows = [| 0 .. data.Count - 1 |] |> Array.filter keep
        let src = data.Images.ToArray()
        let images = Array.zeroCreate<float32> (rows.Length * Pixels)
        rows |> Array.iteri (fun i r -> Array.blit src (r * Pixels) images (i * Pixels) Pixels)
        { Images = NdArray.create [| rows.Length; Pixels |] images; Labels = rows |> Array.map (fun r -> data.Labels[r]) }

    /// The classifier's training rows: every row whose index is not a multiple of 4 (1347 of the shipped 1797).
    let classifierTraining (data: DigitsData) : DigitsData = select (fun i -> i % 4 <> 0) data

    /// The classifier's held-out rows: every fourth row, from row 0 (450 of the shipped 1797).
    let classifierHeldOut (data: DigitsData) : DigitsData = select (fun i -> i % 4 = 0) data

    /// The two halves of the real-vs-real check: even rows and odd rows.
    let halves (data: DigitsData) : DigitsData * DigitsData = select (fun i -> i % 2 = 0) data, select (fun i -> i % 2 = 1) data

    /// The share of each class among the labels (length `Classes`).
    let classShares (labels: int[]) : float[] =
        let counts = Array.zeroCreate<int> Classes
        for l in labels do counts[l] <- counts[l] + 1
        counts |> Array.map (fun c -> if labels.Length = 0 then 0.0 else float c / float labels.Length)

    /// The per-pixel standard deviation of all pixels about their common mean: σ_d of a denoiser's EDM
    /// preconditioning (Karras et al. 2022, Table 1).
    let sigmaData (data: DigitsData) : float =
        let xs = data.Images.ToArray()
        let mean = xs |> Array.averageBy float
        sqrt (xs |> Array.averageBy (fun v -> (float v - mean) * (float v - mean)))

    /// A Gaussian-mixture stand-in for the data, one component per class (its share, the class mean, the class's
    /// per-pixel variances floored at 10⁻³): what the samplers' code that sizes noise ranges and shapes reads of a
    /// target (`Dimension`, the diameter of the σ range). It is not the data's law and has no use as an exact model.
    let standIn (data: DigitsData) : GaussianMixture =
        let xs = data.Images.ToArray()
        let present = [| 0 .. Classes - 1 |] |> Array.filter (fun c -> Array.contains c data.Labels)
        let rowsOf c = [| 0 .. data.Count - 1 |] |> Array.filter (fun r -> data.Labels[r] = c)
        let weights = present |> Array.map (fun c -> float (rowsOf c).Length)
        let means =
            present |> Array.map (fun c -> let rs = rowsOf c in Array.init Pixels (fun j -> rs |> Array.averageBy (fun r -> float xs[r * Pixels + j])))
        let variances =
            present
            |> Array.mapi (fun k c ->
                let rs = rowsOf c
                Array.init Pixels (fun j -> max 1e-3 (rs |> Array.averageBy (fun r -> let d = float xs[r * Pixels + j] - means[k][j] in d * d))))
        Targets.create "digits" weights means variances
