namespace Schedulers.Core

open System

/// One point of the VP noise schedule: α, σ (the VP σ, not the VE sigma) and λ = ln α − ln σ.
[<Struct>]
type VpPoint =
    { /// α_t = √ᾱ_t.
      Alpha: float32
      /// σ_t = √(1 − ᾱ_t).
      Sigma: float32
      /// λ_t = ln α_t − ln σ_t (half the log-SNR).
      Lambda: float32 }

/// The DPM-Solver and DPM-Solver++ multistep updates (Lu et al. 2022a, eqs. 3.7–3.8 and Algorithms 1–2;
/// Lu et al. 2022b, eqs. 8–9 and Algorithms 1–2), their SDE variants, written once as scalar plans and applied
/// through `IBackend`.
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
        let exp = flavour.Exp
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

    /// A plan's update as program instructions over the sample, the converted outputs (newest first: m0, m1, m2) and
    /// the noise of the SDE variants. The divided differences are built as diffusers builds them,
    /// D1 = (1/r0)·(m0 − m1) etc., each product and sum rounded separately.
    let applyInto (b: ProgramBuilder) (p: DpmUpdatePlan) (sample: Reg) (outputs: Reg[]) (noise: Reg voption) : Reg =
        let diff (a: Reg) (c: Reg) = b.Lin [ 1.0f, a; -1.0f, c ]
        let m0 = outputs[0]
        let terms =
            match p.Order with
            | 1 -> [ p.SampleCoef, sample; p.D0Coef, m0 ]
            | 2 ->
                let d1 = b.Lin [ p.InvR0, diff m0 outputs[1] ]
                [ p.SampleCoef, sample; p.D0Coef, m0; p.D1Coef, d1 ]
            | _ ->
                let d10 = b.Lin [ p.InvR0, diff m0 outputs[1] ]
                let d11 = b.Lin [ p.InvR1, diff outputs[1] outputs[2] ]
                let delta = diff d10 d11
                let d1 = b.Lin [ 1.0f, d10; p.R0OverSum, delta ]
                let d2 = b.Lin [ p.InvSum, delta ]
                [ p.SampleCoef, sample; p.D0Coef, m0; p.D1Coef, d1; p.D2Coef, d2 ]
        match noise with
        | ValueSome z -> b.Lin(terms @ [ p.NoiseCoef, z ])
        | ValueNone -> b.Lin terms

    /// Applies a plan to the sample and the converted outputs (newest first) with noise for the SDE variants: the
    /// program of `applyInto`, run by `Backend.run` (one tiled pass where the backend runs programs, else op by op).
    let applyGeneric (ops: IBackend<'T, 'Noise>) (p: DpmUpdatePlan) (sample: 'T) (outputs: 'T[]) (noise: 'T voption) : 'T =
        let b = ProgramBuilder(1 + p.Order + (if noise.IsSome then 1 else 0))
        let prev = applyInto b p (b.Input 0) (Array.init p.Order (fun k -> b.Input(1 + k))) (if noise.IsSome then ValueSome(b.Input(1 + p.Order)) else ValueNone)
        let inputs = Array.concat [ [| sample |]; outputs[.. p.Order - 1]; noise |> ValueOption.toArray ]
        (Backend.run ops (b.Build [ prev ]) inputs)[0]

    /// `applyGeneric`, in one pass where the backend offers it (`IDpmFusedOps`; the same bits either way).
    let apply (ops: IBackend<'T, 'Noise>) (p: DpmUpdatePlan) (sample: 'T) (outputs: 'T[]) (noise: 'T voption) : 'T =
        match ops.TryDpmUpdate(p, sample, outputs, noise) with
        | ValueSome updated -> updated
        | ValueNone -> applyGeneric ops p sample outputs noise

    /// `convert_model_output` as program instructions over the model output `m` and the sample `x`, when it is
    /// elementwise: not with thresholding (its quantile needs the whole x0) nor a learned variance (a channel split);
    /// ValueNone then, and `convert` runs it.
    let convertInto (b: ProgramBuilder) (config: DpmSolverConfig) (p: VpPoint) (sigma: float32) (m: Reg) (x: Reg) : Reg voption =
        if config.Thresholding || config.VarianceType.PredictsVariance then ValueNone
        elif config.AlgorithmType.IsDataPrediction then
            match config.PredictionType with
            | PredictionType.Epsilon -> ValueSome(b.Lin [ 1.0f, x; -p.Sigma, m ] |> b.Div p.Alpha)
            | PredictionType.Sample -> ValueSome m
            | PredictionType.VPrediction -> ValueSome(b.Lin [ p.Alpha, x; -p.Sigma, m ])
            | PredictionType.FlowPrediction -> ValueSome(b.Lin [ 1.0f, x; -sigma, m ])
        else
            match config.PredictionType with
            | PredictionType.Epsilon -> ValueSome m
            | PredictionType.Sample -> ValueSome(b.Lin [ 1.0f, x; -p.Alpha, m ] |> b.Div p.Sigma)
            | PredictionType.VPrediction -> ValueSome(b.Lin [ p.Alpha, m; p.Sigma, x ])
            | PredictionType.FlowPrediction -> ValueNone

    /// `convert_model_output`: the data prediction x0 (++ algorithms) or the noise prediction ε (the others) from the
    /// raw model output at the VP point `p` (`sigma` is the raw VE/flow sigma, used by flow_prediction), thresholded
    /// when the config asks.
    let convert (ops: IBackend<'T, 'Noise>) (config: DpmSolverConfig) (p: VpPoint) (sigma: float32) (modelOutput: 'T) (sample: 'T) : 'T =
        let combine (terms: struct (Coef * 'T) list) = ops.Combine(List.toArray terms)
        // Releases a temporary made here (never the caller's model output or sample).
        let drop (x: 'T) =
            if not (obj.ReferenceEquals(x, modelOutput)) && not (obj.ReferenceEquals(x, sample)) then ops.Release x
        let quotient (terms: struct (Coef * 'T) list) (divisor: float32) =
            let numerator = combine terms
            let q = ops.Divide(numerator, Scalar divisor)
            drop numerator
            q
        let learned = config.VarianceType.PredictsVariance
        let threshold (x0: 'T) =
            let clipped = ops.Threshold(x0, float32 config.DynamicThresholdingRatio, float32 config.SampleMaxValue)
            drop x0
            clipped
        if config.AlgorithmType.IsDataPrediction then
            let x0 =
                match config.PredictionType with
                | PredictionType.Epsilon ->
                    let m = if learned then ops.FirstChannels(modelOutput, 3) else modelOutput
                    let x0 = quotient [ struct (Scalar 1.0f, sample); struct (Scalar -p.Sigma, m) ] p.Alpha
                    drop m
                    x0
                | PredictionType.Sample -> modelOutput
                | PredictionType.VPrediction -> combine [ struct (Scalar p.Alpha, sample); struct (Scalar -p.Sigma, modelOutput) ]
                | PredictionType.FlowPrediction -> combine [ struct (Scalar 1.0f, sample); struct (Scalar -sigma, modelOutput) ]
            if config.Thresholding then threshold x0 else x0
        else
            let eps =
                match config.PredictionType with
                | PredictionType.Epsilon -> if learned then ops.FirstChannels(modelOutput, 3) else modelOutput
                | PredictionType.Sample -> quotient [ struct (Scalar 1.0f, sample); struct (Scalar -p.Alpha, modelOutput) ] p.Sigma
                | PredictionType.VPrediction -> combine [ struct (Scalar p.Alpha, modelOutput); struct (Scalar p.Sigma, sample) ]
                | PredictionType.FlowPrediction ->
                    invalidArg "prediction_type" (sprintf "prediction_type 'flow_prediction' is not supported by algorithm_type '%s'" config.AlgorithmType.Text)
            if config.Thresholding then
                let x0 = quotient [ struct (Scalar 1.0f, sample); struct (Scalar -p.Sigma, eps) ] p.Alpha |> threshold
                let result = quotient [ struct (Scalar 1.0f, sample); struct (Scalar -p.Alpha, x0) ] p.Sigma
                drop x0
                drop eps
                result
            else eps
