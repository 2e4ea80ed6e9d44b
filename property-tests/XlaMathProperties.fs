module Schedulers.PropertyTests.XlaMathProperties

open System
open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open Schedulers.Core

/// Distance in ulps between two finite float32 values of the same sign.
let private ulps (a: float32) (b: float32) =
    abs (int64 (BitConverter.SingleToInt32Bits a) - int64 (BitConverter.SingleToInt32Bits b))

/// XLA's polynomials are approximations, not correctly rounded: they stay within a few ulps of the C library's
/// functions (which are), and agree with them exactly where the answer is exact.
module ``XLA float32 functions`` =

    [<Property(MaxTest = 2000)>]
    let ``exp is within 2 ulps of the correctly rounded exp on the normal range`` (x: float32) =
        (Single.IsFinite x && abs x < 87.0f) ==> lazy (ulps (XlaMath.exp x) (MathF.Exp x) <= 2L)

    [<Property(MaxTest = 2000)>]
    let ``log is within 2 ulps of the correctly rounded log of positive normal floats`` (x: float32) =
        let y = abs x
        (Single.IsNormal y) ==> lazy (ulps (XlaMath.log y) (MathF.Log y) <= 2L)

    [<Property>]
    let ``exp of 0 is 1, log of 1 is 0, exp underflows to 0 and overflows to infinity`` () =
        XlaMath.exp 0.0f = 1.0f && XlaMath.log 1.0f = 0.0f && XlaMath.exp -100.0f = 0.0f && Single.IsPositiveInfinity(XlaMath.exp 100.0f)

/// `jnp.linspace` as XLA:CPU computes it: the endpoints are exact, the values are JAX's formula to within an ulp or
/// two of the spacing, and they are monotone when the bounds are ordered.
module ``XLA linspace`` =

    let private bounds = Gen.choose (-100000, 100000) |> Gen.map (fun i -> float32 i / 1000.0f)

    [<Property>]
    let ``endpoints are exact and interior points are within two ulps of the interval of the exact value`` () =
        Prop.forAll (Arb.fromGen (Gen.zip3 bounds bounds (Gen.choose (2, 2100)))) (fun (a, b, n) ->
            let xs = Schedules.jnpLinspace a b n
            let scale = max (abs a) (abs b)
            let close i =
                let exact = float a + (float b - float a) * float i / float (n - 1)
                abs (float xs[i] - exact) <= 4.0 * float (MathF.BitIncrement scale - scale) + 1e-30
            xs.Length = n && xs[0] = a && xs[n - 1] = b && Seq.forall close (seq { 0 .. n - 1 }))

    [<Property>]
    let ``ascending bounds give a non-decreasing sequence`` () =
        Prop.forAll (Arb.fromGen (Gen.zip3 bounds bounds (Gen.choose (2, 600)))) (fun (a, b, n) ->
            let lo, hi = min a b, max a b
            let xs = Schedules.jnpLinspace lo hi n
            Seq.forall (fun i -> xs[i] <= xs[i + 1]) (seq { 0 .. n - 2 }))

/// `jnp.cumprod` as JAX's associative scan: a different rounding order from a running product, but the same
/// products up to rounding, exactly the same on short vectors, and exact where every product is.
module ``XLA cumprod`` =

    [<Property>]
    let ``the scan agrees with a float64 running product to float32 rounding, and is exact for powers of two`` (factors: NormalFloat list) =
        let values = factors |> List.map (fun (NormalFloat f) -> float32 (0.9 + 0.1 * Math.Tanh f)) |> Array.ofList
        let scan = Schedules.jnpCumprod values
        let mutable acc = 1.0
        let close =
            values
            |> Array.mapi (fun i v ->
                acc <- acc * float v
                abs (float scan[i] - acc) <= acc * 1e-6 * (1.0 + Math.Log2(float (i + 1))))
            |> Array.forall id
        let twos = values |> Array.map (fun v -> if v > 0.95f then 2.0f else 0.5f)
        let exactTwos = Schedules.jnpCumprod twos = (Array.scan (*) 1.0f twos |> Array.tail)
        scan.Length = values.Length && close && exactTwos
