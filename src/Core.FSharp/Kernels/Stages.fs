namespace Schedulers.Core

open System
open Microsoft.FSharp.NativeInterop

#nowarn "9" // pinned pointers into the pass's memory for the compiled loop

/// The one driver of the fused scheduler passes over float32 memory, shared by every backend that can expose its
/// storage as `Memory<float32>`: the core's `NdArray` backend and the shell's CPU fast path over torch tensors.
/// Each function validates lengths and coefficients, splits the pass into chunks (`Parallelism.forChunksUpTo`,
/// at most `threads` threads) and runs the span kernels (`Kernels`, `FusedKernels`, `DpmKernels`) on each chunk.
/// Elementwise passes give the same bits however they are split, so the thread count never changes a result.
module Stages =

    let private checkLength (name: string) (expected: int) (x: ReadOnlyMemory<float32>) =
        if x.Length <> expected then
            invalidArg name (sprintf "%s has %d elements but the pass covers %d" name x.Length expected)

    /// `checkLength` for element `k` of an argument array, its name formatted only for the message (a pass over a
    /// few hundred elements costs less than formatting a name).
    let private checkLengthAt (name: string) (k: int) (expected: int) (x: ReadOnlyMemory<float32>) =
        if x.Length <> expected then checkLength (sprintf "%s[%d]" name k) expected x

    /// The elements each coefficient covers: all `n` when every coefficient is a scalar, else one batch slice of
    /// `n / batch` elements (after checking that each per-batch coefficient has one value per batch element).
    let segmentWidth (n: int) (batch: int) (coefficients: Coef seq) : int =
        if coefficients |> Seq.forall (fun c -> c.IsScalar) then n
        else
            for c in coefficients do
                Coef.check batch c
            if batch = 0 then 0 else n / batch

    /// Walks `[start, start + length)` segment by segment (`width` elements each), calling `body segment o len`.
    let inline private forSegments (width: int) (start: int) (length: int) ([<InlineIfLambda>] body: int -> int -> int -> unit) =
        let stop = start + length
        let mutable position = start
        while position < stop do
            let segment = if width = 0 then 0 else position / width
            let stopOfSegment = if width = 0 then stop else min stop ((segment + 1) * width)
            body segment position (stopOfSegment - position)
            position <- stopOfSegment

    let private readOnly (m: Memory<float32>) : ReadOnlyMemory<float32> = Memory<float32>.op_Implicit m

    let inline private seg (xs: ReadOnlyMemory<float32>[]) (k: int) (o: int) (n: int) = xs[k].Span.Slice(o, n)

    /// `out[o..o+n)` = the left-to-right combination of the inputs' `[o, o+n)` with coefficients `cs`: up to four
    /// terms in one pass; further terms fold into the running sum three at a time, which rounds exactly as the
    /// left-to-right sum does because 1·s is exact.
    let private combineSegment (cs: float32[]) (xs: ReadOnlyMemory<float32>[]) (out: Memory<float32>) (o: int) (n: int) =
        let dest = out.Span.Slice(o, n)
        match cs.Length with
        | 1 -> Kernels.scale cs[0] (seg xs 0 o n) dest
        | 2 -> Kernels.combine2 cs[0] (seg xs 0 o n) cs[1] (seg xs 1 o n) dest
        | 3 -> Kernels.combine3 cs[0] (seg xs 0 o n) cs[1] (seg xs 1 o n) cs[2] (seg xs 2 o n) dest
        | count ->
            Kernels.combine4 cs[0] (seg xs 0 o n) cs[1] (seg xs 1 o n) cs[2] (seg xs 2 o n) cs[3] (seg xs 3 o n) dest
            let sum = (readOnly out).Span.Slice(o, n)
            let mutable k = 4
            while k < count do
                match count - k with
                | 1 -> Kernels.combine2 1.0f sum cs[k] (seg xs k o n) dest
                | 2 -> Kernels.combine3 1.0f sum cs[k] (seg xs k o n) cs[k + 1] (seg xs (k + 1) o n) dest
                | _ -> Kernels.combine4 1.0f sum cs[k] (seg xs k o n) cs[k + 1] (seg xs (k + 1) o n) cs[k + 2] (seg xs (k + 2) o n) dest
                k <- k + 3

    /// `out = Σ cₖ·xₖ` left to right (see `IBackend.Combine`), per-batch coefficients applying to consecutive
    /// slices of `batch` equal parts.
    let combine (threads: int) (batch: int) (terms: struct (Coef * ReadOnlyMemory<float32>)[]) (out: Memory<float32>) =
        if obj.ReferenceEquals(terms, null) || terms.Length = 0 then invalidArg "terms" "a linear combination needs at least one term"
        let n = out.Length
        terms |> Array.iteri (fun k (struct (_, x)) -> checkLengthAt "terms" k n x)
        let coefficients = terms |> Array.map (fun struct (c, _) -> c)
        let width = segmentWidth n batch coefficients
        let xs = terms |> Array.map (fun struct (_, x) -> x)
        Parallelism.forChunksUpTo threads n (fun start length ->
            let cs = Array.zeroCreate<float32> coefficients.Length
            forSegments width start length (fun segment o len ->
                for k in 0 .. cs.Length - 1 do
                    cs[k] <- Coef.at segment coefficients[k]
                combineSegment cs xs out o len))

    /// `out = x / d` (a true division), with a scalar or per-batch divisor.
    let divide (threads: int) (batch: int) (x: ReadOnlyMemory<float32>) (divisor: Coef) (out: Memory<float32>) =
        let n = out.Length
        checkLength "tensor" n x
        let width = segmentWidth n batch [ divisor ]
        Parallelism.forChunksUpTo threads n (fun start length ->
            forSegments width start length (fun segment o len ->
                Kernels.divide (x.Span.Slice(o, len)) (Coef.at segment divisor) (out.Span.Slice(o, len))))

    /// `mean = c0·x0 + c1·x1` and `prev = mean + g·z` in one pass (`FusedKernels.combineThenAdd`).
    let combineThenAdd
        (threads: int) (c0: float32) (x0: ReadOnlyMemory<float32>) (c1: float32) (x1: ReadOnlyMemory<float32>) (g: float32)
        (z: ReadOnlyMemory<float32>) (mean: Memory<float32>) (prev: Memory<float32>) =
        let n = mean.Length
        checkLength "x0" n x0
        checkLength "x1" n x1
        checkLength "z" n z
        checkLength "prev" n (readOnly prev)
        Parallelism.forChunksUpTo threads n (fun o len ->
            FusedKernels.combineThenAdd
                c0 (x0.Span.Slice(o, len)) c1 (x1.Span.Slice(o, len)) g (z.Span.Slice(o, len))
                (mean.Span.Slice(o, len)) (prev.Span.Slice(o, len)))

    /// KarrasVe's churn `out = x + scale·(sNoise·z)` in one pass (`FusedKernels.scaledNoiseAdd`).
    let churn (threads: int) (sNoise: float32) (scale: float32) (sample: ReadOnlyMemory<float32>) (z: ReadOnlyMemory<float32>) (out: Memory<float32>) =
        let n = out.Length
        checkLength "sample" n sample
        checkLength "z" n z
        Parallelism.forChunksUpTo threads n (fun o len ->
            FusedKernels.scaledNoiseAdd sNoise scale (sample.Span.Slice(o, len)) (z.Span.Slice(o, len)) (out.Span.Slice(o, len)))

    /// KarrasVe's Euler stage in one pass (`FusedKernels.karrasEuler`): x0, d and prev.
    let karrasEuler
        (threads: int) (plan: KarrasVeStepPlan) (sampleHat: ReadOnlyMemory<float32>) (modelOutput: ReadOnlyMemory<float32>)
        (x0: Memory<float32>) (d: Memory<float32>) (prev: Memory<float32>) =
        let n = x0.Length
        checkLength "sample_hat" n sampleHat
        checkLength "model_output" n modelOutput
        Parallelism.forChunksUpTo threads n (fun o len ->
            FusedKernels.karrasEuler
                plan.SigmaHat plan.DivideByReciprocal plan.Delta (sampleHat.Span.Slice(o, len)) (modelOutput.Span.Slice(o, len))
                (x0.Span.Slice(o, len)) (d.Span.Slice(o, len)) (prev.Span.Slice(o, len)))

    /// KarrasVe's Heun correction in one pass (`FusedKernels.karrasHeun`): x0 and prev.
    let karrasHeun
        (threads: int) (plan: KarrasVeStepPlan) (sampleHat: ReadOnlyMemory<float32>) (samplePrev: ReadOnlyMemory<float32>)
        (modelOutput: ReadOnlyMemory<float32>) (derivative: ReadOnlyMemory<float32>) (x0: Memory<float32>) (prev: Memory<float32>) =
        let n = x0.Length
        checkLength "sample_hat" n sampleHat
        checkLength "sample_prev" n samplePrev
        checkLength "model_output" n modelOutput
        checkLength "derivative" n derivative
        Parallelism.forChunksUpTo threads n (fun o len ->
            FusedKernels.karrasHeun
                plan.SigmaPrev plan.DivideByReciprocal plan.Delta (sampleHat.Span.Slice(o, len)) (samplePrev.Span.Slice(o, len))
                (modelOutput.Span.Slice(o, len)) (derivative.Span.Slice(o, len)) (x0.Span.Slice(o, len)) (prev.Span.Slice(o, len)))

    /// A whole DPM-Solver update in one pass (`DpmKernels.update`): the sample, the converted outputs the plan's order
    /// needs (newest first) and the noise of the SDE variants.
    let dpmUpdate
        (threads: int) (plan: DpmUpdatePlan) (sample: ReadOnlyMemory<float32>) (outputs: ReadOnlyMemory<float32>[])
        (noise: ReadOnlyMemory<float32> voption) (out: Memory<float32>) =
        let n = out.Length
        checkLength "sample" n sample
        if outputs.Length < plan.Order then
            invalidArg "outputs" (sprintf "an update of order %d needs %d model outputs but %d were given" plan.Order plan.Order outputs.Length)
        for k in 0 .. plan.Order - 1 do
            checkLengthAt "outputs" k n outputs[k]
        noise |> ValueOption.iter (checkLength "noise" n)
        let at (k: int) = if k < plan.Order then outputs[k] else sample
        let z = noise |> ValueOption.defaultValue sample
        Parallelism.forChunksUpTo threads n (fun o len ->
            DpmKernels.update
                plan (sample.Span.Slice(o, len)) ((at 0).Span.Slice(o, len)) ((at 1).Span.Slice(o, len)) ((at 2).Span.Slice(o, len))
                noise.IsSome (z.Span.Slice(o, len)) (out.Span.Slice(o, len)))

    /// The elements of one tile of a program pass: with a few registers live, the tiles of every register stay in
    /// the first- or second-level cache, so the pass reads each input and writes each output once.
    let programTile = 2048

    /// Runs a program's instructions over ranges of the pass with the span kernels of the op-by-op form, tile by
    /// tile, each result in a tile buffer or, for a returned register, in its output. One per thread: it owns its
    /// tile buffers.
    type private Interpreter(program: ElementwiseProgram, outputOf: int[], fill: FillNormals, n: int,
                             inputs: ReadOnlyMemory<float32>[], outputs: Memory<float32>[]) =
        let registers = program.Inputs + program.Body.Length
        let temps = Array.init registers (fun r -> if r >= program.Inputs && outputOf[r] < 0 then Array.zeroCreate<float32> programTile else [||])
        let sources = program.Body |> Array.map (fun i ->
            match i with
            | Instr.Combine terms -> Array.zeroCreate<ReadOnlyMemory<float32>> terms.Length
            | _ -> Array.zeroCreate<ReadOnlyMemory<float32>> 1)
        let cs = program.Body |> Array.map (fun i ->
            match i with
            | Instr.Combine terms -> Array.zeroCreate<float32> terms.Length
            | _ -> [||])

        /// Elements [o, o + len) of batch segment `segment`.
        member _.Range(segment: int, o: int, len: int) =
            let mutable t = o
            while t < o + len do
                let m = min programTile (o + len - t)
                let target (r: int) : Memory<float32> =
                    if outputOf[r] >= 0 then outputs[outputOf[r]].Slice(t, m) else Memory(temps[r], 0, m)
                let source (r: Reg) : ReadOnlyMemory<float32> =
                    let r = r.Index
                    if r < program.Inputs then inputs[r].Slice(t, m) else readOnly (target r)
                for k in 0 .. program.Body.Length - 1 do
                    let dest = target (program.Inputs + k)
                    match program.Body[k] with
                    | Instr.Combine terms ->
                        let xs = sources[k]
                        for j in 0 .. terms.Length - 1 do
                            let struct (c, r) = terms[j]
                            cs[k][j] <- Coef.at segment c
                            xs[j] <- source r
                        combineSegment cs[k] xs dest 0 m
                    | Instr.Divide(r, d) -> Kernels.divide (source r).Span (Coef.at segment d) dest.Span
                    | Instr.Clamp(r, lo, hi) -> Kernels.clamp lo hi (source r).Span dest.Span
                    | Instr.Normal slot -> fill.Invoke(slot, int64 n, int64 t, dest.Span, ReadOnlySpan.Empty)
                t <- t + m

    let private checkProgram (program: ElementwiseProgram) (fill: FillNormals) (inputs: ReadOnlyMemory<float32>[]) (outputs: Memory<float32>[]) =
        if program.NoiseSlots > 0 && obj.ReferenceEquals(fill, null) then invalidArg "fill" "the program draws normals but no way to fill them was given"
        if inputs.Length <> program.Inputs then
            invalidArg "inputs" (sprintf "the program reads %d inputs but %d were given" program.Inputs inputs.Length)
        if outputs.Length <> program.Outputs.Length then
            invalidArg "outputs" (sprintf "the program returns %d registers but %d outputs were given" program.Outputs.Length outputs.Length)
        let n = inputs[0].Length
        inputs |> Array.iteri (fun k x -> checkLengthAt "inputs" k n x)
        outputs |> Array.iteri (fun k x -> checkLengthAt "outputs" k n (readOnly x))
        // Which output (if any) each register is written to.
        let outputOf = Array.create (program.Inputs + program.Body.Length) -1
        program.Outputs |> Array.iteri (fun j r -> if r.Index >= program.Inputs && outputOf[r.Index] < 0 then outputOf[r.Index] <- j)
        n, outputOf

    /// `run` with the interpreter alone (the compiled loop's reference; see `run`).
    let runInterpreted (threads: int) (batch: int) (program: ElementwiseProgram) (fill: FillNormals) (inputs: ReadOnlyMemory<float32>[]) (outputs: Memory<float32>[]) =
        let n, outputOf = checkProgram program fill inputs outputs
        let width = segmentWidth n batch program.Coefficients
        Parallelism.forChunksUpTo threads n (fun start length ->
            let interpreter = Interpreter(program, outputOf, fill, n, inputs, outputs)
            forSegments width start length (fun segment o len -> interpreter.Range(segment, o, len)))

    /// Each thread's pinned tile buffers for the normals of compiled programs, made on first use and reused.
    [<AbstractClass; Sealed>]
    type private NoiseTiles =
        [<ThreadStatic; DefaultValue>]
        static val mutable private tiles: float32[][]

        /// At least `count` pinned buffers of `programTile` elements.
        static member Get(count: int) : float32[][] =
            let current = NoiseTiles.tiles
            if obj.ReferenceEquals(current, null) || current.Length < count then
                let grown = Array.init count (fun k ->
                    if not (obj.ReferenceEquals(current, null)) && k < current.Length then current[k]
                    else GC.AllocateUninitializedArray<float32>(programTile, true))
                NoiseTiles.tiles <- grown
                grown
            else current

    /// `run` with the compiled loop `compiled` of `program` (`ProgramCompiler.compile`): each segment's whole vectors
    /// through it, its last few elements (fewer than a vector) through the interpreter; a program that draws normals
    /// goes tile by tile, the tile's normals filled into cache-resident buffers first while the lines of the tile's
    /// inputs and outputs are requested.
    let runCompiled
        (threads: int) (batch: int) (program: ElementwiseProgram) (compiled: CompiledProgram) (fill: FillNormals)
        (inputs: ReadOnlyMemory<float32>[]) (outputs: Memory<float32>[]) =
        let n, outputOf = checkProgram program fill inputs outputs
        let width = segmentWidth n batch program.Coefficients
        // Outputs the compiled loop writes, in order (an input register among the outputs is not written).
        let writtenOutputs =
            program.Outputs |> Array.indexed |> Array.filter (fun (j, r) -> r.Index >= program.Inputs && outputOf[r.Index] = j) |> Array.map fst
        let normals = ProgramCompiler.normals program
        let pins = Array.append (inputs |> Array.map (fun m -> m.Pin())) (writtenOutputs |> Array.map (fun j -> outputs[j].Pin()))
        try
            let address (k: int) = NativePtr.toNativeInt (NativePtr.ofVoidPtr<byte> pins[k].Pointer)
            let inputBase = Array.init inputs.Length address
            let outputBase = Array.init writtenOutputs.Length (fun j -> address (inputs.Length + j))
            let vectorWidth = Numerics.Vector<float32>.Count
            let coefficientCount = ProgramCompiler.coefficientCount program
            Parallelism.forChunksUpTo threads n (fun start length ->
                // The loop's arguments on this thread's stack (sizes bounded by `ProgramCompiler.tryGet`).
                let reads = NativePtr.stackalloc<nativeint> (inputs.Length + normals.Length)
                let writes = NativePtr.stackalloc<nativeint> (max 1 writtenOutputs.Length)
                let coefficients = NativePtr.stackalloc<float32> (max 1 coefficientCount)
                let ahead = NativePtr.stackalloc<nativeint> (inputs.Length + writtenOutputs.Length)
                let readsAt = NativePtr.toNativeInt reads
                let writesAt = NativePtr.toNativeInt writes
                let coefficientsAt = NativePtr.toNativeInt coefficients
                let tiles = if normals.Length = 0 then [||] else NoiseTiles.Get normals.Length
                let mutable interpreter = Unchecked.defaultof<Interpreter>
                let point (o: int) =
                    for k in 0 .. inputs.Length - 1 do
                        NativePtr.set reads k (inputBase[k] + nativeint o * 4n)
                    for j in 0 .. writtenOutputs.Length - 1 do
                        NativePtr.set writes j (outputBase[j] + nativeint o * 4n)
                forSegments width start length (fun segment o len ->
                    ProgramCompiler.coefficientsInto program segment (Span<float32>(NativePtr.toVoidPtr coefficients, coefficientCount))
                    let whole = len - len % vectorWidth
                    if normals.Length = 0 then
                        point o
                        compiled.Invoke(readsAt, writesAt, coefficientsAt, whole)
                    else
                        let mutable t = o
                        while t < o + whole do
                            let m = min programTile (o + whole - t)
                            point t
                            // The first draw requests the lines of every array the tile's loop touches.
                            for k in 0 .. inputs.Length - 1 do
                                NativePtr.set ahead k (NativePtr.get reads k)
                            for j in 0 .. writtenOutputs.Length - 1 do
                                NativePtr.set ahead (inputs.Length + j) (NativePtr.get writes j)
                            for j in 0 .. normals.Length - 1 do
                                let struct (_, slot) = normals[j]
                                let touch =
                                    if j = 0 then ReadOnlySpan<nativeint>(NativePtr.toVoidPtr ahead, inputs.Length + writtenOutputs.Length)
                                    else ReadOnlySpan.Empty
                                let tile = tiles[j]
                                fill.Invoke(slot, int64 n, int64 t, tile.AsSpan(0, m), touch)
                                NativePtr.set reads (inputs.Length + j) (Runtime.InteropServices.Marshal.UnsafeAddrOfPinnedArrayElement(tile, 0))
                            compiled.Invoke(readsAt, writesAt, coefficientsAt, m)
                            t <- t + m
                    if whole < len then
                        if isNull (box interpreter) then interpreter <- Interpreter(program, outputOf, fill, n, inputs, outputs)
                        interpreter.Range(segment, o + whole, len - whole)))
        finally
            for p in pins do
                p.Dispose()

    /// An elementwise program in one pass (`ElementwiseProgram`), chunk by chunk over threads and segment by segment
    /// for per-batch coefficients: compiled into one vector loop whose intermediates stay in registers
    /// (`ProgramCompiler`), or where it is not compiled, interpreted tile by tile with the span kernels of the
    /// op-by-op form (`combine`, `divide`, `Kernels.clamp`; a normal draw through `fill` at the tile's positions).
    /// Same bits either way as running the instructions one at a time over whole tensors; `outputs[j]` receives
    /// register `program.Outputs[j]` (an input register among the outputs is not written: the caller returns the
    /// input itself).
    let run (threads: int) (batch: int) (program: ElementwiseProgram) (fill: FillNormals) (inputs: ReadOnlyMemory<float32>[]) (outputs: Memory<float32>[]) =
        match ProgramCompiler.tryGet program with
        | ValueSome compiled -> runCompiled threads batch program compiled fill inputs outputs
        | ValueNone -> runInterpreted threads batch program fill inputs outputs
