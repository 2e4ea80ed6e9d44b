namespace Schedulers.PropertyTests

open FsCheck
open FsCheck.FSharp
open Schedulers.Core

/// Arbitrary values for the core's types, registered with `[<Properties(Arbitrary = [| typeof<Generators> |])>]`.
type Generators =
    /// Any key: both words uniformly random.
    static member PrngKey() : Arbitrary<PrngKey> =
        gen {
            let! k0 = ArbMap.defaults |> ArbMap.generate<uint32>
            let! k1 = ArbMap.defaults |> ArbMap.generate<uint32>
            return Prng.ofWords k0 k1
        }
        |> Arb.fromGen

    /// Either threefry mode.
    static member ThreefryMode() : Arbitrary<ThreefryMode> =
        Gen.elements [ ThreefryMode.Partitionable; ThreefryMode.Legacy ] |> Arb.fromGen

/// A small array shape: rank 1 to 4, each dimension 1 to 6 (batch first).
type SmallShape = SmallShape of int[]

/// Generators of shapes and arrays for the kernel properties.
type ShapeGenerators =
    /// Shapes of rank 1–4 with dimensions 1–6.
    static member SmallShape() : Arbitrary<SmallShape> =
        gen {
            let! rank = Gen.choose (1, 4)
            let! dims = Gen.arrayOfLength rank (Gen.choose (1, 6))
            return SmallShape dims
        }
        |> Arb.fromGen
