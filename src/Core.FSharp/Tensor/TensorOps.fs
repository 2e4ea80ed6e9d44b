namespace Schedulers.Core

open System

/// The coefficient of one term of a linear combination: a scalar for the whole tensor, or one value per batch
/// element (broadcast over the other axes, like a `(B, 1, 1, 1)` tensor in diffusers).
[<Struct>]
type Coef =
    /// The same coefficient for every element.
    | Scalar of value: float32
    /// One coefficient per batch element (slice along the first axis).
    | PerBatch of values: float32[]

    /// The value of a `Scalar` coefficient (throws for `PerBatch`).
    member c.ScalarValue =
        match c with
        | Scalar v -> v
        | PerBatch _ -> invalidOp "a per-batch coefficient has no single scalar value"

    /// The values of a `PerBatch` coefficient (throws for `Scalar`).
    member c.BatchValues =
        match c with
        | PerBatch vs -> vs
        | Scalar _ -> invalidOp "a scalar coefficient has no per-batch values"

/// The few tensor operations scheduler maths needs. A scheduler's step is written once against this interface;
/// the core implements it for `NdArray` (with `PrngKey` noise) and the C# shell for `torch.Tensor` (with a
/// `torch.Generator` or a key), so both flavours run the same maths on their own storage and device.
type ITensorOps<'T, 'Noise> =
    /// The shape of a tensor, outermost axis first.
    abstract Shape: tensor: 'T -> int[]

    /// `((c0·x0 + c1·x1) + c2·x2) + …` in one pass, left to right, each product rounded to float32 before it is
    /// added (no fused multiply-add), as the same expression of torch ops rounds. All tensors share one shape.
    abstract Combine: terms: struct (Coef * 'T)[] -> 'T

    /// `x / d`, a true division (diffusers divides by σ in places; multiplying by 1/σ would round differently).
    abstract Divide: tensor: 'T * divisor: Coef -> 'T

    /// The L2 norm of each batch element, flattened over the non-batch axes.
    abstract BatchNorms: tensor: 'T -> float32[]

    /// The L2 norm of the whole tensor.
    abstract Norm: tensor: 'T -> float32

    /// A standard normal draw with the shape (and device) of `like`, from the given noise source.
    abstract Normal: noise: 'Noise * like: 'T -> 'T

/// Fused step operations a backend may add to `ITensorOps`: a scheduler's `prev_sample_mean` and `prev_sample` in
/// one pass, rounded exactly as the two separate `Combine` calls would be. The steps use these members when the
/// backend has them and the two-`Combine` form otherwise.
type IFusedTensorOps<'T, 'Noise> =
    inherit ITensorOps<'T, 'Noise>

    /// `mean = Combine terms` and `prev = mean + scale·z` for the given z (the same roundings as
    /// `Combine [1·mean; scale·z]`).
    abstract CombineThenAdd: terms: struct (Coef * 'T)[] * scale: float32 * z: 'T -> struct ('T * 'T)

    /// `mean = Combine terms` and `prev = mean + scale·z` with z the draw `Normal(noise, like the first term)`,
    /// which the backend may generate block by block inside the same pass instead of storing it.
    abstract CombineWithNoise: terms: struct (Coef * 'T)[] * scale: float32 * noise: 'Noise -> struct ('T * 'T)

/// Helpers for building linear combinations.
module Coef =
    /// The value of a coefficient for batch element `b`.
    let at (b: int) (c: Coef) : float32 =
        match c with
        | Scalar v -> v
        | PerBatch vs -> vs[b]

    /// Throws unless a per-batch coefficient has one value per batch element.
    let check (batch: int) (c: Coef) =
        match c with
        | PerBatch vs when obj.ReferenceEquals(vs, null) -> nullArg "coefficient"
        | PerBatch vs when vs.Length <> batch ->
            invalidArg "terms" (sprintf "a per-batch coefficient has %d values but the batch has %d" vs.Length batch)
        | _ -> ()

/// `ITensorOps` over the core's `NdArray`, drawing noise from JAX keys in the given threefry mode.
/// Shapes as backends report them (`int[]`, outermost axis first).
module Shapes =

    /// True when the two shapes have the same axes (a span comparison, without F#'s generic structural equality).
    let same (a: int[]) (b: int[]) = MemoryExtensions.SequenceEqual(ReadOnlySpan a, ReadOnlySpan b)

[<Sealed>]
type NdArrayOps(mode: ThreefryMode) =

    /// The operations with JAX's default (partitionable) threefry mode.
    static member Default = NdArrayOps(ThreefryMode.Partitionable)

    /// The threefry mode used for noise.
    member _.Mode = mode

    static member private Seg(xs: float32[][], k: int, o: int, n: int) = ReadOnlySpan(xs[k], o, n)

    /// out[o..o+n) = the left-to-right combination of `xs[k][o..o+n)` with coefficients `cs[k]`.
    static member private CombineSegment(cs: float32[], xs: float32[][], o: int, n: int, out: float32[]) =
        let dest = Span(out, o, n)
        // The first (up to) four terms in one pass; further terms fold into the running sum three at a time,
        // which rounds exactly as the left-to-right sum does because 1·s is exact.
        match cs.Length with
        | 1 -> Kernels.scale cs[0] (NdArrayOps.Seg(xs, 0, o, n)) dest
        | 2 -> Kernels.combine2 cs[0] (NdArrayOps.Seg(xs, 0, o, n)) cs[1] (NdArrayOps.Seg(xs, 1, o, n)) dest
        | 3 -> Kernels.combine3 cs[0] (NdArrayOps.Seg(xs, 0, o, n)) cs[1] (NdArrayOps.Seg(xs, 1, o, n)) cs[2] (NdArrayOps.Seg(xs, 2, o, n)) dest
        | count ->
            Kernels.combine4 cs[0] (NdArrayOps.Seg(xs, 0, o, n)) cs[1] (NdArrayOps.Seg(xs, 1, o, n)) cs[2] (NdArrayOps.Seg(xs, 2, o, n)) cs[3] (NdArrayOps.Seg(xs, 3, o, n)) dest
            let mutable k = 4
            while k < count do
                let acc = ReadOnlySpan(out, o, n)
                match count - k with
                | 1 -> Kernels.combine2 1.0f acc cs[k] (NdArrayOps.Seg(xs, k, o, n)) dest
                | 2 -> Kernels.combine3 1.0f acc cs[k] (NdArrayOps.Seg(xs, k, o, n)) cs[k + 1] (NdArrayOps.Seg(xs, (k + 1), o, n)) dest
                | _ -> Kernels.combine4 1.0f acc cs[k] (NdArrayOps.Seg(xs, k, o, n)) cs[k + 1] (NdArrayOps.Seg(xs, (k + 1), o, n)) cs[k + 2] (NdArrayOps.Seg(xs, (k + 2), o, n)) dest
                k <- k + 3

    /// The fused linear combination of `terms` (see `ITensorOps.Combine`).
    static member CombineArrays(terms: struct (Coef * NdArray)[]) : NdArray =
        if obj.ReferenceEquals(terms, null) || terms.Length = 0 then invalidArg "terms" "a linear combination needs at least one term"
        let struct (_, first) = terms[0]
        for k in 1 .. terms.Length - 1 do
            let struct (_, x) = terms[k]
            NdArray.checkSameShape "terms[0]" first (sprintf "terms[%d]" k) x
        let batch = first.BatchSize
        for struct (c, _) in terms do
            Coef.check batch c
        let out = Array.zeroCreate<float32> first.Length
        let inner = if batch = 0 then 0 else first.Length / batch
        let isScalar = terms |> Array.forall (fun struct (c, _) -> c.IsScalar)
        let segments, width = if isScalar then 1, first.Length else batch, inner
        let xs = terms |> Array.map (fun struct (_, x) -> x.Buffer)
        for b in 0 .. segments - 1 do
            let cs = terms |> Array.map (fun struct (c, _) -> Coef.at b c)
            NdArrayOps.CombineSegment(cs, xs, b * width, width, out)
        NdArray.own first.ShapeView out

    /// `x / d` elementwise, with a scalar or per-batch divisor.
    static member DivideArray(x: NdArray, divisor: Coef) : NdArray =
        let batch = x.BatchSize
        Coef.check batch divisor
        let out = Array.zeroCreate<float32> x.Length
        match divisor with
        | Scalar d -> Kernels.divide x.Span d (Span out)
        | PerBatch ds ->
            let inner = if batch = 0 then 0 else x.Length / batch
            for b in 0 .. batch - 1 do
                Kernels.divide (x.Span.Slice(b * inner, inner)) ds[b] (Span(out, b * inner, inner))
        NdArray.own x.ShapeView out

    /// The two scalar coefficients of a two-term scalar combination whose arrays share one shape, if it is one.
    static member private ScalarPair(terms: struct (Coef * NdArray)[]) =
        if not (obj.ReferenceEquals(terms, null)) && terms.Length = 2 then
            let struct (c0, x0) = terms[0]
            let struct (c1, x1) = terms[1]
            match c0, c1 with
            | Scalar a, Scalar b ->
                NdArray.checkSameShape "terms[0]" x0 "terms[1]" x1
                ValueSome(struct (a, x0, b, x1))
            | _ -> ValueNone
        else
            ValueNone

    /// `mean = Σ terms` and `prev = mean + scale·z` with z given (one pass for two scalar terms).
    member this.CombineThenAddArrays(terms: struct (Coef * NdArray)[], scale: float32, z: NdArray) : struct (NdArray * NdArray) =
        match NdArrayOps.ScalarPair terms with
        | ValueSome(struct (c0, x0, c1, x1)) ->
            NdArray.checkSameShape "terms[0]" x0 "z" z
            let n = x0.Length
            let mean = GC.AllocateUninitializedArray<float32> n
            let prev = GC.AllocateUninitializedArray<float32> n
            Parallelism.forChunks n (fun o len ->
                FusedKernels.combineThenAdd
                    c0 (ReadOnlySpan(x0.Buffer, o, len)) c1 (ReadOnlySpan(x1.Buffer, o, len)) scale (ReadOnlySpan(z.Buffer, o, len))
                    (Span(mean, o, len)) (Span(prev, o, len)))
            struct (NdArray.own x0.ShapeView mean, NdArray.own x0.ShapeView prev)
        | ValueNone ->
            let mean = NdArrayOps.CombineArrays terms
            struct (mean, NdArrayOps.CombineArrays [| struct (Scalar 1.0f, mean); struct (Scalar scale, z) |])

    /// `mean = Σ terms` and `prev = mean + scale·z` with z = `normal(key)` of the terms' shape, generated in
    /// cache-sized blocks inside the pass (JAX's counter-based bits let any block be drawn on its own).
    member this.CombineWithNoiseArrays(terms: struct (Coef * NdArray)[], scale: float32, key: PrngKey) : struct (NdArray * NdArray) =
        match NdArrayOps.ScalarPair terms with
        | ValueSome(struct (c0, x0, c1, x1)) ->
            let n = x0.Length
            let mean = GC.AllocateUninitializedArray<float32> n
            let prev = GC.AllocateUninitializedArray<float32> n
            Parallelism.forChunks n (fun o len -> NoiseKernels.combineThenAddNormal mode key n c0 x0.Buffer c1 x1.Buffer scale mean prev o len)
            struct (NdArray.own x0.ShapeView mean, NdArray.own x0.ShapeView prev)
        | ValueNone ->
            let struct (_, first) = terms[0]
            let z = NdArray.normalWith mode first.ShapeView key
            this.CombineThenAddArrays(terms, scale, z)

    interface IFusedTensorOps<NdArray, PrngKey> with
        member this.CombineThenAdd(terms, scale, z) = this.CombineThenAddArrays(terms, scale, z)
        member this.CombineWithNoise(terms, scale, key) = this.CombineWithNoiseArrays(terms, scale, key)

    interface ITensorOps<NdArray, PrngKey> with
        member _.Shape(x) = x.Shape
        member _.Combine(terms) = NdArrayOps.CombineArrays terms
        member _.Divide(x, d) = NdArrayOps.DivideArray(x, d)
        member _.BatchNorms(x) = NdArray.batchNorms x
        member _.Norm(x) = NdArray.norm x
        member _.Normal(key, like) = NdArray.normalWith mode like.ShapeView key
