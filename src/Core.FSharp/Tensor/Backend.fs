namespace Schedulers.Core

open System

/// The tensor operations scheduler maths needs, in one interface that every scheduler uses and every backend
/// implements once: the core for its `NdArray` (with `PrngKey` noise, `NdArrayBackend`), the C# shell for
/// `torch.Tensor` (with a `torch.Generator` or a key). A step is written once against it and runs on either.
///
/// The `Try…` members are the fused one-pass stages: a backend returns ValueNone when it cannot take the given
/// tensors in one pass (another dtype or device, say), and the scheduler then composes the same result from the
/// elementary members with the same roundings (properties check the two forms bit for bit). No scheduler asks
/// which backend it has.
type IBackend<'T, 'Noise> =
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

    /// `x[:, :count]`: the first `count` channels (axis 1), as a learned-variance model output is split.
    abstract FirstChannels: tensor: 'T * count: int -> 'T
    /// `x[:, −count:]`: the last `count` channels (axis 1), the variance half of a learned-variance model output.
    abstract LastChannels: tensor: 'T * count: int -> 'T
    /// DDPM's noise term σ·z with σ elementwise from a learned variance v (diffusers' `DDPMScheduler.step`), each op
    /// rounded to float32 as torch rounds it: with no bounds ("learned") √v·z; with bounds (minLog, maxLog)
    /// ("learned_range") exp(0.5·(f·maxLog + (1 − f)·minLog))·z, f = (v + 1)/2.
    abstract LearnedVarianceNoise: variance: 'T * logBounds: struct (float32 * float32) voption * z: 'T -> 'T

    /// Dynamic thresholding (Saharia et al. 2022, §2.3) as diffusers' `_threshold_sample`: per batch element
    /// s = clamp(quantile(|x|, ratio), min = 1, max = maxValue) (so s = maxValue when maxValue < 1), then
    /// clamp(x, −s, s)/s.
    abstract Threshold: tensor: 'T * ratio: float32 * maxValue: float32 -> 'T

    /// `x.clamp(lo, hi)` elementwise (`clip_sample`).
    abstract Clamp: tensor: 'T * lo: float32 * hi: float32 -> 'T

    /// The lifetime hook: the caller will not use this tensor again (a temporary a step made, or a loop's previous
    /// sample). A backend over managed memory ignores it; the torch backend frees the native tensor now instead
    /// of at the next garbage collection. Never called on a tensor the caller of a step passed in.
    abstract Release: tensor: 'T -> unit

    /// `mean = Combine terms` and `prev = mean + scale·z` in one pass (the roundings of `Combine [1·mean; scale·z]`).
    abstract TryCombineThenAdd: terms: struct (Coef * 'T)[] * scale: float32 * z: 'T -> struct ('T * 'T) voption

    /// `TryCombineThenAdd` with z the draw `Normal(noise, like the first term)`, which the backend may generate
    /// block by block inside the pass instead of storing it.
    abstract TryCombineWithNoise: terms: struct (Coef * 'T)[] * scale: float32 * noise: 'Noise -> struct ('T * 'T) voption

    /// KarrasVe's churn x̂ = x + scale·(sNoise·z) in one pass, with z already drawn.
    abstract TryChurn: sNoise: float32 * scale: float32 * sample: 'T * z: 'T -> 'T voption

    /// `TryChurn` with z the draw `Normal(noise, like sample)`, generated inside the pass where the backend can.
    abstract TryChurnWithNoise: sNoise: float32 * scale: float32 * sample: 'T * noise: 'Noise -> 'T voption

    /// KarrasVe's Euler stage: (x0, d, prev) from x̂ and model_output under the plan.
    abstract TryKarrasEuler: plan: KarrasVeStepPlan * sampleHat: 'T * modelOutput: 'T -> struct ('T * 'T * 'T) voption

    /// KarrasVe's Heun correction: (x0, prev) from x̂, the Euler sample, model_output and the Euler derivative.
    abstract TryKarrasHeun:
        plan: KarrasVeStepPlan * sampleHat: 'T * samplePrev: 'T * modelOutput: 'T * derivative: 'T -> struct ('T * 'T) voption

    /// A whole DPM-Solver update (`DpmSolverUpdate.applyGeneric`) in one pass: the sample, the converted outputs
    /// (newest first, at least `plan.Order` of them) and the noise of the SDE variants.
    abstract TryDpmUpdate: plan: DpmUpdatePlan * sample: 'T * outputs: 'T[] * noise: 'T voption -> 'T voption

    /// An elementwise program (`ElementwiseProgram`) over same-shaped inputs in one pass, its `Normal` draws from
    /// `noise[slot]`: its returned registers, an input register as the input itself. ValueNone where the backend
    /// cannot (`Backend.run` then runs it op by op, with the same bits).
    abstract TryRun: program: ElementwiseProgram * inputs: 'T[] * noise: 'Noise[] -> 'T[] voption

/// Shapes as backends report them (`int[]`, outermost axis first).
module Shapes =

    /// True when the two shapes have the same axes (a span comparison, without F#'s generic structural equality).
    let same (a: int[]) (b: int[]) = MemoryExtensions.SequenceEqual(ReadOnlySpan a, ReadOnlySpan b)

    /// The shape written as `[4,3,8,8]`, as error messages show it.
    let text (shape: int[]) = "[" + String.Join(",", shape) + "]"

/// Formulas over any backend, so that scheduler code reads like the paper: `Backend.lin ops [ 1.0f, x; -1.0f, d ]`
/// for x − d, and the fused stages with their op-by-op fallbacks written once.
module Backend =

    /// The linear combination `Σ cₖ·xₖ` of scalar coefficients, left to right (see `IBackend.Combine`).
    let lin (ops: IBackend<'T, 'N>) (terms: (float32 * 'T) list) : 'T =
        ops.Combine(terms |> List.map (fun (c, x) -> struct (Scalar c, x)) |> List.toArray)

    /// `a − b`.
    let sub (ops: IBackend<'T, 'N>) (a: 'T) (b: 'T) : 'T = lin ops [ 1.0f, a; -1.0f, b ]

    /// `c·x`.
    let scale (ops: IBackend<'T, 'N>) (c: float32) (x: 'T) : 'T = lin ops [ c, x ]

    /// `x / d` for a scalar d as the flavour's reference computes it: a true division (torch) or a multiplication by the
    /// float32 reciprocal (XLA's rewrite, `ScalarDivision.MultiplyByReciprocal`).
    let divideAs (ops: IBackend<'T, 'N>) (flavour: Flavour) (x: 'T) (d: float32) : 'T =
        match flavour.Division with
        | Divide -> ops.Divide(x, Scalar d)
        | MultiplyByReciprocal -> scale ops (1.0f / d) x

    /// Throws unless `x` has the shape of `reference`; the message names both arguments and shapes.
    let checkSame (ops: IBackend<'T, 'N>) (referenceName: string) (reference: 'T) (name: string) (x: 'T) =
        let expected = ops.Shape reference
        let actual = ops.Shape x
        if not (Shapes.same expected actual) then
            invalidArg name (sprintf "%s has shape %s but %s has %s" referenceName (Shapes.text expected) name (Shapes.text actual))

    /// `checkSame` for element `k` of an argument array named `name` (the name formatted only for the message).
    let checkSameAt (ops: IBackend<'T, 'N>) (referenceName: string) (reference: 'T) (name: string) (k: int) (x: 'T) =
        let expected = ops.Shape reference
        let actual = ops.Shape x
        if not (Shapes.same expected actual) then
            invalidArg (sprintf "%s[%d]" name k) (sprintf "%s has shape %s but %s[%d] has %s" referenceName (Shapes.text expected) name k (Shapes.text actual))

    /// `mean = Σ terms` and `prev = mean + scale·z`: one pass where the backend offers it, else two `Combine`s
    /// (the same roundings either way).
    let combineThenAdd (ops: IBackend<'T, 'N>) (terms: struct (Coef * 'T)[]) (scale: float32) (z: 'T) : struct ('T * 'T) =
        match ops.TryCombineThenAdd(terms, scale, z) with
        | ValueSome result -> result
        | ValueNone ->
            let mean = ops.Combine terms
            struct (mean, ops.Combine [| struct (Scalar 1.0f, mean); struct (Scalar scale, z) |])

    /// `combineThenAdd` with z a full-shape draw from `noise`, drawn inside the pass where the backend can.
    let combineWithNoise (ops: IBackend<'T, 'N>) (terms: struct (Coef * 'T)[]) (scale: float32) (noise: 'N) : struct ('T * 'T) =
        match ops.TryCombineWithNoise(terms, scale, noise) with
        | ValueSome result -> result
        | ValueNone ->
            let struct (_, first) = terms[0]
            let z = ops.Normal(noise, first)
            let result = combineThenAdd ops terms scale z
            ops.Release z
            result

    /// Runs an elementwise program, its normals drawn from `noise[slot]`: in one pass where the backend can
    /// (`IBackend.TryRun`), else instruction by instruction with `Combine`, `Divide`, `Clamp` and `Normal`, releasing each intermediate once it is no longer needed.
    /// The returned tensors are new, but for input registers, which are returned as given.
    let rec runWithNoise (ops: IBackend<'T, 'N>) (program: ElementwiseProgram) (inputs: 'T[]) (noise: 'N[]) : 'T[] =
        if inputs.Length <> program.Inputs then
            invalidArg "inputs" (sprintf "the program reads %d inputs but %d were given" program.Inputs inputs.Length)
        if noise.Length < program.NoiseSlots then
            invalidArg "noise" (sprintf "the program draws from %d noise sources but %d were given" program.NoiseSlots noise.Length)
        for k in 1 .. inputs.Length - 1 do
            checkSameAt ops "inputs[0]" inputs[0] "inputs" k inputs[k]
        let opByOp () =
            let registers = Array.zeroCreate<'T> (program.Inputs + program.Body.Length)
            Array.blit inputs 0 registers 0 inputs.Length
            // The last instruction that reads each register: a temporary is released right after it.
            let lastUse = Array.create registers.Length -1
            program.Body
            |> Array.iteri (fun k i ->
                match i with
                | Instr.Combine terms -> for struct (_, r) in terms do lastUse[r.Index] <- k
                | Instr.Divide(r, _)
                | Instr.Clamp(r, _, _) -> lastUse[r.Index] <- k
                | Instr.Normal _ -> ())
            let returned = program.Outputs |> Array.map (fun r -> r.Index)
            for k in 0 .. program.Body.Length - 1 do
                registers[program.Inputs + k] <-
                    match program.Body[k] with
                    | Instr.Combine terms -> ops.Combine(terms |> Array.map (fun struct (c, r) -> struct (c, registers[r.Index])))
                    | Instr.Divide(r, d) -> ops.Divide(registers[r.Index], d)
                    | Instr.Clamp(r, lo, hi) -> ops.Clamp(registers[r.Index], lo, hi)
                    | Instr.Normal slot -> ops.Normal(noise[slot], inputs[0])
                for r in program.Inputs .. program.Inputs + k - 1 do
                    if lastUse[r] = k && not (Array.contains r returned) then ops.Release registers[r]
            // Temporaries no instruction reads.
            for r in program.Inputs .. registers.Length - 1 do
                if lastUse[r] < 0 && not (Array.contains r returned) then ops.Release registers[r]
            returned |> Array.map (fun r -> registers[r])
        match ops.TryRun(program, inputs, noise) with
        | ValueSome outputs -> outputs
        | ValueNone when program.NoiseSlots > 0 ->
            // A backend that cannot draw inside the pass (a stateful torch stream): each draw made whole, in the
            // program's order, then the program with the draws as inputs — one pass where the backend runs programs.
            let normals = program.Body |> Array.choose (fun i -> match i with Instr.Normal slot -> Some slot | _ -> None)
            let draws = normals |> Array.map (fun slot -> ops.Normal(noise[slot], inputs[0]))
            let inputCount = program.Inputs + draws.Length
            // Old register → new register: inputs stay, the k-th draw becomes input (Inputs + k), the other
            // instructions follow the inputs in order.
            let map = Array.zeroCreate<int> (program.Inputs + program.Body.Length)
            for r in 0 .. program.Inputs - 1 do map[r] <- r
            let mutable drawn = 0
            let mutable kept = 0
            for k in 0 .. program.Body.Length - 1 do
                match program.Body[k] with
                | Instr.Normal _ ->
                    map[program.Inputs + k] <- program.Inputs + drawn
                    drawn <- drawn + 1
                | _ ->
                    map[program.Inputs + k] <- inputCount + kept
                    kept <- kept + 1
            let m (r: Reg) = Reg map[r.Index]
            let body =
                program.Body
                |> Array.choose (fun i ->
                    match i with
                    | Instr.Normal _ -> None
                    | Instr.Combine terms -> Some(Instr.Combine(terms |> Array.map (fun struct (c, r) -> struct (c, m r))))
                    | Instr.Divide(r, d) -> Some(Instr.Divide(m r, d))
                    | Instr.Clamp(r, lo, hi) -> Some(Instr.Clamp(m r, lo, hi)))
            let rewritten = { Inputs = inputCount; Body = body; Outputs = program.Outputs |> Array.map m }
            let withDraws = Array.append inputs draws
            let outputs =
                match ops.TryRun(rewritten, withDraws, [||]) with
                | ValueSome outputs -> outputs
                | ValueNone -> runWithNoise ops rewritten withDraws [||]
            // The draws are this run's temporaries, unless a program returns one.
            for d in draws do
                if not (outputs |> Array.exists (fun o -> obj.ReferenceEquals(o, d))) then ops.Release d
            outputs
        | ValueNone -> opByOp ()

    /// `runWithNoise` for a program that draws no normals.
    let run (ops: IBackend<'T, 'N>) (program: ElementwiseProgram) (inputs: 'T[]) : 'T[] = runWithNoise ops program inputs [||]

/// A backend with every fused stage switched off: the elementary members of `inner`, each `Try…` ValueNone. Every
/// scheduler then composes its stages op by op, which is the reference the fused passes are checked against bit for
/// bit (the property tests run both), and a starting point for a new backend.
[<Sealed>]
type OpByOpBackend<'T, 'Noise>(inner: IBackend<'T, 'Noise>) =
    interface IBackend<'T, 'Noise> with
        member _.Shape(x) = inner.Shape x
        member _.Combine(terms) = inner.Combine terms
        member _.Divide(x, d) = inner.Divide(x, d)
        member _.BatchNorms(x) = inner.BatchNorms x
        member _.Norm(x) = inner.Norm x
        member _.Normal(noise, like) = inner.Normal(noise, like)
        member _.FirstChannels(x, count) = inner.FirstChannels(x, count)
        member _.LastChannels(x, count) = inner.LastChannels(x, count)
        member _.LearnedVarianceNoise(v, bounds, z) = inner.LearnedVarianceNoise(v, bounds, z)
        member _.Threshold(x, ratio, maxValue) = inner.Threshold(x, ratio, maxValue)
        member _.Clamp(x, lo, hi) = inner.Clamp(x, lo, hi)
        member _.Release(x) = inner.Release x
        member _.TryCombineThenAdd(_, _, _) = ValueNone
        member _.TryCombineWithNoise(_, _, _) = ValueNone
        member _.TryChurn(_, _, _, _) = ValueNone
        member _.TryChurnWithNoise(_, _, _, _) = ValueNone
        member _.TryKarrasEuler(_, _, _) = ValueNone
        member _.TryKarrasHeun(_, _, _, _, _) = ValueNone
        member _.TryDpmUpdate(_, _, _, _) = ValueNone
        member _.TryRun(_, _, _) = ValueNone
