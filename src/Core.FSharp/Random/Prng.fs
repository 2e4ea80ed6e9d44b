namespace Schedulers.Core

#nowarn "9" // one pinned store target in normalBlockIntoComputed

open System

/// JAX-compatible threefry2x32 PRNG (jax-prng spec §1–§8a): bit-exact keys, splits, fold-ins, bits, uniforms,
/// and normals bit-exact with JAX on XLA:CPU. Functions take the key last so they compose with `|>`.
module Prng =

    let inline private rotl (x: uint32) (r: int) = (x <<< r) ||| (x >>> (32 - r))

    /// The Threefry-2x32 block function with 20 rounds (Random123; spec §2): counter (x0, x1) under key → (y0, y1).
    let threefry2x32 (key: PrngKey) (x0: uint32) (x1: uint32) : struct (uint32 * uint32) =
        let ks0 = key.K0
        let ks1 = key.K1
        let ks2 = ks0 ^^^ ks1 ^^^ 0x1BD11BDAu
        let mutable a = x0 + ks0
        let mutable b = x1 + ks1
        // Four rounds (rotations R[0..3] or R[4..7]), then a key injection; five times. Written out so the
        // two words stay in registers.
        a <- a + b; b <- rotl b 13 ^^^ a
        a <- a + b; b <- rotl b 15 ^^^ a
        a <- a + b; b <- rotl b 26 ^^^ a
        a <- a + b; b <- rotl b 6 ^^^ a
        a <- a + ks1; b <- b + ks2 + 1u
        a <- a + b; b <- rotl b 17 ^^^ a
        a <- a + b; b <- rotl b 29 ^^^ a
        a <- a + b; b <- rotl b 16 ^^^ a
        a <- a + b; b <- rotl b 24 ^^^ a
        a <- a + ks2; b <- b + ks0 + 2u
        a <- a + b; b <- rotl b 13 ^^^ a
        a <- a + b; b <- rotl b 15 ^^^ a
        a <- a + b; b <- rotl b 26 ^^^ a
        a <- a + b; b <- rotl b 6 ^^^ a
        a <- a + ks0; b <- b + ks1 + 3u
        a <- a + b; b <- rotl b 17 ^^^ a
        a <- a + b; b <- rotl b 29 ^^^ a
        a <- a + b; b <- rotl b 16 ^^^ a
        a <- a + b; b <- rotl b 24 ^^^ a
        a <- a + ks1; b <- b + ks2 + 4u
        a <- a + b; b <- rotl b 13 ^^^ a
        a <- a + b; b <- rotl b 15 ^^^ a
        a <- a + b; b <- rotl b 26 ^^^ a
        a <- a + b; b <- rotl b 6 ^^^ a
        a <- a + ks2; b <- b + ks0 + 5u
        struct (a, b)

    /// The key with the given words.
    let ofWords (k0: uint32) (k1: uint32) : PrngKey = { K0 = k0; K1 = k1 }

    /// `jax.random.PRNGKey(seed)` in JAX's default 32-bit mode: the seed wraps to 32 bits, so the key is
    /// `[0, seed mod 2^32]` (−1 → [0, 4294967295]; 2^32 + 5 → [0, 5]).
    let key (seed: int64) : PrngKey = { K0 = 0u; K1 = uint32 seed }

    /// `jax.random.PRNGKey(seed)` with `jax_enable_x64`: the two's-complement 64-bit seed cut into its high and
    /// low words (−1 → [4294967295, 4294967295]; 2^32 + 5 → [1, 5]).
    let keyX64 (seed: int64) : PrngKey = { K0 = uint32 (uint64 seed >>> 32); K1 = uint32 seed }

    /// `jax.random.fold_in(key, data)`: the block of counter (0, data), the same in both modes.
    let foldIn (data: uint32) (key: PrngKey) : PrngKey =
        let struct (y0, y1) = threefry2x32 key 0u data
        { K0 = y0; K1 = y1 }

    let private checkCount (name: string) (n: int) =
        if n < 0 then
            invalidArg name (sprintf "%s is %d but must be non-negative" name n)

    /// `jax.random.split(key, n)` in the given mode: n new keys.
    let splitWith (mode: ThreefryMode) (n: int) (key: PrngKey) : PrngKey[] =
        checkCount "n" n
        match mode with
        | ThreefryMode.Partitionable ->
            // Subkey i is the block of the 64-bit counter i, so split(key, n)[i] = foldIn i key for i < 2^32.
            Array.init n (fun i ->
                let struct (y0, y1) = threefry2x32 key 0u (uint32 i)
                { K0 = y0; K1 = y1 })
        | ThreefryMode.Legacy ->
            // Flat hash of counters 0..2n−1: block j holds (j, n+j); the words Y0 ++ Y1 are then read in pairs.
            let words = Array.zeroCreate<uint32> (2 * n)
            for j in 0 .. n - 1 do
                let struct (y0, y1) = threefry2x32 key (uint32 j) (uint32 (n + j))
                words[j] <- y0
                words[n + j] <- y1
            Array.init n (fun i -> { K0 = words[2 * i]; K1 = words[2 * i + 1] })
        | other -> invalidArg "mode" (sprintf "mode is %A but must be Partitionable or Legacy" other)

    /// `jax.random.split(key, n)` in JAX's default (partitionable) mode.
    let split (n: int) (key: PrngKey) : PrngKey[] = splitWith ThreefryMode.Partitionable n key

    /// The number of elements of a shape; a scalar shape `[||]` has one. Throws on a negative dimension.
    let elementCount (shape: int[]) : int =
        if obj.ReferenceEquals(shape, null) then nullArg "shape"
        let mutable n = 1L
        for d in shape do
            if d < 0 then
                invalidArg "shape" (sprintf "shape %A has a negative dimension %d" shape d)
            n <- n * int64 d
            if n > int64 Array.MaxLength then
                invalidArg "shape" (sprintf "shape %A has more than %d elements" shape Array.MaxLength)
        int n

    /// The scalar reference of `bitsBlockInto`, one element at a time.
    let internal bitsBlockIntoScalar (mode: ThreefryMode) (key: PrngKey) (total: int64) (offset: int64) (dest: Span<uint32>) =
        match mode with
        | ThreefryMode.Partitionable ->
            for j in 0 .. dest.Length - 1 do
                let i = offset + int64 j
                let struct (y0, y1) = threefry2x32 key (uint32 (i >>> 32)) (uint32 i)
                dest[j] <- y0 ^^^ y1
        | ThreefryMode.Legacy ->
            // Counters 0..n−1 padded to even length 2m; block j hashes (j, m+j) and the output is Y0 ++ Y1.
            let m = (total + 1L) / 2L
            for j in 0 .. dest.Length - 1 do
                let i = offset + int64 j
                let block = if i < m then i else i - m
                let second = m + block
                let c1 = if second < total then uint32 second else 0u
                let struct (y0, y1) = threefry2x32 key (uint32 block) c1
                dest[j] <- if i < m then y0 else y1
        | other -> invalidArg "mode" (sprintf "mode is %A but must be Partitionable or Legacy" other)

    /// The sixteen-lane part of `bitsBlockInto`: fills `dest` from the start while whole vectors of sixteen indices
    /// stay within one vectorisable run (one 2^32 block of the high counter word; one half of the legacy layout) and
    /// returns how many elements it wrote.
    let private bitsBlockInto16 (mode: ThreefryMode) (key: PrngKey) (total: int64) (offset: int64) (dest: Span<uint32>) : int =
        let ks = PrngVector512.schedule key
        let mutable j = 0
        match mode with
        | ThreefryMode.Partitionable ->
            let sameHigh (i: int64) (count: int64) = (i >>> 32) = ((i + count - 1L) >>> 32)
            while j + 32 <= dest.Length && sameHigh (offset + int64 j) 32L do
                let struct (y0, y1) = PrngVector512Pair.bits32 &ks (offset + int64 j)
                Runtime.Intrinsics.Vector512.CopyTo(y0, dest.Slice j)
                Runtime.Intrinsics.Vector512.CopyTo(y1, dest.Slice(j + 16))
                j <- j + 32
            while j + 16 <= dest.Length && sameHigh (offset + int64 j) 16L do
                Runtime.Intrinsics.Vector512.CopyTo(PrngVector512.bits16 &ks (offset + int64 j), dest.Slice j)
                j <- j + 16
        | _ ->
            let m = (total + 1L) / 2L
            let mutable go = true
            while go && j + 16 <= dest.Length do
                let i = offset + int64 j
                if i + 15L < m then
                    let struct (y0, _) = PrngVector512.legacyBlocks16 &ks total m i
                    Runtime.Intrinsics.Vector512.CopyTo(y0, dest.Slice j)
                    j <- j + 16
                elif i >= m then
                    let struct (_, y1) = PrngVector512.legacyBlocks16 &ks total m (i - m)
                    Runtime.Intrinsics.Vector512.CopyTo(y1, dest.Slice j)
                    j <- j + 16
                else
                    go <- false
        j

    /// Fills `dest` with `random_bits(key, 32, shape)` flattened, where `dest.Length` = the element count.
    /// `offset` is the flat index of `dest[0]` within a larger array of `total` elements, so any block of a
    /// big draw can be produced on its own (and in parallel) with the same bits as the whole draw.
    let bitsBlockInto (mode: ThreefryMode) (key: PrngKey) (total: int64) (offset: int64) (dest: Span<uint32>) =
        if mode <> ThreefryMode.Partitionable && mode <> ThreefryMode.Legacy then
            invalidArg "mode" (sprintf "mode is %A but must be Partitionable or Legacy" mode)
        let mutable j = 0
        if PrngVector512.isAccelerated then
            j <- bitsBlockInto16 mode key total offset dest
        if Runtime.Intrinsics.Vector256.IsHardwareAccelerated then
            while j + 8 <= dest.Length do
                match PrngVector.bits8 mode key total (offset + int64 j) with
                | ValueSome v ->
                    Runtime.Intrinsics.Vector256.CopyTo(v, dest.Slice j)
                    j <- j + 8
                | ValueNone ->
                    bitsBlockIntoScalar mode key total (offset + int64 j) (dest.Slice(j, 8))
                    j <- j + 8
        bitsBlockIntoScalar mode key total (offset + int64 j) (dest.Slice j)

    /// `jax.random.bits(key, shape, uint32)` in the given mode, flattened in row-major order.
    let bitsWith (mode: ThreefryMode) (shape: int[]) (key: PrngKey) : uint32[] =
        let n = elementCount shape
        let out = Array.zeroCreate<uint32> n
        bitsBlockInto mode key (int64 n) 0L (Span out)
        out

    /// `jax.random.bits(key, shape, uint32)` in the default (partitionable) mode.
    let bits (shape: int[]) (key: PrngKey) : uint32[] = bitsWith ThreefryMode.Partitionable shape key

    /// The float in [0, 1) JAX makes from 32 random bits: the top 23 bits as mantissa of a number in [1, 2), minus 1.
    let inline unitFloat (b: uint32) : float32 = BitConverter.UInt32BitsToSingle((b >>> 9) ||| 0x3F800000u) - 1.0f

    /// `jax.random.uniform(key, shape)` on [0, 1) in float32 (exact on every backend), flattened.
    let uniformWith (mode: ThreefryMode) (shape: int[]) (key: PrngKey) : float32[] =
        bitsWith mode shape key |> Array.map unitFloat

    /// `jax.random.uniform(key, shape)` in the default mode.
    let uniform (shape: int[]) (key: PrngKey) : float32[] = uniformWith ThreefryMode.Partitionable shape key

    let inline private f32 (bits: uint32) = BitConverter.UInt32BitsToSingle bits
    let inline private fma (a: float32) (b: float32) (c: float32) = MathF.FusedMultiplyAdd(a, b, c)

    let private erfInvCentral =
        [| 0x32F16588u; 0x34B84B36u; 0xB66C7357u; 0xB6935AC1u; 0x396532DBu; 0xBAA45408u; 0xBB88E4EFu; 0x3E7C8F63u
           0x3FC02E2Fu |] |> Array.map f32
    let private erfInvTail =
        [| 0xB951F09Bu; 0x38D3B56Bu; 0x3AB0DC72u; 0xBB70BDE7u; 0x3BBC127Bu; 0xBBF9C5D7u; 0x3C1AA57Eu; 0x3F8036DBu
           0x40354F7Eu |] |> Array.map f32

    /// XLA's float32 `erf_inv` (Giles' approximation, FMA Horner as on XLA:CPU; spec §7–§8a).
    let erfInv (x: float32) : float32 =
        if MathF.Abs x = 1.0f then
            x * Single.PositiveInfinity
        else
            let w = -(XlaMath.log1p (x * -x))
            let central = w < 5.0f
            let t = if central then w - 2.5f else MathF.Sqrt w - 3.0f
            let c = if central then erfInvCentral else erfInvTail
            let mutable p = c[0]
            for i in 1 .. c.Length - 1 do
                p <- fma p t c[i]
            p * x

    let private normalLow = f32 0xBF7FFFFFu // nextafter(−1, 0)
    let private sqrt2 = f32 0x3FB504F3u

    /// The standard normal JAX makes from 32 random bits (spec §7): √2 · erf_inv(u), u uniform on (−1, 1).
    /// `u = f·2 + lo` is exact, so the value depends on `b >>> 9` only.
    let normalOfBits (b: uint32) : float32 =
        let u = MathF.Max(normalLow, unitFloat b * 2.0f + normalLow)
        sqrt2 * erfInv u

    /// The scalar reference of `normalBlockInto`, one element at a time.
    let internal normalBlockIntoScalar (mode: ThreefryMode) (key: PrngKey) (total: int64) (offset: int64) (dest: Span<float32>) =
        let bitsView = Runtime.InteropServices.MemoryMarshal.Cast<float32, uint32> dest
        bitsBlockIntoScalar mode key total offset bitsView
        for j in 0 .. dest.Length - 1 do
            dest[j] <- normalOfBits bitsView[j]

    /// `normalBlockInto` always computing √2·erf_inv(u) (never the table): eight lanes at a time where the machine
    /// has 256-bit SIMD, bit-exact with the scalar path.
    let internal normalBlockIntoComputed (mode: ThreefryMode) (key: PrngKey) (total: int64) (offset: int64) (dest: Span<float32>) =
        let bitsView = Runtime.InteropServices.MemoryMarshal.Cast<float32, uint32> dest
        let mutable j = 0
        if mode = ThreefryMode.Partitionable && PrngCompact.isAccelerated then
            // Pieces of whole 32-element groups whose indices share the high counter word, each branch of the
            // logarithm evaluated only on its own lanes (see `PrngCompact`).
            let ks = PrngVector512.schedule key
            let mutable go = true
            while go do
                let first = offset + int64 j
                let toBoundary = (((first >>> 32) + 1L) <<< 32) - first
                let count = int (min (int64 (min PrngCompact.PieceSize (dest.Length - j))) toBoundary) / 32 * 32
                if count = 0 then
                    go <- false
                else
                    use piece = fixed &dest[j]
                    PrngCompact.forPiece &ks first count (fun q z -> Runtime.Intrinsics.Vector512.Store(z, NativeInterop.NativePtr.add piece q))
                    j <- j + count
        elif PrngVector512.isAccelerated then
            // Legacy mode: the bits of a piece first (sixteen lanes), then its normals in place.
            let mutable go = true
            while go && j + 16 <= dest.Length do
                let piece = min (dest.Length - j) 1024
                let written = bitsBlockInto16 mode key total (offset + int64 j) (bitsView.Slice(j, piece))
                let mutable q = j
                while q + 16 <= j + written do
                    let v = Runtime.Intrinsics.Vector512.Create<uint32>(bitsView.Slice(q, 16))
                    Runtime.Intrinsics.Vector512.CopyTo(PrngVector512.normalOfBits v, dest.Slice q)
                    q <- q + 16
                j <- j + written
                go <- written = piece
        bitsBlockInto mode key total (offset + int64 j) (bitsView.Slice j)
        if Runtime.Intrinsics.Vector256.IsHardwareAccelerated then
            while j + 8 <= dest.Length do
                let b = Runtime.Intrinsics.Vector256.Create<uint32>(bitsView.Slice(j, 8))
                Runtime.Intrinsics.Vector256.CopyTo(PrngVector.normalOfBits b, dest.Slice j)
                j <- j + 8
        while j < dest.Length do
            dest[j] <- normalOfBits bitsView[j]
            j <- j + 1

    /// Draws of at least this many elements build (once) and use the 32 MiB normal table; smaller ones compute,
    /// unless the table already exists.
    [<Literal>]
    let TableThreshold = 65536

    /// Fills `dest` with the block at flat `offset` of `jax.random.normal(key, shape)` for a shape of `total`
    /// elements (see `bitsBlockInto`): the random bits, then either a lookup in the exact 2^23-entry table (large
    /// blocks, or any block once the table exists) or the vectorised computation. Every path gives the same bits.
    let normalBlockInto (mode: ThreefryMode) (key: PrngKey) (total: int64) (offset: int64) (dest: Span<float32>) =
        if KernelSettings.UseNormalTable && (dest.Length >= TableThreshold || NormalTable.isBuilt ()) then
            bitsBlockInto mode key total offset (Runtime.InteropServices.MemoryMarshal.Cast<float32, uint32> dest)
            NormalTable.lookupInPlace dest
        else
            normalBlockIntoComputed mode key total offset dest

    /// `jax.random.normal(key, shape)` in float32, flattened, in the given mode; bit-exact with JAX on XLA:CPU.
    /// Large draws are filled in parallel (see `KernelSettings.MaxThreads`).
    let normalWith (mode: ThreefryMode) (shape: int[]) (key: PrngKey) : float32[] =
        let n = elementCount shape
        let out = GC.AllocateUninitializedArray<float32> n
        Parallelism.forChunks n (fun start length -> normalBlockInto mode key (int64 n) (int64 start) (Span(out, start, length)))
        out

    /// `jax.random.normal(key, shape)` in the default mode.
    let normal (shape: int[]) (key: PrngKey) : float32[] = normalWith ThreefryMode.Partitionable shape key
