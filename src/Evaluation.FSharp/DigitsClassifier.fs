namespace Schedulers.Evaluation

open System
open System.Buffers.Binary
open System.IO
open Schedulers.Core

/// One dense layer y = W·x + b (W row-major [Out; In]).
type DenseLayer =
    { /// Inputs per row.
      In: int
      /// Outputs per row.
      Out: int
      /// The weights, Out × In, row-major.
      Weights: float32[]
      /// The biases, Out.
      Bias: float32[] }

/// The fixed classifier of the digits quality measure: dense layers with ReLU between them, 64 pixels in, 10 logits
/// out. Its last hidden layer (after the ReLU) gives the features of the Fréchet distance, as FID takes Inception's
/// pool features. Evaluated here in plain F# (float64 sums, one row at a time), so a feature never depends on the
/// batch it is computed in, and the metric needs no native library.
type DigitsClassifier =
    { /// The layers, input first; the last one gives the logits.
      Layers: DenseLayer[] }

    /// The dimension of the features (the input width of the last layer).
    member c.FeatureCount = c.Layers[c.Layers.Length - 1].In

/// Reading, writing and running a `DigitsClassifier`. The file format (`*.bin`): the 8 ASCII bytes `SCHDCLS1`, an
/// int32 layer count, then per layer int32 In, int32 Out, Out·In float32 weights and Out float32 biases, all
/// little-endian, and nothing after.
module DigitsClassifiers =

    /// The magic bytes at the start of a classifier file.
    let Magic = "SCHDCLS1"B

    /// The most layers and the widest layer a file may declare (checked before anything is allocated).
    [<Literal>]
    let MaxLayers = 16

    /// See `MaxLayers`.
    [<Literal>]
    let MaxWidth = 4096

    /// The classifier's bytes.
    let toBytes (c: DigitsClassifier) : byte[] =
        use out = new MemoryStream()
        use w = new BinaryWriter(out)
        w.Write(Magic)
        w.Write(c.Layers.Length)
        for l in c.Layers do
            w.Write(l.In)
            w.Write(l.Out)
            for v in l.Weights do w.Write(v)
            for v in l.Bias do w.Write(v)
        w.Flush()
        out.ToArray()

    /// Reads a classifier file's bytes; throws `InvalidDataException` naming what is wrong (magic, a width out of
    /// range, a chain whose widths do not match, 64 inputs, 10 outputs, a size that does not match, a non-finite
    /// weight).
    let ofBytes (bytes: byte[]) : DigitsClassifier =
        if Targets.missing bytes then nullArg "bytes"
        let bad what = raise (InvalidDataException("digits classifier: " + what))
        if bytes.Length < 12 || not (bytes.AsSpan(0, 8).SequenceEqual(ReadOnlySpan Magic)) then bad "the file does not start with SCHDCLS1"
        let int32At (p: int) = if p + 4 > bytes.Length then bad "the file is truncated" else BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(p, 4))
        let count = int32At 8
        if count < 1 || count > MaxLayers then bad (sprintf "%d layers but must have 1 to %d" count MaxLayers)
        let mutable at = 12
        let layers =
            Array.init count (fun i ->
                let n = int32At at
                let m = int32At (at + 4)
                if n < 1 || n > MaxWidth || m < 1 || m > MaxWidth then bad (sprintf "layer %d is %d→%d but widths must be 1 to %d" i n m MaxWidth)
                at <- at + 8
                let need = int64 (n * m + m) * 4L
                if int64 at + need > int64 bytes.Length then bad (sprintf "layer %d needs %d bytes but the file is truncated" i need)
                let floats k = Array.init k (fun j -> BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(at + 4 * j, 4)))
                let w = floats (n * m)
                at <- at + 4 * n * m
                let b = floats m
                at <- at + 4 * m
                if not (Array.forall Single.IsFinite w && Array.forall Single.IsFinite b) then bad (sprintf "layer %d has a non-finite weight" i)
                { In = n; Out = m; Weights = w; Bias = b })
        if at <> bytes.Length then bad (sprintf "%d bytes follow the last layer" (bytes.Length - at))
        for i in 1 .. count - 1 do
            if layers[i].In <> layers[i - 1].Out then bad (sprintf "layer %d takes %d inputs but layer %d gives %d" i layers[i].In (i - 1) layers[i - 1].Out)
        if layers[0].In <> Digits.Pixels then bad (sprintf "the first layer takes %d inputs but an image has %d pixels" layers[0].In Digits.Pixels)
        if layers[count - 1].Out <> Digits.Classes then bad (sprintf "the last layer gives %d outputs but there are %d classes" layers[count - 1].Out Digits.Classes)
        if count < 2 then bad "a classifier needs a hidden layer for its features"
        { Layers = layers }

    let private shipped = lazy (ofBytes (Digits.resource "digits-classifier.bin"))

    /// The shipped classifier (trained by `schedulers train --target digits-classifier`, seed 0).
    let shippedClassifier () : DigitsClassifier = shipped.Force()

    let private dense (l: DenseLayer) (x: float[]) (relu: bool) : float[] =
        Array.init l.Out (fun o ->
            let mutable s = float l.Bias[o]
            let row = o * l.In
            for i in 0 .. l.In - 1 do
                s <- s + float l.Weights[row + i] * x[i]
            if relu && s < 0.0 then 0.0 else s)

    /// The features (last hidden layer, after its ReLU) and logits of one image of 64 pixel values.
    let run (c: DigitsClassifier) (image: float[]) : float[] * float[] =
        if image.Length <> Digits.Pixels then invalidArg "image" (sprintf "image has %d pixels but must have %d" image.Length Digits.Pixels)
        let mutable h = image
        for i in 0 .. c.Layers.Length - 2 do
            h <- dense c.Layers[i] h true
        h, dense c.Layers[c.Layers.Length - 1] h false

    /// The softmax probabilities of logits.
    let softmax (logits: float[]) : float[] =
        let top = Array.max logits
        let e = logits |> Array.map (fun v -> exp (v - top))
        let s = Array.sum e
        e |> Array.map (fun v -> v / s)

    /// Per image of a [N; 64] array: its features, predicted class and the probability of that class.
    let classify (c: DigitsClassifier) (images: NdArray) : (float[] * int * float)[] =
        if images.Rank <> 2 || images.Shape[1] <> Digits.Pixels then
            invalidArg "images" (sprintf "images have shape %s but must be [N,%d]" images.ShapeText Digits.Pixels)
        let xs = images.ToArray()
        Array.Parallel.init images.Shape[0] (fun r ->
            let f, logits = run c (Array.init Digits.Pixels (fun j -> float xs[r * Digits.Pixels + j]))
            let p = softmax logits
            let best = Array.IndexOf(p, Array.max p)
            f, best, p[best])

    /// The share of the images whose predicted class is their label.
    let accuracy (c: DigitsClassifier) (data: DigitsData) : float =
        let predicted = classify c data.Images
        let hits = Array.fold2 (fun n (_, k, _) l -> if k = l then n + 1 else n) 0 predicted data.Labels
        float hits / float data.Count
