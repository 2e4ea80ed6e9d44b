module Schedulers.PropertyTests.PrngProperties

open FsCheck.Xunit
open Schedulers.Core

[<assembly: Xunit.CollectionBehavior(DisableTestParallelization = false)>]
do ()

[<Properties(Arbitrary = [| typeof<Generators> |], MaxTest = 100)>]
module Determinism =

    [<Property>]
    let ``the same key gives the same normal stream`` (key: PrngKey) (mode: ThreefryMode) =
        Prng.normalWith mode [| 37 |] key = Prng.normalWith mode [| 37 |] key

    [<Property>]
    let ``the same key gives the same bits and split`` (key: PrngKey) (mode: ThreefryMode) =
        Prng.bitsWith mode [| 9 |] key = Prng.bitsWith mode [| 9 |] key
        && Prng.splitWith mode 3 key = Prng.splitWith mode 3 key

    [<Property>]
    let ``split children differ from each other and from the parent`` (key: PrngKey) (mode: ThreefryMode) =
        let children = Prng.splitWith mode 4 key
        (Array.distinct children).Length = 4 && not (Array.contains key children)

    [<Property>]
    let ``partitionable split is prefix-stable and equals foldIn`` (key: PrngKey) =
        let five = Prng.split 5 key
        Prng.split 3 key = five[0..2] && Array.init 5 (fun i -> Prng.foldIn (uint32 i) key) = five

    [<Property>]
    let ``partitionable bits are prefix-stable and reshape-invariant`` (key: PrngKey) =
        let flat = Prng.bits [| 12 |] key
        Prng.bits [| 3; 4 |] key = flat && Prng.bits [| 7 |] key = flat[0..6]

    [<Property>]
    let ``uniform lies in the half-open unit interval`` (key: PrngKey) (mode: ThreefryMode) =
        Prng.uniformWith mode [| 257 |] key |> Array.forall (fun u -> u >= 0.0f && u < 1.0f)

    [<Property>]
    let ``a block of a draw equals the same slice of the whole draw`` (key: PrngKey) (mode: ThreefryMode) =
        let whole = Prng.normalWith mode [| 101 |] key
        let block = Array.zeroCreate<float32> 40
        Prng.normalBlockInto mode key 101L 37L (System.Span block)
        block = whole[37..76]

module Statistics =

    let private moments (xs: float32[]) =
        let n = float xs.Length
        let mean = (xs |> Array.sumBy float) / n
        let var = (xs |> Array.sumBy (fun x -> (float x - mean) ** 2.0)) / n
        mean, var

    [<Xunit.Theory>]
    [<Xunit.InlineData(ThreefryMode.Partitionable)>]
    [<Xunit.InlineData(ThreefryMode.Legacy)>]
    let ``a million normals have mean 0 and variance 1`` (mode: ThreefryMode) =
        let mean, var = Prng.normalWith mode [| 1_000_000 |] (Prng.key 2024L) |> moments
        Xunit.Assert.InRange(mean, -0.005, 0.005)
        Xunit.Assert.InRange(var, 0.99, 1.01)

    [<Xunit.Fact>]
    let ``a million uniforms have mean one half and variance one twelfth`` () =
        let mean, var = Prng.uniform [| 1_000_000 |] (Prng.key 7L) |> moments
        Xunit.Assert.InRange(mean, 0.499, 0.501)
        Xunit.Assert.InRange(var, 1.0 / 12.0 - 0.001, 1.0 / 12.0 + 0.001)
