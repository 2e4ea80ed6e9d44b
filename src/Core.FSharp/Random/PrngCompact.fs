namespace Schedulers.Core

open System
open System.Numerics
open System.Runtime.Intrinsics
open System.Runtime.Intrinsics.X86
open System.Runtime.InteropServices

/// JAX's normal (√2·erf_inv(u), u uniform on (−1, 1)) for pieces of up to `PieceSize` partitionable-mode elements,
/// with its two-branch logarithm evaluated only where each branch applies. XLA's `log1p(−u²)` is a rational
/// approximation where |u²| < 0.4142 (about 64% of inputs) and `log(1 − u²)` elsewhere; evaluating both on every
/// lane and selecting, as `PrngVector512.normalOfBits` does, spends most of its time on the branch that is thrown
/// away. Here each piece is processed in three passes over L1-resident buffers: (1) threefry bits, u and z = −u²,
/// with the z of each branch packed into its own list (AVX-512 `vcompressps`); (2) each branch over its packed list
/// only; (3) the branch results unpacked back into lane order (`vexpandps`), the erf_inv polynomial and the scaling.
/// The operations applied to each element are exactly those of the scalar `Prng.normalOfBits`, so the bits are the
/// same (the exhaustive and property tests check this).
module internal PrngCompact =

    type V = Vector512<uint32>
    type F = Vector512<float32>

    /// The largest piece: 4 KiB per buffer, so the piece's buffers stay in L1 across the three passes.
    [<Literal>]
    let PieceSize = 1024

    /// True when the compacting path can run (AVX-512F's compress and expand).
    let isAccelerated = Avx512F.IsSupported

    /// Per-thread buffers of one piece: u, the near-branch mask per lane, and the two packed lists (with a vector of
    /// slack, since each packing step stores a whole vector).
    [<AbstractClass; Sealed>]
    type Buffers =
        [<ThreadStatic; DefaultValue>]
        static val mutable private u: float32[]

        [<ThreadStatic; DefaultValue>]
        static val mutable private near: float32[]

        [<ThreadStatic; DefaultValue>]
        static val mutable private far: float32[]

        [<ThreadStatic; DefaultValue>]
        static val mutable private mask: float32[]

        /// This thread's buffers as (u, mask, near, far), allocated on first use.
        static member Get() =
            if obj.ReferenceEquals(Buffers.u, null) then
                Buffers.u <- GC.AllocateUninitializedArray<float32> PieceSize
                Buffers.mask <- GC.AllocateUninitializedArray<float32> PieceSize
                Buffers.near <- GC.AllocateUninitializedArray<float32>(PieceSize + 16)
                Buffers.far <- GC.AllocateUninitializedArray<float32>(PieceSize + 16)
            struct (Buffers.u, Buffers.mask, Buffers.near, Buffers.far)

    let inline ld (x: float32[]) (i: int) = Vector512.LoadUnsafe(&MemoryMarshal.GetArrayDataReference x, unativeint i)
    let inline st (v: F) (x: float32[]) (i: int) = Vector512.StoreUnsafe(v, &MemoryMarshal.GetArrayDataReference x, unativeint i)

    /// Pass 1 for one vector of bits at piece offset j: stores u and the near mask, appends z to the list of its
    /// branch, and returns the number of near lanes.
    let inline split (uBuf: float32[]) (maskBuf: float32[]) (near: float32[]) (far: float32[]) (bits: V) (j: int) (nNear: int) (nFar: int) : int =
        let u = PrngVector512.uniformOfBits bits
        let z = u * -u
        let nearMask = PrngVector512.isLog1pNear z
        st u uBuf j
        st nearMask maskBuf j
        st (Avx512F.Compress(F.Zero, nearMask, z)) near nNear
        st (Avx512F.Compress(F.Zero, Vector512.OnesComplement nearMask, z)) far nFar
        BitOperations.PopCount(Vector512.ExtractMostSignificantBits nearMask)

    /// Pass 2, near branch: w = −log1p(z) by the rational approximation, in place over the packed list.
    let nearBranch (near: float32[]) (count: int) =
        let mutable q = 0
        while q < count do
            st -(PrngVector512.log1pNear (ld near q)) near q
            q <- q + 16

    /// Pass 2, far branch: w = −log(1 + z) (XLA's logf), in place over the packed list.
    let farBranch (far: float32[]) (count: int) =
        let mutable q = 0
        while q < count do
            st -(PrngVector512.log1pFar (ld far q)) far q
            q <- q + 16

    /// Pass 3 for the vector at piece offset j: w unpacked from the two lists, then √2·(p(w)·u).
    let inline finish (uBuf: float32[]) (maskBuf: float32[]) (near: float32[]) (far: float32[]) (j: int) (pNear: int) (pFar: int) : F =
        let nearMask = ld maskBuf j
        let w = Avx512F.Expand(Avx512F.Expand(F.Zero, Vector512.OnesComplement nearMask, ld far pFar), nearMask, ld near pNear)
        PrngVector512.erfInvScaled w (ld uBuf j)

    /// Calls `consume j z` for j = 0, 16, ..., count − 16, with z the sixteen normals of the bits `bits32 j` gives for
    /// piece offsets j .. j+31 (j = 0, 32, ...). `count` must be a positive multiple of 32 of at most `PieceSize`.
    let inline forPieceOfBits
        (count: int) ([<InlineIfLambda>] bits32: int -> struct (V * V))
        ([<InlineIfLambda>] consume: int -> Vector512<float32> -> unit) =
        let struct (uBuf, maskBuf, near, far) = Buffers.Get()
        let mutable nNear = 0
        let mutable nFar = 0
        let mutable j = 0
        while j < count do
            let struct (b0, b1) = bits32 j
            let n0 = split uBuf maskBuf near far b0 j nNear nFar
            nNear <- nNear + n0
            nFar <- nFar + 16 - n0
            let n1 = split uBuf maskBuf near far b1 (j + 16) nNear nFar
            nNear <- nNear + n1
            nFar <- nFar + 16 - n1
            j <- j + 32
        nearBranch near nNear
        farBranch far nFar
        let mutable pNear = 0
        let mutable pFar = 0
        j <- 0
        while j < count do
            consume j (finish uBuf maskBuf near far j pNear pFar)
            let n = BitOperations.PopCount(Vector512.ExtractMostSignificantBits(ld maskBuf j))
            pNear <- pNear + n
            pFar <- pFar + 16 - n
            j <- j + 16

    /// `forPieceOfBits` with the partitionable-mode threefry bits of flat indices `first + j` under the key schedule
    /// `ks`; the indices must stay within one 2^32 block of the high counter word.
    let inline forPiece
        (ks: inref<PrngVector512.KeySchedule>) (first: int64) (count: int)
        ([<InlineIfLambda>] consume: int -> Vector512<float32> -> unit) =
        let schedule = ks
        forPieceOfBits count (fun j -> PrngVector512Pair.bits32 &schedule (first + int64 j)) consume

    /// The normals of the given bits (`Prng.normalOfBits` of each), computed by the compacting passes where AVX-512F
    /// exists (by `PrngVector512.normalOfBits` elsewhere):
    /// `bits.Length` must be a positive multiple of 32 of at most `PieceSize`.
    let normalsOfBits (bits: uint32[]) (out: float32[]) =
        if bits.Length = 0 || bits.Length % 32 <> 0 || bits.Length > PieceSize || out.Length < bits.Length then
            invalidArg "bits" (sprintf "bits has %d elements (out %d) but must have a positive multiple of 32 up to %d" bits.Length out.Length PieceSize)
        let load (j: int) = Vector512.LoadUnsafe(&MemoryMarshal.GetArrayDataReference bits, unativeint j)
        let store (j: int) (z: F) = Vector512.StoreUnsafe(z, &MemoryMarshal.GetArrayDataReference out, unativeint j)
        if isAccelerated then
            forPieceOfBits bits.Length (fun j -> struct (load j, load (j + 16))) store
        else
            // Without AVX-512 there is no compress/expand: both branches on every lane (the same values).
            for j in 0 .. 16 .. bits.Length - 16 do
                store j (PrngVector512.normalOfBits (load j))
