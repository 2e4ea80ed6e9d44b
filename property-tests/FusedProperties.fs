module Schedulers.PropertyTests.FusedProperties

#nowarn "9" // reads the native normal table

open System
open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open Schedulers.Core

let private bitsOf (xs: float32[]) = xs |> Array.map BitConverter.SingleToUInt32Bits

/// The fused step kernels against the two separate combinations they replace (bit for bit).
[<Properties(Arbitrary = [| typeof<Generators>; typeof<ShapeGenerators> |], MaxTest = 100)>]
module FusedStep =

    let private ops = NdArrayBackend.Default :> IBackend<NdArray, PrngKey>

    let private separate (c0: float32) (x0: NdArray) (c1: float32) (x1: NdArray) (g: float32) (z: NdArray) =
        let mean = NdArrayBackend.CombineArrays [| struct (Scalar c0, x0); struct (Scalar c1, x1) |]
        mean, NdArrayBackend.CombineArrays [| struct (Scalar 1.0f, mean); struct (Scalar g, z) |]

    [<Property>]
    let ``CombineThenAdd equals two Combines`` (SmallShape shape) (key: PrngKey) (NormalFloat a) (NormalFloat b) (NormalFloat g) =
        let keys = Prng.split 3 key
        let x, y, z = NdArray.normal shape keys[0], NdArray.normal shape keys[1], NdArray.normal shape keys[2]
        let struct (mean, prev) = (ops.TryCombineThenAdd([| struct (Scalar(float32 a), x); struct (Scalar(float32 b), y) |], float32 g, z)).Value
        let mean', prev' = separate (float32 a) x (float32 b) y (float32 g) z
        mean = mean' && prev = prev'

    [<Property>]
    let ``CombineWithNoise equals Combine with the whole draw, over many noise blocks`` (key: PrngKey) (PositiveInt extra) (NormalFloat g) =
        // Lengths that end mid-block and mid-vector, up to a few noise blocks.
        let n = 1 + extra % 9000
        let keys = Prng.split 3 key
        let x, y = NdArray.normal [| n |] keys[0], NdArray.normal [| n |] keys[1]
        let struct (mean, prev) = Backend.combineWithNoise ops [| struct (Scalar 1.0f, x); struct (Scalar 0.75f, y) |] (float32 g) keys[2]
        let mean', prev' = separate 1.0f x 0.75f y (float32 g) (NdArray.normal [| n |] keys[2])
        mean = mean' && prev = prev'

    [<Property>]
    let ``per-batch coefficients take the unfused path with the same result`` (SmallShape shape) (key: PrngKey) =
        let keys = Prng.split 2 key
        let x, y = NdArray.normal shape keys[0], NdArray.normal shape keys[1]
        let coefs = Array.init x.BatchSize (fun b -> 0.5f + float32 b)
        let terms = [| struct (Scalar 1.0f, x); struct (PerBatch coefs, y) |]
        let struct (mean, prev) = Backend.combineWithNoise ops terms 0.3f keys[1]
        let mean' = NdArrayBackend.CombineArrays terms
        mean = mean' && prev = NdArrayBackend.CombineArrays [| struct (Scalar 1.0f, mean'); struct (Scalar 0.3f, NdArray.normal shape keys[1]) |]

    [<Property>]
    let ``the Flax step_pred equals the two-pass predictor with the drawn noise`` (SmallShape shape) (key: PrngKey) =
        let config = ScoreSdeVe.defaults
        let state = ScoreSdeVe.createState config |> ScoreSdeVe.setTimesteps config 10 |> ScoreSdeVe.setSigmas config 10
        let t = state.Timesteps.Value[4]
        let keys = Prng.split 2 key
        let sample, model = NdArray.normal shape keys[0], NdArray.normal shape keys[1]
        let fused = ScoreSdeVe.stepPred state model t sample key
        let plan = ScoreSdeVe.predictorPlan state t
        let z = NdArray.normal shape (ScoreSdeVe.flaxNoiseKey key)
        let mean, prev = separate 1.0f sample plan.DiffusionSquared model plan.Diffusion z
        fused.PrevSample = prev && fused.PrevSampleMean = Some mean

/// The normal generator's paths (16-lane, 8-lane, scalar, table) agree bit for bit.
[<Properties(Arbitrary = [| typeof<Generators> |], MaxTest = 100)>]
module NormalPaths =

    [<Property>]
    let ``sixteen-lane bits equal the scalar threefry`` (key: PrngKey) (NonNegativeInt skip) =
        // Sixteen indices just below or just above 2^32 (the high counter word 0 or 1; callers never straddle it).
        let near = int64 (skip % 1000)
        let offset = if skip % 2 = 0 then (1L <<< 32) - 16L - near else (1L <<< 32) + near
        let ks = PrngVector512.schedule key
        let v = PrngVector512.bits16 &ks offset
        let expected = Array.zeroCreate<uint32> 16
        Prng.bitsBlockIntoScalar ThreefryMode.Partitionable key (offset + 100L) offset (Span expected)
        Array.init 16 (fun i -> v[i]) = expected

    [<Property>]
    let ``paired sixteen-lane bits equal the scalar threefry`` (key: PrngKey) (NonNegativeInt skip) =
        let near = int64 (skip % 1000)
        let offset = if skip % 2 = 0 then (1L <<< 32) - 32L - near else (1L <<< 32) + near
        let ks = PrngVector512.schedule key
        let struct (v0, v1) = PrngVector512Pair.bits32 &ks offset
        let expected = Array.zeroCreate<uint32> 32
        Prng.bitsBlockIntoScalar ThreefryMode.Partitionable key (offset + 100L) offset (Span expected)
        Array.init 32 (fun i -> if i < 16 then v0[i] else v1[i - 16]) = expected

    [<Property>]
    let ``legacy sixteen-lane blocks equal the scalar threefry`` (key: PrngKey) (PositiveInt extra) (NonNegativeInt skip) =
        // Both halves of the legacy layout, odd totals included (the pad counter past the end is 0).
        let total = 64L + int64 (extra % 5000)
        let m = (total + 1L) / 2L
        let j = int64 (skip % int (m - 15L))
        let ks = PrngVector512.schedule key
        let struct (y0, y1) = PrngVector512.legacyBlocks16 &ks total m j
        let expected = Array.zeroCreate<uint32> (int total)
        Prng.bitsBlockIntoScalar ThreefryMode.Legacy key total 0L (Span expected)
        let secondHalf i = if m + j + int64 i < total then y1[i] = expected[int (m + j) + i] else true
        Array.init 16 (fun i -> y0[i]) = expected[int j .. int j + 15] && List.forall secondHalf [ 0 .. 15 ]

    [<Property>]
    let ``sixteen-lane normals equal the scalar formula`` (words: uint32[]) =
        let padded = Array.append words (Array.zeroCreate (16 - words.Length % 16))
        let actual = Array.zeroCreate<float32> padded.Length
        for j in 0 .. 16 .. padded.Length - 1 do
            let v = PrngVector512.normalOfBits (Runtime.Intrinsics.Vector512.Create<uint32>(ReadOnlySpan(padded, j, 16)))
            Runtime.Intrinsics.Vector512.CopyTo(v, Span(actual, j, 16))
        bitsOf actual = bitsOf (padded |> Array.map Prng.normalOfBits)

    [<Property>]
    let ``the table path and the computed path give the same draw`` (key: PrngKey) (mode: ThreefryMode) (PositiveInt extra) (NonNegativeInt skip) =
        let total = 16 + extra % 5000
        let offset = skip % total
        let viaTable = Array.zeroCreate<float32> (total - offset)
        let computed = Array.zeroCreate<float32> (total - offset)
        Prng.bitsBlockInto mode key (int64 total) (int64 offset) (Runtime.InteropServices.MemoryMarshal.Cast<float32, uint32>(Span viaTable))
        NormalTable.lookupInPlace (Span viaTable)
        Prng.normalBlockIntoComputed mode key (int64 total) (int64 offset) (Span computed)
        bitsOf viaTable = bitsOf computed

/// Exhaustive checks over all 2^23 inputs the normal depends on.
module Exhaustive =

    [<Xunit.Fact>]
    let ``the normal table equals the scalar formula on all 2^23 entries`` () =
        let table = NormalTable.get ()
        let mutable mismatches = 0
        for k in 0 .. NormalTable.Entries - 1 do
            let expected = Prng.normalOfBits (uint32 k <<< 9)
            if BitConverter.SingleToUInt32Bits(NativeInterop.NativePtr.get table k) <> BitConverter.SingleToUInt32Bits expected then
                mismatches <- mismatches + 1
        Xunit.Assert.Equal(0, mismatches)

    [<Xunit.Fact>]
    let ``sixteen-lane normals equal the scalar formula on all 2^23 inputs`` () =
        let lanes = Runtime.Intrinsics.Vector512.Create(0u, 1u, 2u, 3u, 4u, 5u, 6u, 7u, 8u, 9u, 10u, 11u, 12u, 13u, 14u, 15u)
        let mutable mismatches = 0
        for k in 0 .. 16 .. NormalTable.Entries - 1 do
            let v = PrngVector512.normalOfBits (Runtime.Intrinsics.Vector512.ShiftLeft(Runtime.Intrinsics.Vector512.Create(uint32 k) + lanes, 9))
            for i in 0 .. 15 do
                if BitConverter.SingleToUInt32Bits v[i] <> BitConverter.SingleToUInt32Bits(Prng.normalOfBits (uint32 (k + i) <<< 9)) then
                    mismatches <- mismatches + 1
        Xunit.Assert.Equal(0, mismatches)

    [<Xunit.Fact>]
    let ``branch-compacted normals equal the scalar formula on all 2^23 inputs`` () =
        // Inputs visited in a scrambled order (an odd multiplier is a bijection mod 2^23), so every vector mixes
        // lanes of both logarithm branches and the packed lists are unpacked at varied positions.
        let bits = Array.zeroCreate<uint32> PrngCompact.PieceSize
        let normals = Array.zeroCreate<float32> PrngCompact.PieceSize
        let mutable mismatches = 0
        for base' in 0 .. PrngCompact.PieceSize .. NormalTable.Entries - 1 do
            for j in 0 .. bits.Length - 1 do
                bits[j] <- ((uint32 (base' + j) * 0x9E3779B1u) &&& 0x7FFFFFu) <<< 9
            PrngCompact.normalsOfBits bits normals
            for j in 0 .. bits.Length - 1 do
                if BitConverter.SingleToUInt32Bits normals[j] <> BitConverter.SingleToUInt32Bits(Prng.normalOfBits bits[j]) then
                    mismatches <- mismatches + 1
        Xunit.Assert.Equal(0, mismatches)

    [<Xunit.Fact>]
    let ``a parallel fused step equals the single-thread one`` () =
        let n = 3 * KernelSettings.ParallelThreshold + 77
        let key = Prng.key 11L
        let x, y = NdArray.normal [| n |] (Prng.key 1L), NdArray.normal [| n |] (Prng.key 2L)
        let terms = [| struct (Scalar 1.0f, x); struct (Scalar 0.5f, y) |]
        let previous = KernelSettings.MaxThreads
        try
            KernelSettings.MaxThreads <- 1
            let struct (m1, p1) = Backend.combineWithNoise (NdArrayBackend.Default :> IBackend<NdArray, PrngKey>) terms 0.25f key
            KernelSettings.MaxThreads <- 4
            let struct (m2, p2) = Backend.combineWithNoise (NdArrayBackend.Default :> IBackend<NdArray, PrngKey>) terms 0.25f key
            Xunit.Assert.True((m1 = m2 && p1 = p2))
            let whole = NdArray.normal [| n |] key
            let expected = NdArrayBackend.CombineArrays [| struct (Scalar 1.0f, m1); struct (Scalar 0.25f, whole) |]
            Xunit.Assert.Equal<float32[]>(expected.ToArray(), p1.ToArray())
        finally
            KernelSettings.MaxThreads <- previous

/// KarrasVe's one-pass stages on the core backend against the generic op-by-op path (run through a wrapper backend
/// that is not `NdArrayBackend`), bit for bit, in both flavours.
[<Properties(Arbitrary = [| typeof<Generators>; typeof<ShapeGenerators> |], MaxTest = 100)>]
module FusedKarras =

    let private generic = OpByOpBackend(NdArrayBackend.Default) :> IBackend<NdArray, PrngKey>
    let private fused = NdArrayBackend.Default :> IBackend<NdArray, PrngKey>

    let private state (flavour: Flavour) = KarrasVe.createState flavour KarrasVe.defaults |> KarrasVe.setTimesteps 50

    [<Property>]
    let ``churn, Euler step and Heun correction equal the op-by-op path`` (SmallShape shape) (key: PrngKey) (torch: bool) (FsCheck.NonNegativeInt index) =
        let s = state (if torch then Flavour.Torch else Flavour.Flax)
        let struct (sigma, sigmaPrev) = KarrasVe.sigmasAt s (1 + index % 49)
        let keys = Prng.split 2 key
        let sample, model = NdArray.normal shape keys[0], NdArray.normal shape keys[1]
        let run (ops: IBackend<NdArray, PrngKey>) =
            let noised = KarrasVe.addNoiseToInputOn ops s sample sigma key
            let step = KarrasVe.stepOn ops s model noised.SigmaHat sigmaPrev noised.SampleHat
            let correct = KarrasVe.stepCorrectOn ops s model noised.SigmaHat sigmaPrev noised.SampleHat step.PrevSample step.Derivative
            [ noised.SampleHat; step.PrevSample; step.Derivative; step.PredOriginalSample; correct.PrevSample; correct.PredOriginalSample ]
        run fused = run generic
