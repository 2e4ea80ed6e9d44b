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

[<Properties(Arbitrary = [| typeof<Generators> |], MaxTest = 200)>]
module Vectorised =

    let private asBits (xs: float32[]) = xs |> Array.map System.BitConverter.SingleToUInt32Bits

    [<Property>]
    let ``vectorised and scalar normals agree bit for bit`` (key: PrngKey) (mode: ThreefryMode) (FsCheck.PositiveInt extra) (FsCheck.NonNegativeInt skip) =
        // Any block of any draw: lengths that are not multiples of 8, offsets that straddle the legacy halves.
        let total = 8 + extra % 300
        let offset = skip % total
        let length = total - offset
        let vectorised = Array.zeroCreate<float32> length
        let scalar = Array.zeroCreate<float32> length
        Prng.normalBlockInto mode key (int64 total) (int64 offset) (System.Span vectorised)
        Prng.normalBlockIntoScalar mode key (int64 total) (int64 offset) (System.Span scalar)
        asBits vectorised = asBits scalar

    [<Property>]
    let ``vectorised normals agree with the scalar formula on every 23-bit input sampled`` (words: uint32[]) =
        let padded = Array.append words (Array.zeroCreate (8 - words.Length % 8))
        let vectorised = Array.zeroCreate<float32> padded.Length
        for j in 0 .. 8 .. padded.Length - 1 do
            let v = PrngVector.normalOfBits (System.Runtime.Intrinsics.Vector256.Create<uint32>(System.ReadOnlySpan(padded, j, 8)))
            System.Runtime.Intrinsics.Vector256.CopyTo(v, System.Span(vectorised, j, 8))
        asBits vectorised = asBits (padded |> Array.map Prng.normalOfBits)

    [<Property>]
    let ``vectorised and scalar bits agree`` (key: PrngKey) (mode: ThreefryMode) (FsCheck.PositiveInt extra) =
        let total = 8 + extra % 300
        let vectorised = Array.zeroCreate<uint32> total
        let scalar = Array.zeroCreate<uint32> total
        Prng.bitsBlockInto mode key (int64 total) 0L (System.Span vectorised)
        Prng.bitsBlockIntoScalar mode key (int64 total) 0L (System.Span scalar)
        vectorised = scalar

    [<Xunit.Fact>]
    let ``every one of the 2^23 normal inputs agrees between the vector and scalar paths`` () =
        // normal depends only on bits >>> 9, so 2^23 inputs cover every possible output.
        let mutable mismatches = 0
        let scalar = Array.zeroCreate<float32> 8
        for k in 0u .. 8u .. (1u <<< 23) - 1u do
            let b = System.Runtime.Intrinsics.Vector256.Create(k, k + 1u, k + 2u, k + 3u, k + 4u, k + 5u, k + 6u, k + 7u)
            let v = PrngVector.normalOfBits (System.Runtime.Intrinsics.Vector256.ShiftLeft(b, 9))
            for j in 0 .. 7 do
                if System.BitConverter.SingleToUInt32Bits(System.Runtime.Intrinsics.Vector256.GetElement(v, j)) <> System.BitConverter.SingleToUInt32Bits(Prng.normalOfBits ((k + uint32 j) <<< 9)) then
                    mismatches <- mismatches + 1
        Xunit.Assert.Equal(0, mismatches)

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
