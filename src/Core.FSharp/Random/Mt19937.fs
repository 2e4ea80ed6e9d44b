namespace Schedulers.Core

open System
open System.Runtime.InteropServices
open System.Runtime.Intrinsics

/// The 32-bit Mersenne Twister as torch's CPU generator runs it (ATen `at::mt19937`,
/// aten/src/ATen/core/MT19937RNGEngine.h): `init_genrand` seeding, the standard twist of 624 words and the
/// standard tempering. The functions work on a caller's private copy of the 624 words; `TorchCpuGenerator`
/// copies its state before calling them, so no change is ever visible outside.
module internal Mt19937 =

    /// Words in the state.
    [<Literal>]
    let N = 624

    [<Literal>]
    let private M = 397

    [<Literal>]
    let private MatrixA = 0x9908B0DFu

    [<Literal>]
    let private Upper = 0x80000000u

    [<Literal>]
    let private Lower = 0x7FFFFFFFu

    /// `mt19937::init_with_uint32`: `state[0] = seed mod 2^32`, `state[i] = 1812433253·(s ⊕ s>>30) + i`.
    /// torch's `manual_seed` keeps only the low 32 bits of the seed for the engine.
    let seed (seed: uint64) : uint32[] =
        let s = Array.zeroCreate<uint32> N
        s[0] <- uint32 seed
        for i in 1 .. N - 1 do
            s[i] <- 1812433253u * (s[i - 1] ^^^ (s[i - 1] >>> 30)) + uint32 i
        s

    let inline private twistOne (s: uint32[]) (i: int) (far: int) =
        let y = (s[i] &&& Upper) ||| (s[(i + 1) % N] &&& Lower)
        s[i] <- s[far] ^^^ (y >>> 1) ^^^ ((0u - (y &&& 1u)) &&& MatrixA)

    /// Eight words at `i` of the 624 (the callers keep i + 8 ≤ 624; unchecked loads: the bounds checks of spans
    /// cost more than the twist itself).
    let inline private load (s: uint32[]) (i: int) =
        Vector256.LoadUnsafe(&MemoryMarshal.GetArrayDataReference s, unativeint i)

    let inline private twistVector (s: uint32[]) (i: int) (far: int) =
        // Lanes i..i+7 read words i+1..i+8 (not yet rewritten) and far..far+7, which the split of the loop
        // below keeps on the right side of the rewrite (distances 227 and 397 exceed the 8 lanes).
        let y = (load s i &&& Vector256.Create Upper) ||| (load s (i + 1) &&& Vector256.Create Lower)
        let odd = Vector256.Equals(y &&& Vector256.Create 1u, Vector256.Create 1u)
        let v = load s far ^^^ Vector256.ShiftRightLogical(y, 1) ^^^ (odd &&& Vector256.Create MatrixA)
        v.StoreUnsafe(&MemoryMarshal.GetArrayDataReference s, unativeint i)

    /// `mt19937::next_state`: rewrite all 624 words in place (eight at a time where the recurrence allows).
    let twist (s: uint32[]) =
        // i < 227 reads the old word i+397; 227 ≤ i < 623 reads the new word i−227; 623 wraps to word 0.
        let mutable i = 0
        while i + 8 <= N - M do
            twistVector s i (i + M)
            i <- i + 8
        while i < N - M do
            twistOne s i (i + M)
            i <- i + 1
        while i + 8 <= N - 1 do
            twistVector s i (i + M - N)
            i <- i + 8
        while i < N do
            twistOne s i (i + M - N)
            i <- i + 1

    /// The tempering of one state word into one output.
    let inline temper (w: uint32) =
        let mutable y = w
        y <- y ^^^ (y >>> 11)
        y <- y ^^^ ((y <<< 7) &&& 0x9D2C5680u)
        y <- y ^^^ ((y <<< 15) &&& 0xEFC60000u)
        y ^^^ (y >>> 18)

    /// The tempering of eight words.
    let inline temperVector (w: Vector256<uint32>) =
        let mutable y = w
        y <- y ^^^ Vector256.ShiftRightLogical(y, 11)
        y <- y ^^^ (Vector256.ShiftLeft(y, 7) &&& Vector256.Create 0x9D2C5680u)
        y <- y ^^^ (Vector256.ShiftLeft(y, 15) &&& Vector256.Create 0xEFC60000u)
        y ^^^ Vector256.ShiftRightLogical(y, 18)

    /// Fill `dest` with the next outputs of the engine whose words are `s` and whose next word is `index`
    /// (`N` = a twist is due, as after seeding); returns the new index. `s` is rewritten by the twists.
    let fill (s: uint32[]) (index: int) (dest: Span<uint32>) : int =
        let mutable next = index
        let mutable written = 0
        while written < dest.Length do
            if next = N then
                twist s
                next <- 0
            let take = min (dest.Length - written) (N - next)
            let out = dest.Slice(written, take)
            let mutable k = 0
            while k + 8 <= take do
                (temperVector (load s (next + k))).StoreUnsafe(&MemoryMarshal.GetReference out, unativeint k)
                k <- k + 8
            while k < take do
                out[k] <- temper s[next + k]
                k <- k + 1
            next <- next + take
            written <- written + take
        next
