namespace Schedulers.Evaluation

open System
open Schedulers.Core

/// What a network's output means.
type ModelOutputKind =
    /// The score ∇ log p(x) of the noised data at the network's noise level.
    | Score
    /// The noise ε of x = α·x0 + σ·ε.
    | Epsilon
    /// The clean sample x0 (the denoiser D).
    | X0
    /// v = α·ε − σ·x0 (Salimans & Ho 2022, eq. (4); α = 1 for a VE network).
    | V

/// What a network is conditioned on.
type ModelInputKind =
    /// A VE network: input x = x0 + σ·ε and the noise level σ.
    | Sigma
    /// A VP network on DPM-Solver's discrete schedule: input x_t = α_t·x0 + σ_t·ε and the timestep t (0 … 999).
    | Timestep

/// Turns a network `f(x [B,D], c [B]) → [B,D]` with a known output meaning into the outputs every scheduler family
/// expects (`SamplingModel`). Everything goes through ε: a point x = α·x0 + σ·ε (α = 1 in VE) has
/// score −ε/σ, x0 = (x − σ·ε)/α and v = α·ε − σ·x0, so ε = −σ·score = (x − α·x0)/σ = (α·v + σ·x)/(α² + σ²).
/// A VE network is evaluated for a VP point (α, σ_vp) at the VE point x/α, σ_vp/α, which has the same ε
/// (x_vp/α = x0 + (σ_vp/α)·ε). The arithmetic is in float64, rounded once to float32.
module ModelConversion =

    /// The command-line name of an output meaning (`score`, `epsilon`, `x0`, `v`).
    let outputName (kind: ModelOutputKind) : string =
        match kind with
        | Score -> "score"
        | Epsilon -> "epsilon"
        | X0 -> "x0"
        | V -> "v"

    /// The output meaning of a command-line name; throws naming the value otherwise.
    let parseOutput (name: string) : ModelOutputKind =
        match name.ToLowerInvariant() with
        | "score" -> Score
        | "epsilon" | "eps" -> Epsilon
        | "x0" | "sample" -> X0
        | "v" | "v_prediction" -> V
        | _ -> invalidArg "name" (sprintf "model output is '%s' but must be one of score, epsilon, x0, v" name)

    /// The input meaning of a command-line name (`sigma`, `t`); throws naming the value otherwise.
    let parseInput (name: string) : ModelInputKind =
        match name.ToLowerInvariant() with
        | "sigma" -> Sigma
        | "t" | "timestep" -> Timestep
        | _ -> invalidArg "name" (sprintf "model input is '%s' but must be sigma or t" name)

    let private elementwise (x: NdArray) (out: NdArray) (f: float -> float -> float) : NdArray =
        NdArray.checkSameShape "x" x "model output" out
        NdArray.map2 (fun xv ov -> float32 (f (float xv) (float ov))) x out

    /// ε of the point x = α·x0 + σ·ε from a network output of the given meaning.
    let epsilon (kind: ModelOutputKind) (alpha: float) (sigma: float) (x: NdArray) (out: NdArray) : NdArray =
        match kind with
        | Epsilon -> out
        | Score -> elementwise x out (fun _ s -> -sigma * s)
        | X0 -> elementwise x out (fun xv d -> (xv - alpha * d) / sigma)
        | V -> elementwise x out (fun xv v -> (alpha * v + sigma * xv) / (alpha * alpha + sigma * sigma))

    /// A DPM-Solver prediction (`epsilon`, `sample`, `v_prediction`, `flow_prediction`) at VP point (α, σ) from ε.
    let dpmOutput (predictionType: PredictionType) (alpha: float) (sigma: float) (x: NdArray) (eps: NdArray) : NdArray =
        let x0 xv e = (xv - sigma * e) / alpha
        match predictionType with
        | PredictionType.Sample -> elementwise x eps x0
        | PredictionType.VPrediction -> elementwise x eps (fun xv e -> alpha * e - sigma * x0 xv e)
        | PredictionType.FlowPrediction -> elementwise x eps (fun xv e -> e - x0 xv e)
        | PredictionType.Epsilon -> eps

    /// The sampling model of a network: `network x c` with c the per-row σ (VE) or timestep (VP), whose output
    /// has meaning `output`. A timestep network serves only DPM-Solver (the VE schedulers have no timestep grid
    /// of the VP schedule); asking the VE families of it throws.
    let fromNetwork (network: NdArray -> float32[] -> NdArray) (output: ModelOutputKind) (input: ModelInputKind) : SamplingModel =
        let rows (x: NdArray) (c: float32) = Array.create x.BatchSize c
        let veEpsilon (x: NdArray) (sigma: float) = epsilon output 1.0 sigma x (network x (rows x (float32 sigma)))
        let veOnly name =
            if input = Timestep then
                invalidArg "input" (sprintf "a timestep (t) network serves only the dpm scheduler, not %s; use a σ network (--model-input sigma)" name)
        { Vp =
            fun prediction alpha sigma t x ->
                let a = float alpha
                let s = float sigma
                let eps =
                    match input with
                    | Sigma ->
                        let xVe = NdArray.scale (float32 (1.0 / a)) x
                        epsilon output 1.0 (s / a) xVe (network xVe (rows x (float32 (s / a))))
                    | Timestep -> epsilon output a s x (network x (rows x t))
                dpmOutput prediction a s x eps
          Karras =
            fun x sigma ->
                veOnly "karras"
                // D = x − σ·ε, so the scheduler's output (D − x)/σ is −ε.
                NdArray.map (fun e -> -e) (veEpsilon x sigma)
          VeScore =
            fun x sigma ->
                veOnly "sde-ve"
                let s = float sigma
                elementwise x (veEpsilon x s) (fun _ e -> -e / s) }
