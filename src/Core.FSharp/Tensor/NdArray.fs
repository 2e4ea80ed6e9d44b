namespace Schedulers.Core

open System

/// An immutable float32 n-dimensional array: a shape and its elements in row-major (C) order.
/// Nothing can change an NdArray after it is made; every operation returns a new one. The first axis is the batch.
[<Sealed; AllowNullLiteral(false)>]
type NdArray internal (shape: int[], data: float32[]) =

    /// The raw element buffer, for kernels inside the core only: never written after construction.
    member internal _.Buffer = data

    /// The shape, outermost axis first (a copy: changing it does not change the array).
    member _.Shape: int[] = shape.AsSpan().ToArray()

    /// The shape without copying, for the core's own checks.
    member internal _.ShapeView = shape

    /// The number of axes.
    member _.Rank = shape.Length

    /// The number of elements.
    member _.Length = data.Length

    /// The size of the first axis (the batch), or 1 for a scalar.
    member _.BatchSize = if shape.Length = 0 then 1 else shape[0]

    /// The element at a flat row-major index.
    member _.Item
        with get (index: int) =
            if index < 0 || index >= data.Length then
                raise (ArgumentOutOfRangeException("index", index, sprintf "index must lie in [0, %d)" data.Length))
            data[index]

    /// A read-only view of the elements in row-major order.
    member _.Span: ReadOnlySpan<float32> = ReadOnlySpan data

    /// A copy of the elements in row-major order.
    member _.ToArray() : float32[] = Array.copy data

    /// The shape written as `[4,3,8,8]`, as error messages show it.
    member _.ShapeText = "[" + String.Join(",", shape) + "]"

    /// Equal when the shapes are equal and every element has the same bits (so NaN equals NaN).
    override this.Equals(other: obj) =
        match other with
        | :? NdArray as o ->
            o.ShapeView.AsSpan().SequenceEqual(ReadOnlySpan shape)
            && Runtime.InteropServices.MemoryMarshal.Cast<float32, int>(ReadOnlySpan o.Buffer)
                .SequenceEqual(Runtime.InteropServices.MemoryMarshal.Cast<float32, int>(ReadOnlySpan data))
        | _ -> false

    /// A hash of the shape and the first elements.
    override _.GetHashCode() =
        let mutable h = HashCode()
        for d in shape do
            h.Add d
        for i in 0 .. min 15 (data.Length - 1) do
            h.Add(BitConverter.SingleToInt32Bits data[i])
        h.ToHashCode()

    /// `NdArray [4,3,8,8]` followed by up to six elements.
    override this.ToString() =
        let shown = data |> Seq.truncate 6 |> Seq.map (fun v -> v.ToString("R")) |> String.concat ", "
        sprintf "NdArray %s [%s%s]" this.ShapeText shown (if data.Length > 6 then ", ..." else "")

/// Functions over `NdArray`. Every function leaves its inputs untouched.
module NdArray =

    let private shapeText (shape: int[]) = "[" + String.Join(",", shape) + "]"

    /// An array of the given shape holding a copy of `data` (row-major); the lengths must agree.
    let create (shape: int[]) (data: float32[]) : NdArray =
        if obj.ReferenceEquals(data, null) then nullArg "data"
        let n = Prng.elementCount shape
        if data.Length <> n then
            invalidArg "data" (sprintf "data has %d elements but shape %s needs %d" data.Length (shapeText shape) n)
        NdArray(Array.copy shape, Array.copy data)

    /// Wraps a buffer without copying; the caller gives up the buffer (core use only). The shape array may be shared
    /// with other arrays: no NdArray ever writes to its shape, and `Shape` hands out copies.
    let internal own (shape: int[]) (data: float32[]) = NdArray(shape, data)

    /// A one-dimensional array holding a copy of `values`.
    let ofArray (values: float32[]) : NdArray = create [| values.Length |] values

    /// An array of the given shape with every element equal to `value`.
    let full (shape: int[]) (value: float32) : NdArray =
        NdArray(Array.copy shape, Array.create (Prng.elementCount shape) value)

    /// An array of zeros.
    let zeros (shape: int[]) : NdArray = full shape 0.0f

    /// An array whose element at flat index i is `f i`.
    let init (shape: int[]) (f: int -> float32) : NdArray =
        NdArray(Array.copy shape, Array.init (Prng.elementCount shape) f)

    /// The same elements under another shape with the same element count.
    let reshape (shape: int[]) (x: NdArray) : NdArray =
        let n = Prng.elementCount shape
        if n <> x.Length then
            invalidArg "shape" (sprintf "cannot reshape %s (%d elements) to %s (%d)" x.ShapeText x.Length (shapeText shape) n)
        NdArray(Array.copy shape, x.Buffer)

    /// Elementwise `f`.
    let map (f: float32 -> float32) (x: NdArray) : NdArray = NdArray(x.ShapeView, Array.map f x.Buffer)

    /// Throws unless `a` and `b` have the same shape; the message names both arguments and shapes.
    let checkSameShape (nameA: string) (a: NdArray) (nameB: string) (b: NdArray) =
        if not (a.ShapeView.AsSpan().SequenceEqual(ReadOnlySpan b.ShapeView)) then
            invalidArg nameB (sprintf "%s has shape %s but %s has %s" nameA a.ShapeText nameB b.ShapeText)

    /// `checkSameShape` for element `k` of an argument array named `nameB` (the name formatted only for the message).
    let checkSameShapeAt (nameA: string) (a: NdArray) (nameB: string) (k: int) (b: NdArray) =
        if not (a.ShapeView.AsSpan().SequenceEqual(ReadOnlySpan b.ShapeView)) then
            checkSameShape nameA a (sprintf "%s[%d]" nameB k) b

    /// Elementwise `f` over two arrays of the same shape.
    let map2 (f: float32 -> float32 -> float32) (a: NdArray) (b: NdArray) : NdArray =
        checkSameShape "a" a "b" b
        NdArray(a.ShapeView, Array.map2 f a.Buffer b.Buffer)

    /// `c · x`.
    let scale (c: float32) (x: NdArray) : NdArray =
        let out = Array.zeroCreate x.Length
        Kernels.scale c x.Span (Span out)
        NdArray(x.ShapeView, out)

    /// `a + b`.
    let add (a: NdArray) (b: NdArray) : NdArray =
        checkSameShape "a" a "b" b
        let out = Array.zeroCreate a.Length
        Kernels.combine2 1.0f a.Span 1.0f b.Span (Span out)
        NdArray(a.ShapeView, out)

    /// `a − b`.
    let sub (a: NdArray) (b: NdArray) : NdArray =
        checkSameShape "a" a "b" b
        let out = Array.zeroCreate a.Length
        Kernels.combine2 1.0f a.Span -1.0f b.Span (Span out)
        NdArray(a.ShapeView, out)

    /// The L2 norm of all elements (accumulated in float64, rounded to float32).
    let norm (x: NdArray) : float32 = float32 (sqrt (Kernels.sumOfSquares x.Span))

    /// The L2 norm of each batch element (each slice along the first axis), flattened over the other axes.
    let batchNorms (x: NdArray) : float32[] =
        let b = x.BatchSize
        let inner = if b = 0 then 0 else x.Length / b
        Array.init b (fun i -> float32 (sqrt (Kernels.sumOfSquares (x.Span.Slice(i * inner, inner)))))

    /// Σ |x|, in float64.
    let sumAbs (x: NdArray) : float = Kernels.sumOfAbs x.Span

    /// Mean |x|, in float64.
    let meanAbs (x: NdArray) : float = if x.Length = 0 then nan else Kernels.sumOfAbs x.Span / float x.Length

    /// True when no element is NaN or infinite.
    let isFinite (x: NdArray) : bool = x.Buffer |> Array.forall Single.IsFinite

    /// Elements clamped to [lo, hi].
    let clamp (lo: float32) (hi: float32) (x: NdArray) : NdArray =
        let out = Array.zeroCreate x.Length
        Kernels.clamp lo hi x.Span (Span out)
        NdArray(x.ShapeView, out)

    /// The q-quantile of each batch element (linear interpolation, as `torch.quantile(x.reshape(B, -1), q, dim=1)`).
    let batchQuantiles (q: float32) (x: NdArray) : float32[] =
        let b = x.BatchSize
        let inner = if b = 0 then 0 else x.Length / b
        Array.init b (fun i -> Kernels.quantile q (x.Span.Slice(i * inner, inner)))

    /// `jax.random.normal(key, shape)` as an array, in the given threefry mode.
    let normalWith (mode: ThreefryMode) (shape: int[]) (key: PrngKey) : NdArray =
        NdArray(Array.copy shape, Prng.normalWith mode shape key)

    /// `jax.random.normal(key, shape)` as an array (partitionable mode, JAX's default).
    let normal (shape: int[]) (key: PrngKey) : NdArray = normalWith ThreefryMode.Partitionable shape key

    /// `jax.random.uniform(key, shape)` on [0, 1) as an array (partitionable mode).
    let uniform (shape: int[]) (key: PrngKey) : NdArray =
        NdArray(Array.copy shape, Prng.uniform shape key)
