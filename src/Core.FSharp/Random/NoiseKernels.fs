namespace Schedulers.Core

#nowarn "9"

open System
open System.Runtime.Intrinsics
open System.Runtime.InteropServices
open System.Runtime.Intrinsics.X86
open Microsoft.FSharp.NativeInterop

/// Cache requests for the noise-fused passes.
module internal CacheHints =

    /// Asks for the two 64-byte lines holding elements i .. i+31 of a pinned array to be brought into the cache
    /// (`prefetcht0`; nothing where SSE is absent). The noise passes request the lines of each group while its noise
    /// is still being computed, so the loads and stores that consume the noise later find them there: measured about
    /// 12% off the SDE-VE step at 16×3×256×256.
    let inline lines (p: nativeptr<float32>) (i: int) =
        if Sse.IsSupported then
            Sse.Prefetch0(NativePtr.toVoidPtr (NativePtr.add p i))
            Sse.Prefetch0(NativePtr.toVoidPtr (NativePtr.add p (i + 16)))

/// Scheduler passes that consume JAX-exact normal noise without storing it to memory: on machines with AVX-512 the
/// noise of a piece of up to 1024 elements is prepared in L1-resident buffers (`PrngCompact`) and its last stage
/// hands each vector of sixteen normals to the loop iteration that reads the inputs and writes the outputs, while the
/// lines those iterations touch are requested during the earlier stages (`CacheHints`), so the pass's memory traffic
/// overlaps the arithmetic of the noise. Elsewhere, and for the few elements the vector loop leaves, the noise is
/// drawn into a small per-thread block first. Every path gives the same bits as drawing `Prng.normalWith` and then
/// applying the separate kernels.
module internal NoiseKernels =

    /// The elements per fallback noise block: 8 KiB of normals, so a block stays in L1 between being drawn and used.
    [<Literal>]
    let BlockSize = 2048

    /// One block buffer per thread, allocated on first use and reused by every call.
    [<AbstractClass; Sealed>]
    type private Scratch =
        [<ThreadStatic; DefaultValue>]
        static val mutable private buffer: float32[]

        static member Block =
            if obj.ReferenceEquals(Scratch.buffer, null) then
                Scratch.buffer <- GC.AllocateUninitializedArray<float32> BlockSize
            Scratch.buffer

    /// Runs `consume i z` for i = start, start + 16, ... with z the sixteen normals of flat indices `i ..`, piece by
    /// piece (`PrngCompact.forPieceOfBits`), while whole groups of 32 fit before `stop`; returns where it stopped.
    /// `prefetch i` is called for each group of 32 while its bits are drawn, before the group is consumed.
    /// Partitionable mode with AVX-512 only (else returns `start`).
    let inline private forPackedNoise
        (mode: ThreefryMode) (key: PrngKey) (start: int) (stop: int)
        ([<InlineIfLambda>] prefetch: int -> unit)
        ([<InlineIfLambda>] consume: int -> Vector512<float32> -> unit) : int =
        let mutable i = start
        if mode = ThreefryMode.Partitionable && PrngCompact.isAccelerated then
            let ks = PrngVector512.schedule key
            // Array indices stay below 2^31, so the high counter word is 0 throughout.
            let mutable count = min PrngCompact.PieceSize (stop - i) / 32 * 32
            while count > 0 do
                let first = i
                let schedule = ks
                PrngCompact.forPieceOfBits
                    count
                    (fun q ->
                        prefetch (first + q)
                        PrngVector512Pair.bits32 &schedule (int64 (first + q)))
                    (fun q z -> consume (first + q) z)
                i <- i + count
                count <- min PrngCompact.PieceSize (stop - i) / 32 * 32
        i

    /// Draws the noise of `[start, stop)` block by block into this thread's buffer and calls `consume o z len` for
    /// each block (z[0 .. len) = the noise of flat indices `o ..`).
    let inline private forBlockNoise
        (mode: ThreefryMode) (key: PrngKey) (total: int64) (start: int) (stop: int)
        ([<InlineIfLambda>] consume: int -> float32[] -> int -> unit) =
        let buffer = Scratch.Block
        let mutable o = start
        while o < stop do
            let len = min BlockSize (stop - o)
            Prng.normalBlockInto mode key total (int64 o) (Span(buffer, 0, len))
            consume o buffer len
            o <- o + len

    let inline private load (x: float32[]) (i: int) =
        Vector512.LoadUnsafe(&MemoryMarshal.GetArrayDataReference x, unativeint i)

    let inline private store (v: Vector512<float32>) (x: float32[]) (i: int) =
        Vector512.StoreUnsafe(v, &MemoryMarshal.GetArrayDataReference x, unativeint i)

    let private checkRange (name: string) (x: float32[]) (start: int) (length: int) =
        if start < 0 || length < 0 || start + length > x.Length then
            invalidArg name (sprintf "%s has %d elements, too few for the range [%d, %d)" name x.Length start (start + length))

    /// Over `[start, start+length)` of the arrays: `mean = c0·x0 + c1·x1` and `prev = mean + g·z`, with z[i] element
    /// i of `jax.random.normal(key)` of a `total`-element draw (`FusedKernels.combineThenAdd` with the noise drawn
    /// inside the pass).
    let combineThenAddNormal
        (mode: ThreefryMode) (key: PrngKey) (total: int64)
        (c0: float32) (x0: float32[]) (c1: float32) (x1: float32[]) (g: float32)
        (mean: float32[]) (prev: float32[]) (start: int) (length: int) =
        checkRange "x0" x0 start length
        checkRange "x1" x1 start length
        checkRange "mean" mean start length
        checkRange "prev" prev start length
        let v0 = Vector512.Create c0
        let v1 = Vector512.Create c1
        let vg = Vector512.Create g
        let stop = start + length
        use p0 = fixed x0
        use p1 = fixed x1
        use pm = fixed mean
        use pp = fixed prev
        let resume =
            forPackedNoise mode key start stop
                (fun i ->
                    CacheHints.lines p0 i
                    CacheHints.lines p1 i
                    CacheHints.lines pm i
                    CacheHints.lines pp i)
                (fun i z ->
                    let m = v0 * load x0 i + v1 * load x1 i
                    store m mean i
                    store (m + vg * z) prev i)
        forBlockNoise mode key total resume stop (fun o z len ->
            FusedKernels.combineThenAdd c0 (ReadOnlySpan(x0, o, len)) c1 (ReadOnlySpan(x1, o, len)) g (ReadOnlySpan(z, 0, len))
                (Span(mean, o, len)) (Span(prev, o, len)))

    /// Over `[start, start+length)`: KarrasVe's churn `out = s + c·(k·z)`, with z[i] element i of
    /// `jax.random.normal(key)` of a `total`-element draw (`FusedKernels.scaledNoiseAdd` with the noise drawn inside
    /// the pass).
    let scaledNoiseAddNormal
        (mode: ThreefryMode) (key: PrngKey) (total: int64) (k: float32) (c: float32)
        (s: float32[]) (out: float32[]) (start: int) (length: int) =
        checkRange "s" s start length
        checkRange "out" out start length
        let vk = Vector512.Create k
        let vc = Vector512.Create c
        let stop = start + length
        use ps = fixed s
        use po = fixed out
        let resume =
            forPackedNoise mode key start stop
                (fun i ->
                    CacheHints.lines ps i
                    CacheHints.lines po i)
                (fun i z -> store (load s i + vc * (vk * z)) out i)
        forBlockNoise mode key total resume stop (fun o z len ->
            FusedKernels.scaledNoiseAdd k c (ReadOnlySpan(s, o, len)) (ReadOnlySpan(z, 0, len)) (Span(out, o, len)))

    /// JAX's normals of positions [offset, offset + dest.Length) of a `total`-element draw into `dest`, requesting
    /// during the draw the cache lines of the arrays at `ahead` (each the address of the element at `offset` of an
    /// array the caller's pass touches next, over the same positions): the pass that consumes the normals then finds its
    /// inputs and outputs in the cache, so its memory traffic overlaps the arithmetic of the noise, as in
    /// `combineThenAddNormal`. Same bits as `Prng.normalBlockInto`, which it is wherever the packed path does not
    /// apply (no AVX-512, the sequential mode, the normal table on).
    let normalIntoAhead (mode: ThreefryMode) (key: PrngKey) (total: int64) (offset: int64) (dest: Span<float32>) (ahead: ReadOnlySpan<nativeint>) =
        let stopAt = offset + int64 dest.Length
        if ahead.IsEmpty || KernelSettings.UseNormalTable || stopAt > int64 Int32.MaxValue then
            Prng.normalBlockInto mode key total offset dest
        else
            let count = ahead.Length
            let arrays = NativePtr.stackalloc<nativeint> count
            for k in 0 .. count - 1 do
                NativePtr.set arrays k ahead[k]
            let start = int offset
            use pd = fixed &MemoryMarshal.GetReference dest
            let resume =
                forPackedNoise mode key start (int stopAt)
                    (fun i ->
                        for k in 0 .. count - 1 do
                            CacheHints.lines (NativePtr.ofNativeInt<float32> (NativePtr.get arrays k)) (i - start))
                    (fun i z -> Vector512.Store(z, NativePtr.add pd (i - start)))
            if resume < int stopAt then
                Prng.normalBlockInto mode key total (int64 resume) (dest.Slice(resume - start))

/// Filling buffers with JAX's normals for a pass that consumes them next (`ElementwiseProgram`'s `Normal`).
module NormalFill =

    /// `NoiseKernels.normalIntoAhead`: normals of positions [offset, offset + dest.Length) of a `total`-element draw
    /// from `key`, the cache lines at `ahead` requested while they are computed.
    let into (mode: ThreefryMode) (key: PrngKey) (total: int64) (offset: int64) (dest: Span<float32>) (ahead: ReadOnlySpan<nativeint>) =
        NoiseKernels.normalIntoAhead mode key total offset dest ahead
