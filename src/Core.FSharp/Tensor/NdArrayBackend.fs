namespace Schedulers.Core

open System

/// The core's backend: `IBackend` over `NdArray`, drawing noise from JAX keys in the given threefry mode. Every
/// operation is a pass of the span kernels over the arrays' memory (`Stages`), split over threads for large arrays;
/// the fused stages are always available, and the noise of `TryCombineWithNoise`/`TryChurnWithNoise` is generated
/// block by block inside the pass (JAX's counter-based bits let any block be drawn on its own).
///
/// Every output array comes from `allocate n` (a new uninitialised array unless given: `DonatingBackend` passes its
/// pool), so one allocator decides where every stage's outputs live.
[<Sealed>]
type NdArrayBackend(mode: ThreefryMode, allocateOutput: int -> float32[]) =

    static let threads = Int32.MaxValue

    static let memory (x: NdArray) = ReadOnlyMemory x.Buffer

    static let allocate (n: int) = GC.AllocateUninitializedArray<float32> n

    static let wrap (like: NdArray) (data: float32[]) = NdArray.own like.ShapeView data

    let outputOf (like: NdArray) = allocateOutput like.Length

    /// The backend drawing in `mode`, every output a new array.
    new(mode: ThreefryMode) = NdArrayBackend(mode, fun n -> GC.AllocateUninitializedArray<float32> n)

    /// The backend with JAX's default (partitionable) threefry mode.
    static member val Default = NdArrayBackend(ThreefryMode.Partitionable)

    /// The threefry mode used for noise.
    member _.Mode = mode

    /// The fused linear combination of `terms` (see `IBackend.Combine`), its output from `allocate n`.
    static member CombineWith (allocate: int -> float32[]) (terms: struct (Coef * NdArray)[]) : NdArray =
        if obj.ReferenceEquals(terms, null) || terms.Length = 0 then invalidArg "terms" "a linear combination needs at least one term"
        let struct (_, first) = terms[0]
        for k in 1 .. terms.Length - 1 do
            let struct (_, x) = terms[k]
            NdArray.checkSameShapeAt "terms[0]" first "terms" k x
        let out = allocate first.Length
        Stages.combine threads first.BatchSize (terms |> Array.map (fun struct (c, x) -> struct (c, memory x))) (Memory out)
        wrap first out

    /// The fused linear combination of `terms` (see `IBackend.Combine`).
    static member CombineArrays(terms: struct (Coef * NdArray)[]) : NdArray = NdArrayBackend.CombineWith allocate terms

    /// `x / d` elementwise, with a scalar or per-batch divisor, its output from `allocate n`.
    static member DivideWith (allocate: int -> float32[]) (x: NdArray) (divisor: Coef) : NdArray =
        let out = allocate x.Length
        Stages.divide threads x.BatchSize (memory x) divisor (Memory out)
        wrap x out

    /// `x / d` elementwise, with a scalar or per-batch divisor.
    static member DivideArray(x: NdArray, divisor: Coef) : NdArray = NdArrayBackend.DivideWith allocate x divisor

    /// An elementwise program in one pass (`IBackend.TryRun`), each output from `allocate n`, its normals JAX's from
    /// `keys[slot]` in `mode`; input registers come back as the inputs themselves.
    static member RunWith (allocate: int -> float32[]) (mode: ThreefryMode) (program: ElementwiseProgram) (inputs: NdArray[]) (keys: PrngKey[]) : NdArray[] =
        let first = inputs[0]
        for k in 1 .. inputs.Length - 1 do
            NdArray.checkSameShapeAt "inputs[0]" first "inputs" k inputs[k]
        let written = program.Outputs |> Array.filter (fun r -> r.Index >= program.Inputs)
        let buffers = written |> Array.map (fun _ -> allocate first.Length)
        // JAX's bits are counter-based: a tile's normals are positions [offset, offset + length) of the whole draw.
        let fill = FillNormals(fun slot total offset dest ahead -> NormalFill.into mode keys[slot] total offset dest ahead)
        Stages.run threads first.BatchSize { program with Outputs = written } fill (inputs |> Array.map memory) (buffers |> Array.map Memory)
        let mutable next = 0
        program.Outputs
        |> Array.map (fun r ->
            if r.Index < program.Inputs then inputs[r.Index]
            else
                next <- next + 1
                wrap first buffers[next - 1])

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

    /// `x[:, first:first + count]`: `count` channels of axis 1 from channel `first`.
    static member private ChannelsOf(x: NdArray, first: int, count: int) : NdArray =
        let shape = x.Shape
        if shape.Length < 2 || shape[1] < count then
            invalidArg "tensor" (sprintf "model_output has shape %s but at least %d channels on axis 1 are needed" x.ShapeText count)
        let channels = shape[1]
        let plane = if shape.Length = 2 then 1 else Array.fold (*) 1 shape[2..]
        let outShape = Array.copy shape
        outShape[1] <- count
        let out = Array.zeroCreate<float32> (shape[0] * count * plane)
        for b in 0 .. shape[0] - 1 do
            Array.blit x.Buffer ((b * channels + first) * plane) out (b * count * plane) (count * plane)
        NdArray.own outShape out

    /// `x[:, :count]`: the first `count` channels of axis 1.
    static member FirstChannelsOf(x: NdArray, count: int) : NdArray = NdArrayBackend.ChannelsOf(x, 0, count)

    /// `x[:, −count:]`: the last `count` channels of axis 1.
    static member LastChannelsOf(x: NdArray, count: int) : NdArray =
        NdArrayBackend.ChannelsOf(x, (if x.Rank < 2 then 0 else x.Shape[1] - count), count)

    /// DDPM's learned-variance noise term (see `IBackend.LearnedVarianceNoise`).
    static member LearnedVarianceNoiseOf(v: NdArray, bounds: struct (float32 * float32) voption, z: NdArray) : NdArray =
        NdArray.checkSameShape "variance" v "z" z
        match bounds with
        | ValueNone -> NdArray.map2 (fun v z -> MathF.Sqrt v * z) v z
        | ValueSome(struct (minLog, maxLog)) ->
            NdArray.map2
                (fun v z ->
                    let f = (v + 1.0f) / 2.0f
                    let logVariance = f * maxLog + (1.0f - f) * minLog
                    MathF.Exp(0.5f * logVariance) * z)
                v
                z

    /// diffusers' `_threshold_sample` per batch element (see `IBackend.Threshold`), its output from `allocate n`.
    static member ThresholdWith (allocate: int -> float32[]) (x: NdArray) (ratio: float32) (maxValue: float32) : NdArray =
        let b = x.BatchSize
        let n = if b = 0 then 0 else x.Length / b
        let values = x.Buffer
        let out = allocate x.Length
        for i in 0 .. b - 1 do
            let abs = Array.init n (fun k -> MathF.Abs values[i * n + k])
            let q = Kernels.quantile ratio (ReadOnlySpan abs)
            // torch.clamp(s, min=1, max=m) is min(max(s, 1), m): when m < 1 every s becomes m.
            let s = MathF.Min(MathF.Max(q, 1.0f), maxValue)
            for k in 0 .. n - 1 do
                out[i * n + k] <- MathF.Min(MathF.Max(values[i * n + k], -s), s) / s
        wrap x out

    /// diffusers' `_threshold_sample` per batch element (see `IBackend.Threshold`).
    static member ThresholdOf(x: NdArray, ratio: float32, maxValue: float32) : NdArray = NdArrayBackend.ThresholdWith allocate x ratio maxValue

    interface IBackend<NdArray, PrngKey> with
        member _.Shape(x) = x.Shape
        member _.Combine(terms) = NdArrayBackend.CombineWith allocateOutput terms
        member _.Divide(x, d) = NdArrayBackend.DivideWith allocateOutput x d
        member _.BatchNorms(x) = NdArray.batchNorms x
        member _.Norm(x) = NdArray.norm x
        member _.Normal(key, like) =
            let n = like.Length
            let out = allocateOutput n
            Parallelism.forChunks n (fun start length -> Prng.normalBlockInto mode key (int64 n) (int64 start) (Span(out, start, length)))
            wrap like out
        member _.FirstChannels(x, count) = NdArrayBackend.FirstChannelsOf(x, count)
        member _.LastChannels(x, count) = NdArrayBackend.LastChannelsOf(x, count)
        member _.LearnedVarianceNoise(v, bounds, z) = NdArrayBackend.LearnedVarianceNoiseOf(v, bounds, z)
        member _.Threshold(x, ratio, maxValue) = NdArrayBackend.ThresholdWith allocateOutput x ratio maxValue
        member _.Clamp(x, lo, hi) =
            let out = allocateOutput x.Length
            Kernels.clamp lo hi x.Span (Span out)
            wrap x out
        member _.Release(_) = ()

        member _.TryCombineThenAdd(terms, scale, z) =
            match NdArrayBackend.ScalarPair terms with
            | ValueSome(struct (c0, x0, c1, x1)) ->
                NdArray.checkSameShape "terms[0]" x0 "z" z
                let mean, prev = outputOf x0, outputOf x0
                Stages.combineThenAdd threads c0 (memory x0) c1 (memory x1) scale (memory z) (Memory mean) (Memory prev)
                ValueSome(struct (wrap x0 mean, wrap x0 prev))
            | ValueNone -> ValueNone

        member _.TryCombineWithNoise(terms, scale, key) =
            match NdArrayBackend.ScalarPair terms with
            | ValueSome(struct (c0, x0, c1, x1)) ->
                let n = x0.Length
                let mean, prev = outputOf x0, outputOf x0
                Parallelism.forChunks n (fun o len -> NoiseKernels.combineThenAddNormal mode key n c0 x0.Buffer c1 x1.Buffer scale mean prev o len)
                ValueSome(struct (wrap x0 mean, wrap x0 prev))
            | ValueNone -> ValueNone

        member _.TryChurn(sNoise, scale, sample, z) =
            NdArray.checkSameShape "sample" sample "z" z
            let out = outputOf sample
            Stages.churn threads sNoise scale (memory sample) (memory z) (Memory out)
            ValueSome(wrap sample out)

        member _.TryChurnWithNoise(sNoise, scale, sample, key) =
            let out = outputOf sample
            let n = sample.Length
            Parallelism.forChunks n (fun o len -> NoiseKernels.scaledNoiseAddNormal mode key n sNoise scale sample.Buffer out o len)
            ValueSome(wrap sample out)

        member _.TryKarrasEuler(plan, sampleHat, modelOutput) =
            NdArray.checkSameShape "sample_hat" sampleHat "model_output" modelOutput
            let x0, d, prev = outputOf sampleHat, outputOf sampleHat, outputOf sampleHat
            Stages.karrasEuler threads plan (memory sampleHat) (memory modelOutput) (Memory x0) (Memory d) (Memory prev)
            ValueSome(struct (wrap sampleHat x0, wrap sampleHat d, wrap sampleHat prev))

        member _.TryKarrasHeun(plan, sampleHat, samplePrev, modelOutput, derivative) =
            let x0, prev = outputOf sampleHat, outputOf sampleHat
            Stages.karrasHeun threads plan (memory sampleHat) (memory samplePrev) (memory modelOutput) (memory derivative) (Memory x0) (Memory prev)
            ValueSome(struct (wrap sampleHat x0, wrap sampleHat prev))

        member _.TryDpmUpdate(plan, sample, outputs, noise) =
            if outputs.Length < plan.Order then ValueNone
            else
                for k in 0 .. plan.Order - 1 do
                    NdArray.checkSameShapeAt "sample" sample "outputs" k outputs[k]
                noise |> ValueOption.iter (NdArray.checkSameShape "sample" sample "noise")
                let out = outputOf sample
                Stages.dpmUpdate threads plan (memory sample) (outputs |> Array.map memory) (noise |> ValueOption.map memory) (Memory out)
                ValueSome(wrap sample out)

        member _.TryRun(program, inputs, keys) = ValueSome(NdArrayBackend.RunWith allocateOutput mode program inputs keys)
