namespace Schedulers.Core

open System

/// The tensor operations DPM-Solver needs beyond `ITensorOps`: the channel slice of a learned-variance output and
/// dynamic thresholding (a per-batch quantile, a clamp and a division).
type IDpmTensorOps<'T, 'Noise> =
    inherit ITensorOps<'T, 'Noise>

    /// `x[:, :count]`: the first `count` channels (axis 1).
    abstract FirstChannels: tensor: 'T * count: int -> 'T

    /// Dynamic thresholding (Saharia et al. 2022, §2.3) as diffusers' `_threshold_sample`: per batch element
    /// s = torch.clamp(quantile(|x|, ratio), min = 1, max = maxValue) (so s = maxValue when maxValue < 1), then
    /// clamp(x, −s, s)/s.
    abstract Threshold: tensor: 'T * ratio: float32 * maxValue: float32 -> 'T

/// One point of the VP noise schedule: α, σ (the VP σ, not the VE sigma) and λ = ln α − ln σ.
[<Struct>]
type VpPoint =
    { /// α_t = √ᾱ_t.
      Alpha: float32
      /// σ_t = √(1 − ᾱ_t).
      Sigma: float32
      /// λ_t = ln α_t − ln σ_t (half the log-SNR).
      Lambda: float32 }

/// The scalar plan of one DPM-Solver update, `x_t = X·x + C0·D0 + C1·D1 + C2·D2 + Z·z`, with the scalars that build
/// the divided differences D1, D2 from the model-output history. All float32, computed in the reference's order.
type DpmUpdatePlan =
    { /// The order of the update: 1, 2 or 3.
      Order: int
      /// Coefficient of the sample.
      SampleCoef: float32
      /// Coefficient of D0 = m0.
      D0Coef: float32
      /// Coefficient of D1 (order ≥ 2).
      D1Coef: float32
      /// Coefficient of D2 (order 3).
      D2Coef: float32
      /// Coefficient of the noise (SDE variants), 0 otherwise.
      NoiseCoef: float32
      /// 1/r0, with r0 = h0/h.
      InvR0: float32
      /// 1/r1, with r1 = h1/h (order 3).
      InvR1: float32
      /// r0/(r0 + r1) (order 3).
      R0OverSum: float32
      /// 1/(r0 + r1) (order 3).
      InvSum: float32 }

/// Backends that apply a whole DPM-Solver update in one pass over memory: the divided differences are formed per
/// element inside the pass instead of as temporary arrays, with every product and sum rounded as
/// `DpmSolverUpdate.apply` rounds them through `ITensorOps.Combine`, so the result has the same bits.
type IDpmFusedOps<'T> =

    /// `DpmSolverUpdate.apply`'s result for the plan, the sample, the converted outputs (newest first) and the
    /// noise of the SDE variants.
    abstract ApplyUpdate: plan: DpmUpdatePlan * sample: 'T * outputs: 'T[] * noise: 'T voption -> 'T

/// The one-pass DPM-Solver update over float32 spans (see `IDpmFusedOps`).
module DpmKernels =

    open System.Numerics

    /// out = X·x + C0·m0 + C1·d1 + C2·d2 (+ Z·z), with d1, d2 the plan's divided differences of m0, m1, m2, evaluated
    /// per element in `DpmSolverUpdate.apply`'s order of roundings. `m1`/`m2` are read only for orders ≥ 2/3, `z`
    /// only when `hasNoise`.
    let update
        (p: DpmUpdatePlan) (x: ReadOnlySpan<float32>) (m0: ReadOnlySpan<float32>) (m1: ReadOnlySpan<float32>)
        (m2: ReadOnlySpan<float32>) (hasNoise: bool) (z: ReadOnlySpan<float32>) (out: Span<float32>) =
        let n = out.Length
        let w = Vector<float32>.Count
        let X, C0, C1, C2, Z = p.SampleCoef, p.D0Coef, p.D1Coef, p.D2Coef, p.NoiseCoef
        let vX, vC0, vC1, vC2, vZ = Vector<float32> X, Vector<float32> C0, Vector<float32> C1, Vector<float32> C2, Vector<float32> Z
        let vR0, vR1, vRs, vIs = Vector<float32> p.InvR0, Vector<float32> p.InvR1, Vector<float32> p.R0OverSum, Vector<float32> p.InvSum
        let mutable i = 0
        match p.Order with
        | 1 ->
            while i <= n - w do
                let acc = vX * Vector<float32>(x.Slice i) + vC0 * Vector<float32>(m0.Slice i)
                (if hasNoise then acc + vZ * Vector<float32>(z.Slice i) else acc).CopyTo(out.Slice i)
                i <- i + w
            while i < n do
                let acc = X * x[i] + C0 * m0[i]
                out[i] <- if hasNoise then acc + Z * z[i] else acc
                i <- i + 1
        | 2 ->
            while i <= n - w do
                let a = Vector<float32>(m0.Slice i)
                let d1 = vR0 * (a - Vector<float32>(m1.Slice i))
                let acc = (vX * Vector<float32>(x.Slice i) + vC0 * a) + vC1 * d1
                (if hasNoise then acc + vZ * Vector<float32>(z.Slice i) else acc).CopyTo(out.Slice i)
                i <- i + w
            while i < n do
                let d1 = p.InvR0 * (m0[i] - m1[i])
                let acc = (X * x[i] + C0 * m0[i]) + C1 * d1
                out[i] <- if hasNoise then acc + Z * z[i] else acc
                i <- i + 1
        | _ ->
            while i <= n - w do
                let a = Vector<float32>(m0.Slice i)
                let b = Vector<float32>(m1.Slice i)
                let d10 = vR0 * (a - b)
                let d11 = vR1 * (b - Vector<float32>(m2.Slice i))
                let delta = d10 - d11
                let d1 = d10 + vRs * delta
                let d2 = vIs * delta
                let acc = ((vX * Vector<float32>(x.Slice i) + vC0 * a) + vC1 * d1) + vC2 * d2
                (if hasNoise then acc + vZ * Vector<float32>(z.Slice i) else acc).CopyTo(out.Slice i)
                i <- i + w
            while i < n do
                let d10 = p.InvR0 * (m0[i] - m1[i])
                let d11 = p.InvR1 * (m1[i] - m2[i])
                let delta = d10 - d11
                let d1 = d10 + p.R0OverSum * delta
                let d2 = p.InvSum * delta
                let acc = ((X * x[i] + C0 * m0[i]) + C1 * d1) + C2 * d2
                out[i] <- if hasNoise then acc + Z * z[i] else acc
                i <- i + 1

/// `IDpmTensorOps` over `NdArray`, delegating the common operations to `NdArrayOps`.
[<Sealed>]
type DpmNdArrayOps(mode: ThreefryMode) =
    let inner = NdArrayOps(mode) :> ITensorOps<NdArray, PrngKey>

    /// The operations with JAX's default (partitionable) threefry mode.
    static member Default = DpmNdArrayOps(ThreefryMode.Partitionable)

    interface IDpmFusedOps<NdArray> with
        member _.ApplyUpdate(plan, sample, outputs, noise) =
            let n = sample.Length
            let needed = min plan.Order outputs.Length
            for k in 0 .. needed - 1 do
                NdArray.checkSameShape "sample" sample (sprintf "outputs[%d]" k) outputs[k]
            let z = match noise with ValueSome z -> NdArray.checkSameShape "sample" sample "noise" z; z | ValueNone -> sample
            let at (k: int) = if k < needed then outputs[k] else sample
            let out = GC.AllocateUninitializedArray<float32> n
            let x, m0, m1, m2 = sample.Buffer, (at 0).Buffer, (at 1).Buffer, (at 2).Buffer
            Parallelism.forChunks n (fun o len ->
                DpmKernels.update
                    plan (ReadOnlySpan(x, o, len)) (ReadOnlySpan(m0, o, len)) (ReadOnlySpan(m1, o, len)) (ReadOnlySpan(m2, o, len))
                    noise.IsSome (ReadOnlySpan(z.Buffer, o, len)) (Span(out, o, len)))
            NdArray.own sample.ShapeView out

    interface IDpmTensorOps<NdArray, PrngKey> with
        member _.Shape(x) = inner.Shape x
        member _.Combine(terms) = inner.Combine terms
        member _.Divide(x, d) = inner.Divide(x, d)
        member _.BatchNorms(x) = inner.BatchNorms x
        member _.Norm(x) = inner.Norm x
        member _.Normal(key, like) = inner.Normal(key, like)

        member _.FirstChannels(x, count) =
            let shape = x.Shape
            if shape.Length < 2 || shape[1] < count then
                invalidArg "tensor" (sprintf "model_output has shape %s but at least %d channels on axis 1 are needed" x.ShapeText count)
            let channels = shape[1]
            let plane = if shape.Length = 2 then 1 else Array.fold (*) 1 shape[2..]
            let data = x.Span.ToArray()
            let outShape = Array.copy shape
            outShape[1] <- count
            let out = Array.zeroCreate<float32> (shape[0] * count * plane)
            for b in 0 .. shape[0] - 1 do
                Array.blit data (b * channels * plane) out (b * count * plane) (count * plane)
            NdArray.create outShape out

        member _.Threshold(x, ratio, maxValue) =
            let b = x.BatchSize
            let n = if b = 0 then 0 else x.Length / b
            let values = x.Span.ToArray()
            let out = Array.zeroCreate<float32> values.Length
            for i in 0 .. b - 1 do
                let abs = Array.init n (fun k -> MathF.Abs values[i * n + k])
                let q = Kernels.quantile ratio (ReadOnlySpan abs)
                // torch.clamp(s, min=1, max=m) is min(max(s, 1), m): when m < 1 every s becomes m.
                let s = MathF.Min(MathF.Max(q, 1.0f), maxValue)
                for k in 0 .. n - 1 do
                    out[i * n + k] <- MathF.Min(MathF.Max(values[i * n + k], -s), s) / s
            NdArray.create x.Shape out

/// The DPM-Solver and DPM-Solver++ multistep updates (Lu et al. 2022a, eqs. 3.7–3.8 and Algorithms 1–2;
/// Lu et al. 2022b, eqs. 8–9 and Algorithms 1–2), their SDE variants, written once as scalar plans and applied
/// through `ITensorOps`.
module DpmSolverUpdate =

    /// The VP point of a VE sigma (`_sigma_to_alpha_sigma_t`): α = 1/√(σ² + 1), σ_vp = σ·α; with flow sigmas
    /// α = 1 − σ and σ_vp = σ. float32 as torch computes it.
    let pointOfSigma (useFlow: bool) (sigma: float32) : VpPoint =
        let alpha, s =
            if useFlow then 1.0f - sigma, sigma
            else
                let a = 1.0f / MathF.Sqrt(sigma * sigma + 1.0f)
                a, sigma * a
        { Alpha = alpha; Sigma = s; Lambda = MathF.Log alpha - MathF.Log s }

    /// True when two λ are equal up to float32 rounding (16 ulps of the larger): a step between them has no length,
    /// only rounding (Lu + sigma_min ends with exp(ln σ_min) next to σ_min itself, a few ulps apart), and the
    /// reference's (e^(−h) − 1)/h-style coefficients are 0/0 or rounding noise there.
    let sameLambda (a: float32) (b: float32) =
        a = b || Single.IsFinite a && Single.IsFinite b && MathF.Abs(a - b) <= 16.0f * 1.1920929e-7f * MathF.Max(1.0f, MathF.Max(MathF.Abs a, MathF.Abs b))

    let private empty order =
        { Order = order; SampleCoef = 0.0f; D0Coef = 0.0f; D1Coef = 0.0f; D2Coef = 0.0f; NoiseCoef = 0.0f
          InvR0 = 0.0f; InvR1 = 0.0f; R0OverSum = 0.0f; InvSum = 0.0f }

    /// The scalar plan of an update of `order` from sources `s` (newest first: s0, s1, s2) to target `t`, in the
    /// reference's float32 order of operations. Where diffusers divides 0 by 0 the plan says what it evidently
    /// means: a step of zero length (h = 0 up to rounding, e.g. the repeated last sigma of Karras + sigma_min) leaves the sample
    /// unchanged, and a history entry at the same λ as the next one (repeated timesteps) carries no slope, so the
    /// order drops. Wherever diffusers is finite the coefficients are identical. The flavour chooses the float32
    /// exponential: torch's (the C library's) or XLA:CPU's (`XlaMath.exp`).
    let rec plan (flavour: Flavour) (algorithm: AlgorithmType) (solverType: SolverType) (order: int) (t: VpPoint) (s: VpPoint[]) : DpmUpdatePlan =
        if sameLambda t.Lambda s[0].Lambda then { empty 1 with SampleCoef = 1.0f }
        elif order >= 2 && sameLambda s[0].Lambda s[1].Lambda then plan flavour algorithm solverType 1 t s
        elif order = 3 && sameLambda s[1].Lambda s[2].Lambda then plan flavour algorithm solverType 2 t s
        else planExact flavour algorithm solverType order t s

    /// The plan exactly as diffusers computes it (no guard against zero-length steps).
    and planExact (flavour: Flavour) (algorithm: AlgorithmType) (solverType: SolverType) (order: int) (t: VpPoint) (s: VpPoint[]) : DpmUpdatePlan =
        let exp: float32 -> float32 = if flavour = Flavour.Flax then XlaMath.exp else MathF.Exp
        let s0 = s[0]
        let h = t.Lambda - s0.Lambda
        let em = exp -h
        let ep = exp h
        let e2 = exp (-2.0f * h)
        let ratioSigma = t.Sigma / s0.Sigma
        let ratioAlpha = t.Alpha / s0.Alpha
        let sdePlusNoise = t.Sigma * MathF.Sqrt(1.0f - e2)
        let sdeNoise = t.Sigma * MathF.Sqrt(exp (2.0f * h) - 1.0f)
        match order with
        | 1 ->
            let p = empty 1
            match algorithm with
            | AlgorithmType.DpmSolverPlusPlus -> { p with SampleCoef = ratioSigma; D0Coef = -(t.Alpha * (em - 1.0f)) }
            | AlgorithmType.DpmSolver -> { p with SampleCoef = ratioAlpha; D0Coef = -(t.Sigma * (ep - 1.0f)) }
            | AlgorithmType.SdeDpmSolverPlusPlus ->
                { p with SampleCoef = ratioSigma * em; D0Coef = t.Alpha * (1.0f - e2); NoiseCoef = sdePlusNoise }
            | AlgorithmType.SdeDpmSolver -> { p with SampleCoef = ratioAlpha; D0Coef = -(2.0f * (t.Sigma * (ep - 1.0f))); NoiseCoef = sdeNoise }
        | 2 ->
            let h0 = s0.Lambda - s[1].Lambda
            let r0 = h0 / h
            let p = { empty 2 with InvR0 = 1.0f / r0 }
            let mid =
                match solverType with
                | SolverType.Midpoint -> true
                | SolverType.Heun -> false
            match algorithm with
            | AlgorithmType.DpmSolverPlusPlus ->
                let c0 = t.Alpha * (em - 1.0f)
                { p with
                    SampleCoef = ratioSigma
                    D0Coef = -c0
                    D1Coef = if mid then -(0.5f * c0) else t.Alpha * ((em - 1.0f) / h + 1.0f) }
            | AlgorithmType.DpmSolver ->
                let c0 = t.Sigma * (ep - 1.0f)
                { p with
                    SampleCoef = ratioAlpha
                    D0Coef = -c0
                    D1Coef = if mid then -(0.5f * c0) else -(t.Sigma * ((ep - 1.0f) / h - 1.0f)) }
            | AlgorithmType.SdeDpmSolverPlusPlus ->
                let c0 = t.Alpha * (1.0f - e2)
                { p with
                    SampleCoef = ratioSigma * em
                    D0Coef = c0
                    D1Coef = if mid then 0.5f * c0 else t.Alpha * ((1.0f - e2) / (-2.0f * h) + 1.0f)
                    NoiseCoef = sdePlusNoise }
            | AlgorithmType.SdeDpmSolver ->
                let c0 = t.Sigma * (ep - 1.0f)
                { p with
                    SampleCoef = ratioAlpha
                    D0Coef = -(2.0f * c0)
                    D1Coef = if mid then -c0 else -(2.0f * (t.Sigma * ((ep - 1.0f) / h - 1.0f)))
                    NoiseCoef = sdeNoise }
        | _ ->
            let h0 = s0.Lambda - s[1].Lambda
            let h1 = s[1].Lambda - s[2].Lambda
            let r0 = h0 / h
            let r1 = h1 / h
            let p = { empty 3 with InvR0 = 1.0f / r0; InvR1 = 1.0f / r1; R0OverSum = r0 / (r0 + r1); InvSum = 1.0f / (r0 + r1) }
            match algorithm with
            | AlgorithmType.DpmSolverPlusPlus ->
                { p with
                    SampleCoef = ratioSigma
                    D0Coef = -(t.Alpha * (em - 1.0f))
                    D1Coef = t.Alpha * ((em - 1.0f) / h + 1.0f)
                    D2Coef = -(t.Alpha * ((em - 1.0f + h) / (h * h) - 0.5f)) }
            | AlgorithmType.DpmSolver ->
                { p with
                    SampleCoef = ratioAlpha
                    D0Coef = -(t.Sigma * (ep - 1.0f))
                    D1Coef = -(t.Sigma * ((ep - 1.0f) / h - 1.0f))
                    D2Coef = -(t.Sigma * ((ep - 1.0f - h) / (h * h) - 0.5f)) }
            | AlgorithmType.SdeDpmSolverPlusPlus ->
                let twoH = 2.0f * h
                { p with
                    SampleCoef = ratioSigma * em
                    D0Coef = t.Alpha * (1.0f - e2)
                    D1Coef = t.Alpha * ((1.0f - e2) / (-2.0f * h) + 1.0f)
                    D2Coef = t.Alpha * ((1.0f - e2 - 2.0f * h) / (twoH * twoH) - 0.5f)
                    NoiseCoef = sdePlusNoise }
            | AlgorithmType.SdeDpmSolver -> invalidArg "algorithm_type" "algorithm_type 'sde-dpmsolver' has no third-order update"

    /// Applies a plan to the sample and the converted outputs (newest first: m0, m1, m2), with noise for the SDE
    /// variants. The divided differences are built as diffusers builds them, D1 = (1/r0)·(m0 − m1) etc., each product
    /// and sum rounded separately.
    let applyGeneric (ops: ITensorOps<'T, 'Noise>) (p: DpmUpdatePlan) (sample: 'T) (outputs: 'T[]) (noise: 'T voption) : 'T =
        let diff (a: 'T) (b: 'T) = ops.Combine [| struct (Scalar 1.0f, a); struct (Scalar -1.0f, b) |]
        let scale (c: float32) (x: 'T) = ops.Combine [| struct (Scalar c, x) |]
        let m0 = outputs[0]
        let terms =
            match p.Order with
            | 1 -> [ struct (Scalar p.SampleCoef, sample); struct (Scalar p.D0Coef, m0) ]
            | 2 ->
                let d1 = scale p.InvR0 (diff m0 outputs[1])
                [ struct (Scalar p.SampleCoef, sample); struct (Scalar p.D0Coef, m0); struct (Scalar p.D1Coef, d1) ]
            | _ ->
                let d10 = scale p.InvR0 (diff m0 outputs[1])
                let d11 = scale p.InvR1 (diff outputs[1] outputs[2])
                let delta = diff d10 d11
                let d1 = ops.Combine [| struct (Scalar 1.0f, d10); struct (Scalar p.R0OverSum, delta) |]
                let d2 = scale p.InvSum delta
                [ struct (Scalar p.SampleCoef, sample); struct (Scalar p.D0Coef, m0)
                  struct (Scalar p.D1Coef, d1); struct (Scalar p.D2Coef, d2) ]
        let terms =
            match noise with
            | ValueSome z -> terms @ [ struct (Scalar p.NoiseCoef, z) ]
            | ValueNone -> terms
        ops.Combine(List.toArray terms)

    /// `applyGeneric`, in one pass where the backend offers it (`IDpmFusedOps`; the same bits either way).
    let apply (ops: ITensorOps<'T, 'Noise>) (p: DpmUpdatePlan) (sample: 'T) (outputs: 'T[]) (noise: 'T voption) : 'T =
        match box ops with
        | :? IDpmFusedOps<'T> as fused when outputs.Length >= p.Order -> fused.ApplyUpdate(p, sample, outputs, noise)
        | _ -> applyGeneric ops p sample outputs noise

    /// `convert_model_output`: the data prediction x0 (++ algorithms) or the noise prediction ε (the others) from the
    /// raw model output at the VP point `p` (`sigma` is the raw VE/flow sigma, used by flow_prediction), thresholded
    /// when the config asks.
    let convert (ops: IDpmTensorOps<'T, 'Noise>) (config: DpmSolverConfig) (p: VpPoint) (sigma: float32) (modelOutput: 'T) (sample: 'T) : 'T =
        let combine (terms: struct (Coef * 'T) list) = ops.Combine(List.toArray terms)
        let learned = config.VarianceType.PredictsVariance
        let threshold (x0: 'T) =
            ops.Threshold(x0, float32 config.DynamicThresholdingRatio, float32 config.SampleMaxValue)
        if config.AlgorithmType.IsDataPrediction then
            let x0 =
                match config.PredictionType with
                | PredictionType.Epsilon ->
                    let m = if learned then ops.FirstChannels(modelOutput, 3) else modelOutput
                    ops.Divide(combine [ struct (Scalar 1.0f, sample); struct (Scalar -p.Sigma, m) ], Scalar p.Alpha)
                | PredictionType.Sample -> modelOutput
                | PredictionType.VPrediction -> combine [ struct (Scalar p.Alpha, sample); struct (Scalar -p.Sigma, modelOutput) ]
                | PredictionType.FlowPrediction -> combine [ struct (Scalar 1.0f, sample); struct (Scalar -sigma, modelOutput) ]
            if config.Thresholding then threshold x0 else x0
        else
            let eps =
                match config.PredictionType with
                | PredictionType.Epsilon -> if learned then ops.FirstChannels(modelOutput, 3) else modelOutput
                | PredictionType.Sample ->
                    ops.Divide(combine [ struct (Scalar 1.0f, sample); struct (Scalar -p.Alpha, modelOutput) ], Scalar p.Sigma)
                | PredictionType.VPrediction -> combine [ struct (Scalar p.Alpha, modelOutput); struct (Scalar p.Sigma, sample) ]
                | PredictionType.FlowPrediction ->
                    invalidArg "prediction_type" (sprintf "prediction_type 'flow_prediction' is not supported by algorithm_type '%s'" config.AlgorithmType.Text)
            if config.Thresholding then
                let x0 = ops.Divide(combine [ struct (Scalar 1.0f, sample); struct (Scalar -p.Sigma, eps) ], Scalar p.Alpha)
                let x0 = threshold x0
                ops.Divide(combine [ struct (Scalar 1.0f, sample); struct (Scalar -p.Alpha, x0) ], Scalar p.Sigma)
            else eps
