module Schedulers.PropertyTests.TorchRngProperties

open FsCheck.Xunit
open Schedulers.Core

let private bits (a: float32[]) = a |> Array.map System.BitConverter.SingleToInt32Bits

/// The managed torch streams are values: the same state gives the same numbers, and a draw split in two continues
/// exactly where one draw would.
[<Properties(MaxTest = 60)>]
module TorchCpuStream =

    [<Property>]
    let ``the same state gives the same values and the same next state`` (seed: uint64) (n: byte) =
        let g = TorchCpu.manualSeed seed |> TorchCpu.rand 700 |> snd
        let a, ga = TorchCpu.randn (int n) g
        let b, gb = TorchCpu.randn (int n) g
        bits a = bits b && ga = gb && fst (TorchCpu.rand 3 ga) = fst (TorchCpu.rand 3 gb)

    [<Property>]
    let ``rand split in two equals one rand`` (seed: uint64) (a: uint16) (b: byte) =
        let a = int a % 1500
        let g = TorchCpu.manualSeed seed
        let first, g1 = TorchCpu.rand a g
        let second, g2 = TorchCpu.rand (int b) g1
        let whole, gw = TorchCpu.rand (a + int b) g
        Array.append first second = whole && g2 = gw

    [<Property>]
    let ``randn of whole blocks split in two equals one randn`` (seed: uint64) (a: byte) (b: byte) =
        // Multiples of 16 (at least 16) take the block path with no recomputed tail, so the blocks just continue.
        let a = 16 * (1 + int a % 40)
        let b = 16 * (1 + int b % 40)
        let g = TorchCpu.manualSeed seed
        let first, g1 = TorchCpu.randn a g
        let second, g2 = TorchCpu.randn b g1
        let whole, gw = TorchCpu.randn (a + b) g
        bits (Array.append first second) = bits whole && g2 = gw

    [<Property>]
    let ``a draw below 16 values takes two words per pair and keeps the second normal`` (seed: uint64) =
        let g = TorchCpu.manualSeed seed
        let one, g1 = TorchCpu.randnDouble 1 g
        let two, _ = TorchCpu.randnDouble 2 g
        g1.CachedNormal = ValueSome two[1] && one[0] = two[0]
        && fst (TorchCpu.randomWords 1 g1) = (TorchCpu.randomWords 5 g |> fst).[4..4]

    [<Property>]
    let ``the eight-lane AVX2 block equals its lanes one by one`` (seed: uint64) =
        let uniforms, _ = TorchCpu.rand 64 (TorchCpu.manualSeed seed)
        let vector = Array.copy uniforms
        let lanes = Array.copy uniforms
        for offset in 0 .. 16 .. 48 do
            TorchCpuMath.avx2Block vector offset
            TorchCpuMath.avx2BlockLanes lanes offset
        bits vector = bits lanes

[<Properties(MaxTest = 40)>]
module TorchCudaStream =

    [<Property>]
    let ``the same state gives the same values`` (seed: uint64) (n: uint16) =
        let g = TorchCuda.manualSeed CudaDevices.T4 seed
        let a, ga = TorchCuda.randn (int n) g
        let b, gb = TorchCuda.randn (int n) g
        bits a = bits b && ga = gb

    [<Property>]
    let ``below the layout limit a draw is a prefix of a larger one and advances the offset by 4`` (seed: uint64) (n: uint16) (extra: uint16) =
        let device = CudaDevices.T4
        let m = min (int device.UniformLayoutLimit) (int n + int extra + 1)
        let n = min (int n + 1) m
        let g = TorchCuda.manualSeed device seed
        let small, gs = TorchCuda.rand n g
        let large, _ = TorchCuda.rand m g
        small = large[0 .. n - 1] && gs.Offset = 4UL

    [<Property>]
    let ``the layout covers every element once and rounds the offset to a multiple of 4`` (n: int) (sms: byte) =
        let n = 1 + abs (n % 3_000_000)
        let device = CudaDevices.create "test" (1 + int sms % 150) 1536
        let l = TorchCuda.layout device (int64 n)
        l.Stride * 4L * l.Rounds >= int64 n
        && l.Stride * 4L * (l.Rounds - 1L) < int64 n
        && l.OffsetIncrement % 4UL = 0UL
        && l.Blocks <= int64 device.MultiprocessorCount * 6L

[<Properties(MaxTest = 40)>]
module TorchCpuInto =

    [<Property>]
    let ``randnInto fills a buffer with what randn returns and the same next state`` (seed: uint64) (n: uint16) =
        let n = int n % 3000
        let g = TorchCpu.manualSeed seed
        let values, next = TorchCpu.randn n g
        let buffer = Array.create n nanf
        let next' = TorchCpu.randnInto buffer g
        bits buffer = bits values && next' = next
