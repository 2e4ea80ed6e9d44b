namespace Schedulers.Core

open System
open System.Runtime.InteropServices
open System.Runtime.Intrinsics

/// The state of torch's CPU generator (`at::CPUGeneratorImpl`): the mt19937 words, the position of the next word
/// and the cached second normal of the scalar `randn` path. A value: `TorchCpu` functions return a new state and
/// never change this one.
[<Sealed>]
type TorchCpuGenerator internal (seed: uint64, words: uint32[], next: int, cachedNormal: float voption) =
    /// The seed given to `manualSeed` (torch's `initial_seed()`).
    member _.Seed = seed
    /// The 624 engine words (never written once the state exists).
    member internal _.Words = words
    /// The index of the next word; 624 when a twist is due.
    member internal _.Next = next
    /// The normal the scalar `randn` path computed and kept for its next value (`next_double_normal_sample`).
    member _.CachedNormal = cachedNormal

    /// Same seed, same engine words and position, same cache.
    override this.Equals(other: obj) =
        match other with
        | :? TorchCpuGenerator as g ->
            g.Seed = seed && g.Next = next && g.CachedNormal = cachedNormal
            && ReadOnlySpan<uint32>(g.Words).SequenceEqual(ReadOnlySpan<uint32>(words))
        | _ -> false

    /// Hash of the seed, the position and the word about to be used.
    override _.GetHashCode() = HashCode.Combine(seed, next, words[min next (words.Length - 1)])

    /// `TorchCpuGenerator(seed=…, next=…)`.
    override _.ToString() = sprintf "TorchCpuGenerator(seed=%d, next=%d)" seed next

    interface IEquatable<TorchCpuGenerator> with
        member this.Equals(g: TorchCpuGenerator) = this.Equals(box g)

/// torch's CPU random streams as pure functions: `torch.Generator().manual_seed(s)` and what `torch.rand` and
/// `torch.randn` draw from it (float32 and float64, contiguous), each call taking the state and returning the
/// values and the new state, so a sequence of calls matches the same sequence of torch calls
/// (spec torch-rng, "CPU"; ATen CPUGeneratorImpl.cpp, core/DistributionsHelper.h, native/cpu/DistributionTemplates.h).
module TorchCpu =

    let private n = Mt19937.N

    /// `torch.Generator().manual_seed(seed)`: the engine seeded with `seed mod 2^32`, no cached normal
    /// (`CPUGeneratorImpl::set_current_seed`). A negative Python seed is its two's complement, as torch reads it.
    let manualSeed (seed: uint64) : TorchCpuGenerator =
        TorchCpuGenerator(seed, Mt19937.seed seed, n, ValueNone)

    let private checkCount (count: int) =
        if count < 0 || count > Array.MaxLength then
            invalidArg "count" (sprintf "count is %d but must be between 0 and %d" count Array.MaxLength)

    /// The next `dest.Length` engine outputs and the engine words and position after them. The words are copied
    /// only when a twist is due (the twist rewrites them); reads alone leave the shared array as it is.
    let private drawWords (g: TorchCpuGenerator) (dest: Span<uint32>) : struct (uint32[] * int) =
        let words = if g.Next + dest.Length <= n then g.Words else Array.copy g.Words
        let next = Mt19937.fill words g.Next dest
        struct (words, next)

    let private advanced (g: TorchCpuGenerator) (struct (words: uint32[], next: int)) (cache: float voption) =
        TorchCpuGenerator(g.Seed, words, next, cache)

    /// `uniform_real_distribution<float>`: `(r & (2^24 − 1)) · 2^−24`, in place over words reinterpreted as floats.
    let private wordsToFloat32 (data: Span<float32>) =
        let words = MemoryMarshal.Cast<float32, uint32> data
        let scale = 1.0f / 16777216.0f
        let mutable i = 0
        // Unchecked eight-lane loads and stores within the span (i + 8 ≤ length).
        while i + 8 <= data.Length do
            let w = Vector256.LoadUnsafe(&MemoryMarshal.GetReference words, unativeint i) &&& Vector256.Create 0xFFFFFFu
            (Vector256.ConvertToSingle(w.AsInt32()) * Vector256.Create scale).StoreUnsafe(&MemoryMarshal.GetReference data, unativeint i)
            i <- i + 8
        while i < data.Length do
            data[i] <- float32 (words[i] &&& 0xFFFFFFu) * scale
            i <- i + 1

    /// The next `length` uniform float32 (one engine output each) written into `values` from `offset`.
    let private uniformsInto (g: TorchCpuGenerator) (values: float32[]) (offset: int) (length: int) =
        let data = Span(values, offset, length)
        let r = drawWords g (MemoryMarshal.Cast<float32, uint32> data)
        wordsToFloat32 data
        advanced g r g.CachedNormal

    /// `uniform_real_distribution<double>`: one `random64()` (first output the high word), `(v & (2^53 − 1)) · 2^−53`.
    let inline private toDouble (hi: uint32) (lo: uint32) =
        float (((uint64 hi <<< 32) ||| uint64 lo) &&& ((1UL <<< 53) - 1UL)) * (1.0 / 9007199254740992.0)

    /// The next `length` uniform float64 (two engine outputs each) written into `values` from `offset`.
    let private doublesInto (g: TorchCpuGenerator) (values: float[]) (offset: int) (length: int) =
        let data = Span(values, offset, length)
        let words = Array.zeroCreate<uint32> (2 * data.Length)
        let r = drawWords g (Span words)
        for i in 0 .. data.Length - 1 do
            data[i] <- toDouble words[2 * i] words[2 * i + 1]
        advanced g r g.CachedNormal

    /// The next `count` engine outputs (`CPUGeneratorImpl::random()`), as raw 32-bit words.
    let randomWords (count: int) (g: TorchCpuGenerator) : uint32[] * TorchCpuGenerator =
        checkCount count
        let words = Array.zeroCreate<uint32> count
        let r = drawWords g (Span words)
        words, advanced g r g.CachedNormal

    /// `torch.rand(count, generator=g)` in float32: one engine output per value, in order.
    let rand (count: int) (g: TorchCpuGenerator) : float32[] * TorchCpuGenerator =
        checkCount count
        // Every value is written: no need to zero the array first.
        let data = GC.AllocateUninitializedArray<float32> count
        let g' = uniformsInto g data 0 count
        data, g'

    /// `torch.rand(count, dtype=torch.float64, generator=g)`: two engine outputs per value.
    let randDouble (count: int) (g: TorchCpuGenerator) : float[] * TorchCpuGenerator =
        checkCount count
        if count > Array.MaxLength / 2 then
            invalidArg "count" (sprintf "count is %d but a float64 draw holds at most %d values" count (Array.MaxLength / 2))
        let data = Array.zeroCreate<float> count
        let g' = doublesInto g data 0 count
        data, g'

    /// One value of `at::normal_distribution<double>` (the scalar path of `randn`, fewer than 16 values): the cached
    /// normal if there is one (then cleared); else u1, u2 uniform float64, r = √(−2·log1p(−u2)), θ = 2π·u1, keep
    /// r·sin θ for the next value and return r·cos θ. log1p(−u2) is computed as log(1 − u2): 1 − u2 is exact for
    /// these u2 (multiples of 2^−53), so the two differ only by libm's last-bit rounding of the same number.
    let private scalarNormal (g: TorchCpuGenerator) : struct (float * TorchCpuGenerator) =
        match g.CachedNormal with
        | ValueSome cached -> struct (cached, TorchCpuGenerator(g.Seed, g.Words, g.Next, ValueNone))
        | ValueNone ->
            let words = Array.zeroCreate<uint32> 4
            let struct (w, next) = drawWords g (Span words)
            let u1 = toDouble words[0] words[1]
            let u2 = toDouble words[2] words[3]
            let r = Math.Sqrt(-2.0 * Math.Log(1.0 - u2))
            let theta = 2.0 * Math.PI * u1
            struct (r * Math.Cos theta, TorchCpuGenerator(g.Seed, w, next, ValueSome(r * Math.Sin theta)))

    let private scalarNormals (count: int) (g: TorchCpuGenerator) : float[] * TorchCpuGenerator =
        let values = Array.zeroCreate<float> count
        let mutable state = g
        for i in 0 .. count - 1 do
            let struct (v, s) = scalarNormal state
            values[i] <- v
            state <- s
        values, state

    /// `normal_fill`: uniforms for all values, every whole block of 16 transformed in place, and when `count` is
    /// not a multiple of 16, 16 new uniforms drawn over the last 16 values and transformed again.
    let inline private normalFill
        ([<InlineIfLambda>] uniforms: TorchCpuGenerator -> 'T[] -> int -> int -> TorchCpuGenerator)
        ([<InlineIfLambda>] block: 'T[] -> int -> unit)
        (data: 'T[])
        (g: TorchCpuGenerator)
        =
        let count = data.Length
        let mutable state = uniforms g data 0 count
        // The whole blocks are independent once the uniforms are drawn: large draws transform them on several
        // threads (chunks are multiples of 64 values, so no block straddles two); the values do not depend on it.
        Parallelism.forChunks (count / 16 * 16) (fun start length ->
            let mutable i = start
            while i < start + length do
                block data i
                i <- i + 16)
        if count % 16 <> 0 then
            state <- uniforms state data (count - 16) 16
            block data (count - 16)
        state

    /// `torch.randn(count, generator=g)` in float32 with the given Box–Muller block (which one torch uses depends on
    /// its CPU capability: `TorchCpuBoxMuller`). Fewer than 16 values take the scalar double-precision path.
    let rec randnWith (boxMuller: TorchCpuBoxMuller) (count: int) (g: TorchCpuGenerator) : float32[] * TorchCpuGenerator =
        checkCount count
        // Every value is written: no need to zero the array first.
        let data = GC.AllocateUninitializedArray<float32> count
        data, randnIntoWith boxMuller data g

    /// `torch.randn(dest.Length, generator=g)` written into `dest` (as `Tensor.normal_(generator=g)` fills a tensor in
    /// place): the caller's array is the output, the state is returned. For reusing one buffer across draws.
    and randnIntoWith (boxMuller: TorchCpuBoxMuller) (dest: float32[]) (g: TorchCpuGenerator) : TorchCpuGenerator =
        let count = dest.Length
        if count < 16 then
            let values, g' = scalarNormals count g
            for i in 0 .. count - 1 do
                dest[i] <- float32 values[i]
            g'
        else
            match boxMuller with
            | TorchCpuBoxMuller.Avx2 -> normalFill uniformsInto TorchCpuMath.avx2Block dest g
            | TorchCpuBoxMuller.Libm -> normalFill uniformsInto TorchCpuMath.libmBlock dest g
            | other -> invalidArg "boxMuller" (sprintf "boxMuller is %A but must be Avx2 or Libm" other)

    /// `torch.randn(count, generator=g)` in float32 as torch's x86-64 builds compute it on AVX2 processors
    /// (`TorchCpuBoxMuller.Avx2`), the stream the golden data records.
    let randn (count: int) (g: TorchCpuGenerator) : float32[] * TorchCpuGenerator =
        randnWith TorchCpuBoxMuller.Avx2 count g

    /// `randnIntoWith TorchCpuBoxMuller.Avx2`: `dest` filled with the next `dest.Length` normals.
    let randnInto (dest: float32[]) (g: TorchCpuGenerator) : TorchCpuGenerator =
        randnIntoWith TorchCpuBoxMuller.Avx2 dest g

    /// `torch.randn(count, dtype=torch.float64, generator=g)`: the scalar path below 16 values, else `normal_fill`
    /// over uniform float64 with libm's double log, cos and sin.
    let randnDouble (count: int) (g: TorchCpuGenerator) : float[] * TorchCpuGenerator =
        checkCount count
        if count < 16 then scalarNormals count g
        else
            if count > Array.MaxLength / 2 then
                invalidArg "count" (sprintf "count is %d but a float64 draw holds at most %d values" count (Array.MaxLength / 2))
            let data = Array.zeroCreate<float> count
            let g' = normalFill doublesInto TorchCpuMath.doubleBlock data g
            data, g'
