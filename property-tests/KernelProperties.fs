module Schedulers.PropertyTests.KernelProperties

open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open Schedulers.Core

let private arrayOf (SmallShape shape) (key: PrngKey) = NdArray.normal shape key

[<Properties(Arbitrary = [| typeof<Generators>; typeof<ShapeGenerators> |], MaxTest = 100)>]
module Combine =

    [<Property>]
    let ``combine equals the left-to-right float32 sum of rounded products`` (shape: SmallShape) (key: PrngKey) (NormalFloat a) (NormalFloat b) (NormalFloat c) =
        let keys = Prng.split 3 key
        let x, y, z = arrayOf shape keys[0], arrayOf shape keys[1], arrayOf shape keys[2]
        let a, b, c = float32 a, float32 b, float32 c
        let actual = NdArrayBackend.CombineArrays [| struct (Scalar a, x); struct (Scalar b, y); struct (Scalar c, z) |]
        let expected = Array.init x.Length (fun i -> (a * x[i] + b * y[i]) + c * z[i])
        actual.ToArray() = expected && actual.Shape = x.Shape

    [<Property>]
    let ``per-batch coefficients scale each batch slice`` (shape: SmallShape) (key: PrngKey) =
        let x = arrayOf shape key
        let batch = x.BatchSize
        let inner = x.Length / batch
        let coefs = Array.init batch (fun b -> float32 (b + 1) * 0.5f)
        let actual = NdArrayBackend.CombineArrays [| struct (Scalar 1.0f, x); struct (PerBatch coefs, x) |]
        actual.ToArray() = Array.init x.Length (fun i -> x[i] + coefs[i / inner] * x[i])

    [<Property>]
    let ``more than four terms fold exactly as the left-to-right sum`` (shape: SmallShape) (key: PrngKey) =
        let keys = Prng.split 6 key
        let xs = keys |> Array.map (arrayOf shape)
        let cs = [| 0.5f; -1.25f; 3.0f; 0.1f; -0.7f; 2.2f |]
        let actual = NdArrayBackend.CombineArrays(Array.map2 (fun c x -> struct (Scalar c, x)) cs xs)
        let expected = Array.init xs[0].Length (fun i -> Array.fold2 (fun s c (x: NdArray) -> s + c * x[i]) 0.0f cs xs)
        // The fold starts from 0 + c0·x0, which is exactly c0·x0.
        actual.ToArray() = expected

    [<Property>]
    let ``inputs are never changed`` (shape: SmallShape) (key: PrngKey) =
        let x = arrayOf shape key
        let before = x.ToArray()
        NdArrayBackend.CombineArrays [| struct (Scalar 2.0f, x); struct (Scalar 3.0f, x) |] |> ignore
        x.ToArray() = before

module Reductions =

    [<Property(Arbitrary = [| typeof<Generators>; typeof<ShapeGenerators> |])>]
    let ``batch norms square-sum to the whole norm`` (shape: SmallShape) (key: PrngKey) =
        let x = arrayOf shape key
        let whole = float (NdArray.norm x)
        let fromBatches = NdArray.batchNorms x |> Array.sumBy (fun n -> float n * float n) |> sqrt
        abs (whole - fromBatches) <= 1e-5 * max 1.0 whole

    [<Property(Arbitrary = [| typeof<Generators>; typeof<ShapeGenerators> |])>]
    let ``quantile lies between min and max and hits them at 0 and 1`` (shape: SmallShape) (key: PrngKey) (q: float32) =
        let x = arrayOf shape key
        let q = if System.Single.IsFinite q then abs q % 1.0f else 0.5f
        let v = Kernels.quantile q x.Span
        let lo, hi = Array.min (x.ToArray()), Array.max (x.ToArray())
        v >= lo && v <= hi && Kernels.quantile 0.0f x.Span = lo && Kernels.quantile 1.0f x.Span = hi

    [<Property(Arbitrary = [| typeof<Generators>; typeof<ShapeGenerators> |])>]
    let ``clamp bounds every element`` (shape: SmallShape) (key: PrngKey) =
        NdArray.clamp -0.5f 0.5f (arrayOf shape key) |> fun y -> y.ToArray() |> Array.forall (fun v -> v >= -0.5f && v <= 0.5f)
