module Schedulers.PropertyTests.DpmFusedProperties

open System
open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open Schedulers.Core

/// A finite float32 of a wide range of magnitudes, zeros and signs included.
let private value =
    Gen.oneof
        [ Gen.elements [ 0.0f; -0.0f; 1.0f; -1.0f; 1e-30f; -3e20f ]
          ArbMap.defaults |> ArbMap.generate<NormalFloat> |> Gen.map (fun (NormalFloat f) -> float32 f)
          Gen.choose (-1000000, 1000000) |> Gen.map (fun i -> float32 i / 1000.0f) ]

/// A DPM-Solver update plan with arbitrary coefficients (the kernel must round like the generic path for any).
let private plan =
    gen {
        let! order = Gen.choose (1, 3)
        let! c = Gen.arrayOfLength 9 value
        return
            { Order = order; SampleCoef = c[0]; D0Coef = c[1]; D1Coef = c[2]; D2Coef = c[3]; NoiseCoef = c[4]
              InvR0 = c[5]; InvR1 = c[6]; R0OverSum = c[7]; InvSum = c[8] }
    }

let private bitsOf (x: NdArray) = x.ToArray() |> Array.map BitConverter.SingleToUInt32Bits

/// The one-pass DPM-Solver update (`NdArrayBackend` as `IDpmFusedOps`) against the generic update built from
/// `Combine`s on a backend without the fused pass: the same bits for every order, with and without noise, at sizes
/// with and without a vector tail.
[<Properties(MaxTest = 200)>]
module FusedUpdate =

    [<Property>]
    let ``the fused update equals the generic one bit for bit`` (PositiveInt size) (withNoise: bool) =
        let n = 1 + size % 300
        let gens =
            gen {
                let! p = plan
                let! arrays = Gen.arrayOfLength 5 (Gen.arrayOfLength n value)
                return p, arrays
            }
        Prop.forAll (Arb.fromGen gens) (fun (p, arrays) ->
            let shape = [| 1; n |]
            let x, m0, m1, m2, z = arrays |> Array.map (fun a -> NdArray.create shape a) |> fun a -> a[0], a[1], a[2], a[3], a[4]
            let outputs = [| m0; m1; m2 |] |> Array.truncate p.Order
            let noise = if withNoise then ValueSome z else ValueNone
            let fused = DpmSolverUpdate.apply NdArrayBackend.Default p x outputs noise
            let generic = DpmSolverUpdate.apply NdArrayBackend.Default p x outputs noise
            bitsOf fused = bitsOf generic)
