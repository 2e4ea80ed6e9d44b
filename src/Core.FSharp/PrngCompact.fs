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

    let inline k (x: float32) = Vector512.Create x
    let inline fma (a: F) (b: F) (c: F) = Vector512.FusedMultiplyAdd(a, b, c)
    let inline ld (x: float32[]) (i: int) = Vector512.LoadUnsafe(&MemoryMarshal.GetArrayDataReference x, unativeint i)
    let inline st (v: F) (x: float32[]) (i: int) = Vector512.StoreUnsafe(v, &MemoryMarshal.GetArrayDataReference x, unativeint i)

    /// Pass 1 for one vector of bits at piece offset j: stores u and the near mask, appends z to the list of its
    /// branch, and returns the number of near lanes.
    let inline split (uBuf: float32[]) (maskBuf: float32[]) (near: float32[]) (far: float32[]) (bits: V) (j: int) (nNear: int) (nFar: int) : int =
        let f = (Vector512.ShiftRightLogical(bits, 9) ||| Vector512.Create 0x3F800000u).AsSingle() - k 1.0f
        let u = Vector512.Max(k 0xBF7FFFFFlf, fma f (k 2.0f) (k 0xBF7FFFFFlf))
        let z = u * -u
        let nearMask = Vector512.GreaterThan(z, k 0xBED413CDlf)
        st u uBuf j
        st nearMask maskBuf j
        st (Avx512F.Compress(F.Zero, nearMask, z)) near nNear
        st (Avx512F.Compress(F.Zero, Vector512.OnesComplement nearMask, z)) far nFar
        BitOperations.PopCount(Vector512.ExtractMostSignificantBits nearMask)

    /// Pass 2, near branch: w = −(z + (−½z² + (z·z²)·(P(z)/Q(z)))) in place over the packed list.
    let nearBranch (near: float32[]) (count: int) =
        let mutable q = 0
        while q < count do
            let z = ld near q
            let z2 = z * z
            let num = fma (fma (fma (fma (fma (fma (k 0x383DE04Blf) z (k 0x3EFF40C5lf)) z (k 0x40D284FAlf)) z (k 0x41EF4B9Clf)) z (k 0x4273CC76lf)) z (k 0x426473ADlf)) z (k 0x41A05101lf)
            let den = fma (fma (fma (fma (fma (fma (k 1.0f) z (k 0x417101ADlf)) z (k 0x42A6185Blf)) z (k 0x435DC32Dlf)) z (k 0x439A8CA3lf)) z (k 0x43586D8Alf)) z (k 0x42707982lf)
            st -(z + fma (k -0.5f) z2 ((z * z2) * (num / den))) near q
            q <- q + 16

    /// Pass 2, far branch: w = −log(1 + z) (XLA's logf; 1 + z ≥ 2^-23 is a normal float) in place over the list.
    let farBranch (far: float32[]) (count: int) =
        let mutable q = 0
        while q < count do
            let y = ld far q + k 1.0f
            let b = y.AsUInt32()
            let m = ((b &&& Vector512.Create 0x807FFFFFu) ||| Vector512.Create 0x3F000000u).AsSingle()
            let e0 = k 1.0f + Vector512.ConvertToSingle(Vector512.ShiftRightLogical(b, 23).AsInt32() - Vector512.Create 127)
            let small = Vector512.LessThan(m, k 0x3F3504F3lf)
            let e = e0 - (small &&& k 1.0f)
            let x = Vector512.ConditionalSelect(small, (m - k 1.0f) + m, m - k 1.0f)
            let x2 = x * x
            let x3 = x2 * x
            let ya = fma (fma x (k 0x3D9021BBlf) (k 0xBDEBD1B8lf)) x (k 0x3DEF251Alf)
            let yb = fma (fma x (k 0xBDFE5D4Flf) (k 0x3E11E9BFlf)) x (k 0xBE2AAE50lf)
            let yc = fma (fma x (k 0x3E4CCEAClf) (k 0xBE7FFFFClf)) x (k 0x3EAAAAAAlf)
            let y1 = fma (fma ya x3 yb) x3 yc
            let y2 = fma y1 x3 (e * k 0xB95E8083lf)
            let x4 = fma (k -0.5f) x2 x
            st -(fma e (k 0x3F318000lf) (x4 + y2)) far q
            q <- q + 16

    /// Pass 3 for the vector at piece offset j: w unpacked from the two lists, then √2·(p(w)·u).
    let inline finish (uBuf: float32[]) (maskBuf: float32[]) (near: float32[]) (far: float32[]) (j: int) (pNear: int) (pFar: int) : F =
        let nearMask = ld maskBuf j
        let w = Avx512F.Expand(Avx512F.Expand(F.Zero, Vector512.OnesComplement nearMask, ld far pFar), nearMask, ld near pNear)
        let tc = w - k 2.5f
        let mutable p = fma (fma (fma (fma (fma (fma (fma (fma (k 0x32F16588lf) tc (k 0x34B84B36lf)) tc (k 0xB66C7357lf)) tc (k 0xB6935AC1lf)) tc (k 0x396532DBlf)) tc (k 0xBAA45408lf)) tc (k 0xBB88E4EFlf)) tc (k 0x3E7C8F63lf)) tc (k 0x3FC02E2Flf)
        let central = Vector512.LessThan(w, k 5.0f)
        if not (Vector512.EqualsAll(central.AsUInt32(), Vector512<uint32>.AllBitsSet)) then
            let tt = Vector512.Sqrt w - k 3.0f
            let q = fma (fma (fma (fma (fma (fma (fma (fma (k 0xB951F09Blf) tt (k 0x38D3B56Blf)) tt (k 0x3AB0DC72lf)) tt (k 0xBB70BDE7lf)) tt (k 0x3BBC127Blf)) tt (k 0xBBF9C5D7lf)) tt (k 0x3C1AA57Elf)) tt (k 0x3F8036DBlf)) tt (k 0x40354F7Elf)
            p <- Vector512.ConditionalSelect(central, p, q)
        k 0x3FB504F3lf * (p * ld uBuf j)

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

    /// The normals of the given bits (`Prng.normalOfBits` of each), computed by the compacting passes:
    /// `bits.Length` must be a positive multiple of 32 of at most `PieceSize`.
    let normalsOfBits (bits: uint32[]) (out: float32[]) =
        if bits.Length = 0 || bits.Length % 32 <> 0 || bits.Length > PieceSize || out.Length < bits.Length then
            invalidArg "bits" (sprintf "bits has %d elements (out %d) but must have a positive multiple of 32 up to %d" bits.Length out.Length PieceSize)
        let load (j: int) = Vector512.LoadUnsafe(&MemoryMarshal.GetArrayDataReference bits, unativeint j)
        forPieceOfBits bits.Length (fun j -> struct (load j, load (j + 16))) (fun j z ->
            Vector512.StoreUnsafe(z, &MemoryMarshal.GetArrayDataReference out, unativeint j))
