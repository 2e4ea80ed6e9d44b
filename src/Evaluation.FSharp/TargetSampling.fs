namespace Schedulers.Evaluation

open System
open Schedulers.Core

/// The core's array operations with a noise source that draws a whole array at a time: `draw source shape` returns
/// the values (a torch stream shared by every step, as diffusers' loops share one `torch.Generator`, or one JAX key
/// per batch row: `PerSampleOps`). Noise is drawn before a pass, never inside it. Everything else is
/// `NdArrayBackend`'s.
[<Sealed>]
type StreamOps<'N>(draw: 'N -> int[] -> float32[]) =
    static let inner = NdArrayBackend.Default :> IBackend<NdArray, PrngKey>

    interface IBackend<NdArray, 'N> with
        member _.Shape(x) = inner.Shape x
        member _.Combine(terms) = inner.Combine terms
        member _.Divide(x, d) = inner.Divide(x, d)
        member _.BatchNorms(x) = inner.BatchNorms x
        member _.Norm(x) = inner.Norm x
        member _.Normal(source, like) = NdArray.own (Array.copy like.Shape) (draw source like.Shape)
        member _.FirstChannels(x, count) = inner.FirstChannels(x, count)
        member _.LastChannels(x, count) = inner.LastChannels(x, count)
        member _.LearnedVarianceNoise(v, bounds, z) = inner.LearnedVarianceNoise(v, bounds, z)
        member _.Threshold(x, ratio, maxValue) = inner.Threshold(x, ratio, maxValue)
        member _.Clamp(x, lo, hi) = inner.Clamp(x, lo, hi)
        member _.Release(x) = inner.Release x
        member _.TryCombineThenAdd(terms, scale, z) = inner.TryCombineThenAdd(terms, scale, z)
        member _.TryCombineWithNoise(_, _, _) = ValueNone
        member _.TryChurn(sNoise, scale, sample, z) = inner.TryChurn(sNoise, scale, sample, z)
        member _.TryChurnWithNoise(_, _, _, _) = ValueNone
        member _.TryKarrasEuler(plan, sampleHat, modelOutput) = inner.TryKarrasEuler(plan, sampleHat, modelOutput)
        member _.TryKarrasHeun(plan, sampleHat, samplePrev, modelOutput, derivative) =
            inner.TryKarrasHeun(plan, sampleHat, samplePrev, modelOutput, derivative)
        member _.TryDpmUpdate(plan, sample, outputs, noise) = inner.TryDpmUpdate(plan, sample, outputs, noise)
        // Normals come from the whole-array draw (`Normal`), not tile by tile: programs that draw go op by op.
        member _.TryRun(program, inputs, _) = if program.NoiseSlots > 0 then ValueNone else inner.TryRun(program, inputs, [||])

/// One JAX key per batch row as the noise source: a normal draw fills row b from key b alone, so a sample's noise
/// never depends on the batch it shares.
[<AbstractClass; Sealed>]
type PerSampleOps =

    /// The values of an array of `shape` ([B, ...]) whose row b is `normal(keys[b], [1, ...])`.
    static member private RowValues (keys: PrngKey[]) (shape: int[]) : float32[] =
        if shape.Length < 1 || shape[0] <> keys.Length then
            invalidArg "keys" (sprintf "noise has %d keys but the sample has shape [%s]" keys.Length (String.Join(",", shape)))
        let rowShape = Array.copy shape
        rowShape[0] <- 1
        let inner = Prng.elementCount rowShape
        let data = Array.zeroCreate<float32> (keys.Length * inner)
        keys |> Array.iteri (fun b k -> (Prng.normal rowShape k).CopyTo(data, b * inner))
        data

    /// An array of `shape` ([B, ...]) whose row b is `normal(keys[b], [1, ...])`.
    static member Rows (keys: PrngKey[]) (shape: int[]) : NdArray = NdArray.own (Array.copy shape) (PerSampleOps.RowValues keys shape)

    /// The operations (they hold no state).
    static member val Default = StreamOps<PrngKey[]>(fun keys shape -> PerSampleOps.RowValues keys shape)

/// How a batch's noise is drawn: the operations whose `Normal` draws from a source, the initial noise, the source the
/// loop starts with, and how each kind of loop advances it (JAX keys split; a shared torch stream returns itself).
type NoisePlan<'N> =
    { /// The array operations, `Normal` included.
      Ops: IBackend<NdArray, 'N>
      /// The initial noise, shape [count; D] (scaled by the scheduler's init_noise_sigma).
      Initial: NdArray
      /// The source the loop carries.
      Source: 'N
      /// Loops that draw a fresh normal per step (torch DPM-Solver SDE, DDPM, Euler's churn).
      PerStep: NoiseStream<'N>
      /// KarrasVe's churn chain.
      Karras: NoiseStream<'N>
      /// ScoreSdeVe's predictor–corrector chain.
      PredictorCorrector: NoiseStream<'N> }

/// A scheduler with its config, as the target sampler runs it.
type TargetSampler =
    /// DPMSolverMultistep: the Flax loop when the config has only Flax options, else the torch-flavour loop.
    | DpmSolverSampler of dpm: DpmSolverConfig
    /// KarrasVe's stochastic sampler (Flax flavour).
    | KarrasVeSampler of karras: KarrasVeConfig
    /// ScoreSdeVe's predictor–corrector sampler (Flax flavour).
    | ScoreSdeVeSampler of sdeVe: ScoreSdeVeConfig
    /// The deterministic EDM sampler (Karras et al. 2022, Algorithm 1: Heun on the ρ-schedule).
    | EdmHeunSampler of heun: EdmHeunConfig
    /// DDIM, deterministic (η = 0), torch flavour.
    | DdimSampler of ddim: DdimConfig
    /// DDPM's ancestral sampler, torch flavour.
    | DdpmSampler of ddpm: DdpmConfig
    /// PNDM (Runge–Kutta warm-up unless skipped, then linear multistep), torch flavour.
    | PndmSampler of pndm: PndmConfig
    /// LMS (linear multistep on the VE sigmas), torch flavour.
    | LmsSampler of lms: LmsConfig
    /// Euler on the VE sigmas, torch flavour.
    | EulerSampler of euler: EulerConfig

/// The model outputs the sampling loops ask for, one function per scheduler family: the exact ones of a target
/// (`TargetSampling.exactModel`) or a trained network's, converted (`ModelConversion`).
type SamplingModel =
    { /// The VP schedulers (DPM-Solver, DDIM): the given prediction type at VP point (α, σ) and timestep t, for the
      /// batch x.
      Vp: PredictionType -> float32 -> float32 -> float32 -> NdArray -> NdArray
      /// KarrasVe: the output o with D(x; σ) = x + σ·o at (x, σ).
      Karras: NdArray -> float -> NdArray
      /// ScoreSdeVe: the VE score ∇ log p_σ(x) at (x, σ).
      VeScore: NdArray -> float32 -> NdArray }

/// Sampling a `GaussianMixture` target with a scheduler's own loop and the model output it expects, computed exactly
/// from the target (ε/x0/v for DPM-Solver at the step's VP α and σ, the EDM denoiser for KarrasVe, the VE score for
/// ScoreSdeVe). Every sample g has its own key `Prng.foldIn (uint32 g) key`, split into the key of its initial
/// noise and the key its loop carries, so sample g is the same bits whatever batch it runs in.
module TargetSampling =

    /// The key of global sample `index`.
    let sampleKey (key: PrngKey) (index: int) : PrngKey = Prng.foldIn (uint32 index) key

    /// True when the DPM-Solver config runs in the Flax flavour (no SDE variant, no torch-only sigma options):
    /// `DpmSolverConfig.runsFlax`.
    let dpmRunsFlax (config: DpmSolverConfig) : bool = DpmSolverConfig.runsFlax config

    /// The number of model evaluations (NFE) a run of `steps` steps makes: one per step for DPM-Solver, two per step
    /// but the last for KarrasVe and EdmHeun (Heun's correction), (1 + correct_steps) per step for ScoreSdeVe.
    let nfe (sampler: TargetSampler) (steps: int) : int =
        match sampler with
        | DpmSolverSampler _ -> steps
        | KarrasVeSampler _ -> max 0 (2 * steps - 1)
        | ScoreSdeVeSampler c -> steps * (1 + c.CorrectSteps)
        | EdmHeunSampler _ -> EdmHeun.nfe steps
        | DdimSampler _ -> steps
        | DdpmSampler c -> (Ddpm.scheduler<NdArray> c).Evaluations steps
        | PndmSampler c -> (Pndm.scheduler<NdArray> c).Evaluations steps
        | LmsSampler c -> (Lms.scheduler<NdArray> c).Evaluations steps
        | EulerSampler c -> (Euler.scheduler<NdArray> c).Evaluations steps

    /// A VP scheduler's model output of the prediction type at VP point (α, σ), exact for the target.
    let vpModelOutput (prediction: PredictionType) (target: GaussianMixture) (alpha: float32) (sigma: float32) (x: NdArray) : NdArray =
        let a = float alpha
        let s = float sigma
        match prediction with
        | PredictionType.Sample -> Targets.vpX0 target a s x
        | PredictionType.VPrediction -> Targets.vpV target a s x
        // Flow matching: x_t = (1 − σ)·x0 + σ·ε, the model predicts ε − x0.
        | PredictionType.FlowPrediction -> NdArray.sub (Targets.vpEpsilon target a s x) (Targets.vpX0 target a s x)
        | PredictionType.Epsilon -> Targets.vpEpsilon target a s x

    /// KarrasVe's model output at (x, σ): D(x; σ) = x + σ·output, so output = (D − x)/σ with the EDM denoiser D.
    let karrasModelOutput (target: GaussianMixture) (x: NdArray) (sigma: float) : NdArray =
        let d = Targets.edmDenoiser target sigma x
        let s = float32 sigma
        NdArray.map2 (fun dv xv -> (dv - xv) / s) d x

    /// The exact model outputs of a target.
    let exactModel (target: GaussianMixture) : SamplingModel =
        { Vp = fun prediction alpha sigma _ x -> vpModelOutput prediction target alpha sigma x
          Karras = karrasModelOutput target
          VeScore = fun x sigma -> Targets.veScore target (float sigma) x }

    let private splitEach (f: PrngKey -> struct (PrngKey * PrngKey)) (keys: PrngKey[]) : struct (PrngKey[] * PrngKey[]) =
        let pairs = keys |> Array.map f
        struct (pairs |> Array.map (fun struct (c, _) -> c), pairs |> Array.map (fun struct (_, d) -> d))

    let private plainSplit (key: PrngKey) : struct (PrngKey * PrngKey) =
        let ks = Prng.split 2 key
        struct (ks[0], ks[1])

    /// Runs one batch (the rows of `plan.Initial`) of the sampler's loop fed `model`'s outputs, with the plan's noise.
    let runPlanned (model: SamplingModel) (sampler: TargetSampler) (target: GaussianMixture) (steps: int) (plan: NoisePlan<'N>) (onStep: int -> unit) : NdArray =
        if steps < 1 then invalidArg "steps" (sprintf "steps is %d but must be at least 1" steps)
        let d = target.Dimension
        if plan.Initial.Shape.Length <> 2 || plan.Initial.Shape[1] <> d then
            invalidArg "plan" (sprintf "the initial noise has shape [%s] but the target needs [count, %d]" (String.Join(",", plan.Initial.Shape)) d)
        let count = plan.Initial.Shape[0]
        let ops = plan.Ops
        let noise = plan.Initial
        let carried = plan.Source
        let vpOutput (prediction: PredictionType) (x: NdArray) (q: ModelQuery) =
            let alpha = 1.0 / sqrt (q.Sigma * q.Sigma + 1.0)
            model.Vp prediction (float32 alpha) (float32 (q.Sigma * alpha)) (float32 q.Timestep) x
        // Every family runs through the one loop (`Loop.run`); what differs is its scheduler object, the exact
        // model output it expects, and how its noise keys advance.
        let run (scheduler: IScheduler<'S, NdArray, 'O>) (state: 'S) (output: NdArray -> ModelQuery -> NdArray) (stream: NoiseStream<'N>) =
            let ready = scheduler.SetTimesteps(steps, [| count; d |], state)
            let x0 = NdArray.scale (float32 (scheduler.InitNoiseSigma ready)) noise
            (Loop.run scheduler ops output stream carried (fun _ -> onStep count) ready x0).Sample
        match sampler with
        | DpmSolverSampler config when dpmRunsFlax config ->
            let scheduler = DpmSolverMultistepFlax.scheduler config
            let state = scheduler.Create Flavour.Flax
            let tables = state.Tables
            let output (x: NdArray) (q: ModelQuery) =
                let t = int q.Timestep
                model.Vp state.Config.PredictionType tables.AlphaT[t] tables.SigmaT[t] (float32 t) x
            run scheduler state output Loop.shared
        | DpmSolverSampler config ->
            let scheduler = DpmSolverMultistep.scheduler<NdArray> config
            let state = scheduler.Create Flavour.Torch
            // The model is evaluated at the VP point of the step's sigma (`DpmSolverMultistep.pointAt`).
            let output (x: NdArray) (q: ModelQuery) =
                let p = DpmSolverUpdate.pointOfSigma state.Config.UseFlowSigmas (float32 q.Sigma)
                model.Vp state.Config.PredictionType p.Alpha p.Sigma (float32 q.Timestep) x
            run scheduler state output plan.PerStep
        | KarrasVeSampler config ->
            let scheduler = KarrasVe.scheduler<NdArray> config
            run scheduler (scheduler.Create Flavour.Flax) (fun x q -> model.Karras x q.Sigma) plan.Karras
        | ScoreSdeVeSampler config ->
            let scheduler = ScoreSdeVe.scheduler<NdArray> config
            run scheduler (scheduler.Create Flavour.Flax) (fun x q -> model.VeScore x (float32 q.Sigma)) plan.PredictorCorrector
        | EdmHeunSampler config ->
            // The model gives KarrasVe's output o with D(x; σ) = x + σ·o (the target's EDM denoiser when exact).
            let denoiser (x: NdArray) (q: ModelQuery) =
                let o = model.Karras x q.Sigma
                Backend.lin ops [ 1.0f, x; float32 q.Sigma, o ]
            let scheduler = EdmHeun.scheduler<NdArray> config
            run scheduler (scheduler.Create Flavour.Torch) denoiser Loop.shared
        | DdimSampler config ->
            let scheduler = Ddim.scheduler<NdArray> config
            let state = scheduler.Create Flavour.Torch
            // The model is evaluated at the VP point (√ᾱ_t, √(1 − ᾱ_t)) of the step's timestep.
            let output (x: NdArray) (q: ModelQuery) =
                let a = state.Common.AlphasCumprod[int q.Timestep]
                model.Vp state.Config.PredictionType (MathF.Sqrt a) (MathF.Sqrt(1.0f - a)) (float32 q.Timestep) x
            run scheduler state output Loop.shared
        // The rest of the family gives its model the VP sample x_t and its VE σ; the VP point is α = 1/√(σ² + 1),
        // σ_vp = σ·α.
        | DdpmSampler config ->
            let scheduler = Ddpm.scheduler<NdArray> config
            run scheduler (scheduler.Create Flavour.Torch) (vpOutput config.PredictionType) plan.PerStep
        | PndmSampler config ->
            let scheduler = Pndm.scheduler<NdArray> config
            run scheduler (scheduler.Create Flavour.Torch) (vpOutput config.PredictionType) Loop.shared
        | LmsSampler config ->
            let scheduler = Lms.scheduler<NdArray> config
            run scheduler (scheduler.Create Flavour.Torch) (vpOutput config.PredictionType) Loop.shared
        | EulerSampler config ->
            let scheduler = Euler.scheduler<NdArray> config
            run scheduler (scheduler.Create Flavour.Torch) (vpOutput config.PredictionType) plan.PerStep

    /// Samples `start` … `start + count − 1` (shape [count; D]) as one batch of the sampler's loop fed `model`'s
    /// outputs (the quality of the samples is still the target's business: it only sets D). `onStep n` is
    /// called after every loop step with the number of samples that step advanced (for progress).
    let runBatchWith (model: SamplingModel) (sampler: TargetSampler) (target: GaussianMixture) (steps: int) (key: PrngKey) (start: int) (count: int) (onStep: int -> unit) : NdArray =
        if steps < 1 then invalidArg "steps" (sprintf "steps is %d but must be at least 1" steps)
        if start < 0 then invalidArg "start" (sprintf "start is %d but must be non-negative" start)
        if count < 1 then invalidArg "count" (sprintf "count is %d but must be at least 1" count)
        let d = target.Dimension
        // As the Flax pipelines do: `key, sub = split(key)`, the initial noise from sub, the loop carries key.
        let roots = Array.init count (fun i -> Prng.split 2 (sampleKey key (start + i)))
        let plan =
            { Ops = PerSampleOps.Default :> IBackend<NdArray, PrngKey[]>
              Initial = PerSampleOps.Rows (roots |> Array.map (fun ks -> ks[1])) [| count; d |]
              Source = roots |> Array.map (fun ks -> ks[0])
              PerStep = splitEach plainSplit
              Karras = splitEach KarrasStochastic.flaxKeyChain
              PredictorCorrector = splitEach PredictorCorrector.nextKey }
        runPlanned model sampler target steps plan onStep

    /// `runBatchWith` with the target's exact model outputs.
    let runBatch (sampler: TargetSampler) (target: GaussianMixture) (steps: int) (key: PrngKey) (start: int) (count: int) (onStep: int -> unit) : NdArray =
        runBatchWith (exactModel target) sampler target steps key start count onStep

    /// The number of consecutive global samples the ScoreSdeVe corrector treats as one batch.
    [<Literal>]
    let CorrectorGroup = 256

    /// The granularity of a sampler's batches: ScoreSdeVe's corrector takes its step size from norms over the whole
    /// batch (diffusers: the norm of the whole tensor in Flax, the batch mean of per-sample norms in torch), which
    /// ties a sample to its batch-mates; so its batches are fixed groups of `CorrectorGroup` global indices
    /// [k·G, (k+1)·G). Other samplers treat every sample on its own (alignment 1).
    let alignment (sampler: TargetSampler) : int =
        match sampler with
        | ScoreSdeVeSampler _ -> CorrectorGroup
        | _ -> 1

    /// Samples `start` … `start + count − 1` (shape [count; D]) with `model`'s outputs so that each sample depends
    /// only on the key, its
    /// index and the sampler: the range is widened to whole groups of `alignment sampler` indices, each group runs
    /// as one batch (`runBatch`), and the rows asked for are kept. `onStep n` is called after every loop step with
    /// the number of samples it advanced.
    let runWith (model: SamplingModel) (sampler: TargetSampler) (target: GaussianMixture) (steps: int) (key: PrngKey) (start: int) (count: int) (onStep: int -> unit) : NdArray =
        if start < 0 then invalidArg "start" (sprintf "start is %d but must be non-negative" start)
        if count < 1 then invalidArg "count" (sprintf "count is %d but must be at least 1" count)
        let g = alignment sampler
        if g = 1 then
            runBatchWith model sampler target steps key start count onStep
        else
            let d = target.Dimension
            let first = start / g
            let last = (start + count - 1) / g
            let out = Array.zeroCreate<float32> (count * d)
            for group in first .. last do
                let lo = group * g
                let rows = runBatchWith model sampler target steps key lo g (fun n -> onStep (n * count / (g * (last - first + 1))))
                let keepFrom = max lo start
                let keepTo = min (lo + g) (start + count)
                rows.Span.Slice((keepFrom - lo) * d, (keepTo - keepFrom) * d).CopyTo(Span(out, (keepFrom - start) * d, (keepTo - keepFrom) * d))
            NdArray.own [| count; d |] out

    /// `runWith` with the target's exact model outputs.
    let run (sampler: TargetSampler) (target: GaussianMixture) (steps: int) (key: PrngKey) (start: int) (count: int) (onStep: int -> unit) : NdArray =
        runWith (exactModel target) sampler target steps key start count onStep
