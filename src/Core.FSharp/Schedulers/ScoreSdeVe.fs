namespace Schedulers.Core

open System

/// The configuration of the variance-exploding SDE scheduler, with diffusers' `scheduler_config.json` keys
/// (`ScoreSdeVeScheduler` / `FlaxScoreSdeVeScheduler`, spec §2.1).
type ScoreSdeVeConfig =
    { /// `num_train_timesteps`: the length of the schedule built at creation (and `len(scheduler)`).
      NumTrainTimesteps: int
      /// `snr`: the target signal-to-noise ratio of the Langevin corrector.
      Snr: float
      /// `sigma_min`: the smallest noise level.
      SigmaMin: float
      /// `sigma_max`: the largest noise level, also the initial noise scale.
      SigmaMax: float
      /// `sampling_eps`: the final continuous time (time runs from 1 down to it).
      SamplingEps: float
      /// `correct_steps`: corrector iterations per step (read by the sampling loop only).
      CorrectSteps: int }

/// The scheduler state (diffusers' `ScoreSdeVeSchedulerState`): `None` where diffusers holds `None`.
/// Never changed in place; every function returns a new state.
type ScoreSdeVeState =
    { /// Which reference's rounding and norms the schedule and the steps follow.
      Flavour: Flavour
      /// `timesteps`: the continuous times, from 1 down to `sampling_eps`.
      Timesteps: float32[] option
      /// `discrete_sigmas`: the geometric noise levels from `sigma_min` up to `sigma_max`, indexed by the predictor.
      DiscreteSigmas: float32[] option
      /// `sigmas`: `sigma_min·(sigma_max/sigma_min)^t` for every current timestep t (what the model is given).
      Sigmas: float32[] option }

/// The result of a predictor or corrector step (diffusers' `SdeVeOutput` / `FlaxSdeVeOutput`).
type ScoreSdeVeOutput<'T> =
    { /// The state after the step (the steps do not change it; it is returned as Flax does).
      State: ScoreSdeVeState
      /// `prev_sample`: the sample after the step, noise included.
      PrevSample: 'T
      /// `prev_sample_mean`: the sample before the noise is added; `None` for the corrector, as in diffusers.
      PrevSampleMean: 'T option }

/// The per-step scalars of the reverse-diffusion predictor (Song et al. 2021, eq. 47 for VE), in float32 as the
/// references compute them.
type ScoreSdeVePredictorPlan =
    { /// `trunc(t·(len(timesteps) − 1))`, the index into `discrete_sigmas`.
      Index: int
      /// σ = `discrete_sigmas[index]`.
      Sigma: float32
      /// `discrete_sigmas[index − 1]`, or 0 at index 0.
      AdjacentSigma: float32
      /// g = `(σ² − σ_adj²) ** 0.5`, the noise coefficient.
      Diffusion: float32
      /// `g ** 2` as the references round it (the square of the rounded root), the score coefficient.
      DiffusionSquared: float32 }

/// The variance-exploding SDE predictor–corrector scheduler (Song et al. 2021), in both reference flavours: the
/// step maths is written once over `IBackend`, and the state's flavour selects how linspace rounds and which norm the
/// corrector takes. The functions without a flavour argument are diffusers' Flax class on `NdArray` and JAX keys.
[<RequireQualifiedAccess>]
module ScoreSdeVe =

    /// diffusers' default configuration (2000 steps, snr 0.15, σ from 0.01 to 1348, eps 1e-5, one corrector step).
    let defaults: ScoreSdeVeConfig =
        { NumTrainTimesteps = 2000
          Snr = 0.15
          SigmaMin = 0.01
          SigmaMax = 1348.0
          SamplingEps = 1e-5
          CorrectSteps = 1 }

    let private text (v: float) = v.ToString("R", Globalization.CultureInfo.InvariantCulture)

    let private checkSigmaRange (minKey: string) (sigmaMin: float) (sigmaMax: float) =
        if not (Double.IsFinite sigmaMax) || sigmaMax <= 0.0 then
            invalidArg "sigma_max" (sprintf "sigma_max is %s but must be a finite number > 0" (text sigmaMax))
        if not (sigmaMin > 0.0 && sigmaMin < sigmaMax) then
            invalidArg minKey (sprintf "sigma_min is %s but must be > 0 and < sigma_max (%s)" (text sigmaMin) (text sigmaMax))

    let private checkEps (eps: float) =
        if not (eps > 0.0 && eps < 1.0) then
            invalidArg "sampling_eps" (sprintf "sampling_eps is %s but must lie in the open interval (0, 1)" (text eps))

    let private checkSteps (name: string) (n: int) =
        if n < 1 then invalidArg name (sprintf "%s is %d but must be at least 1" name n)
        // The schedules are n long: num_train_timesteps at creation, num_inference_steps after.
        if name = "num_train_timesteps" then ConfigLimits.numTrainTimesteps n else ConfigLimits.inferenceSteps n

    /// Returns the configuration unchanged, or throws `ArgumentException` naming the diffusers key, its value and
    /// what was expected.
    let validate (config: ScoreSdeVeConfig) : ScoreSdeVeConfig =
        checkSteps "num_train_timesteps" config.NumTrainTimesteps
        if not (config.Snr > 0.0 && Double.IsFinite config.Snr) then
            invalidArg "snr" (sprintf "snr is %s but must be a finite number > 0" (text config.Snr))
        checkSigmaRange "sigma_min" config.SigmaMin config.SigmaMax
        checkEps config.SamplingEps
        if config.CorrectSteps < 0 then
            invalidArg "correct_steps" (sprintf "correct_steps is %d but must be ≥ 0" config.CorrectSteps)
        ConfigLimits.atMost "correct_steps" (nameof ConfigLimits.MaxCorrectSteps) ConfigLimits.MaxCorrectSteps config.CorrectSteps
        config

    /// `len(scheduler)`: `num_train_timesteps`.
    let length (config: ScoreSdeVeConfig) : int = config.NumTrainTimesteps

    /// `init_noise_sigma`: the scale of the initial noise, `sigma_max`.
    let initNoiseSigma (config: ScoreSdeVeConfig) : float32 = float32 config.SigmaMax

    /// The empty state of a flavour (`ScoreSdeVeSchedulerState.create()`): every array `None`.
    let emptyWith (flavour: Flavour) : ScoreSdeVeState =
        { Flavour = flavour
          Timesteps = None
          DiscreteSigmas = None
          Sigmas = None }

    /// The Flax class's empty state (`ScoreSdeVeSchedulerState.create()`).
    let empty: ScoreSdeVeState = emptyWith Flavour.Flax

    /// `set_timesteps(n, sampling_eps)`: `linspace(1, eps, n)` with the state's flavour's rounding; `sigmas` and
    /// `discrete_sigmas` are left as they are (spec §2.4).
    let setTimestepsWith (config: ScoreSdeVeConfig) (numInferenceSteps: int) (samplingEps: float option) (state: ScoreSdeVeState) =
        checkSteps "num_inference_steps" numInferenceSteps
        let eps = defaultArg samplingEps config.SamplingEps
        checkEps eps
        { state with Timesteps = Some(state.Flavour.Linspace 1.0f (float32 eps) numInferenceSteps) }

    /// `sigmas[i] = σ_min·(σ_max/σ_min)^t_i`: the base is rounded to float32 and the power taken in float32, as
    /// both `python_float ** float32_tensor` and its jnp counterpart do.
    let private continuousSigmas (sigmaMin: float) (sigmaMax: float) (timesteps: float32[]) =
        let ratio = float32 (sigmaMax / sigmaMin)
        let lo = float32 sigmaMin
        timesteps |> Array.map (fun t -> lo * MathF.Pow(ratio, t))

    /// `exp(linspace(log σ_min, log σ_max, n))`: torch takes the logs in float64 (`math.log`) and rounds them,
    /// jnp takes them in float32 of the float32 bounds; each uses its own linspace and exp (spec §2.5; the Flax
    /// values are XLA:CPU's, bit for bit).
    let private discreteSigmas (flavour: Flavour) (sigmaMin: float) (sigmaMax: float) (n: int) =
        flavour.Linspace (flavour.LogOfScalar sigmaMin) (flavour.LogOfScalar sigmaMax) n |> Array.map flavour.Exp

    /// `set_sigmas(n, sigma_min, sigma_max, sampling_eps)` (spec §2.5). Existing timesteps are reused whatever
    /// their length; missing ones are set first with `samplingEps` (the Flax class passes None here: its
    /// `set_sigmas` hands `sampling_eps` to an unused `shape` parameter, so the config's value applies). `sigmas`
    /// follows the current timesteps.
    let setSigmasWith
        (config: ScoreSdeVeConfig)
        (numInferenceSteps: int)
        (sigmaMin: float option)
        (sigmaMax: float option)
        (samplingEps: float option)
        (state: ScoreSdeVeState)
        =
        checkSteps "num_inference_steps" numInferenceSteps
        let lo = defaultArg sigmaMin config.SigmaMin
        let hi = defaultArg sigmaMax config.SigmaMax
        checkSigmaRange "sigma_min" lo hi
        let withTimesteps =
            match state.Timesteps with
            | Some _ -> state
            | None -> setTimestepsWith config numInferenceSteps samplingEps state
        let timesteps = withTimesteps.Timesteps.Value
        { withTimesteps with
            DiscreteSigmas = Some(discreteSigmas state.Flavour lo hi numInferenceSteps)
            Sigmas = Some(continuousSigmas lo hi timesteps) }

    /// The state after construction in the given flavour: `set_sigmas(num_train_timesteps)` on the empty state.
    let createStateWith (flavour: Flavour) (config: ScoreSdeVeConfig) : ScoreSdeVeState =
        let config = validate config
        setSigmasWith config config.NumTrainTimesteps None None None (emptyWith flavour)

    /// Flax `create_state()`: the 2000-point (num_train_timesteps) schedule with jnp's rounding.
    let createState (config: ScoreSdeVeConfig) : ScoreSdeVeState = createStateWith Flavour.Flax config

    /// Flax `set_timesteps(state, n)`: `jnp.linspace(1, sampling_eps, n)`.
    let setTimesteps (config: ScoreSdeVeConfig) (numInferenceSteps: int) (state: ScoreSdeVeState) =
        setTimestepsWith config numInferenceSteps None state

    /// Flax `set_sigmas(state, n)` with the config's σ range.
    let setSigmas (config: ScoreSdeVeConfig) (numInferenceSteps: int) (state: ScoreSdeVeState) =
        setSigmasWith config numInferenceSteps None None None state

    let private requireTimesteps (caller: string) (state: ScoreSdeVeState) =
        match state.Timesteps with
        | Some ts -> ts
        | None ->
            invalidOp (sprintf "%s needs timesteps: call setTimesteps (set_timesteps) and setSigmas first" caller)

    let private requireDiscreteSigmas (caller: string) (state: ScoreSdeVeState) =
        match state.DiscreteSigmas with
        | Some ds -> ds
        | None -> invalidOp (sprintf "%s needs discrete_sigmas: call setSigmas (set_sigmas) first" caller)

    /// `get_adjacent_sigma(idx, t)`: 0 where the index is 0, else `discrete_sigmas[idx − 1]`.
    let getAdjacentSigma (state: ScoreSdeVeState) (indices: int[]) : float32[] =
        let ds = requireDiscreteSigmas "getAdjacentSigma" state
        indices
        |> Array.map (fun i ->
            if i < 0 || i >= ds.Length then
                raise (ArgumentOutOfRangeException("timesteps_idx", i, sprintf "index must lie in [0, %d)" ds.Length))
            if i = 0 then 0.0f else ds[i - 1])

    /// The predictor's index `trunc(t·(len(timesteps) − 1))`, the product rounded to float32 first (spec §2.7):
    /// it uses the length of `timesteps`, not of `discrete_sigmas`, and truncates.
    let sigmaIndex (state: ScoreSdeVeState) (timestep: float32) : int =
        let ts = requireTimesteps "stepPred" state
        let scaled = timestep * float32 (ts.Length - 1)
        if not (Single.IsFinite scaled) || scaled < 0.0f || scaled >= 2147483647.0f then
            raise (ArgumentOutOfRangeException("timestep", timestep, "timestep must be a finite time in [0, 1]"))
        int scaled

    /// The predictor's scalars at continuous time `timestep`.
    let predictorPlan (state: ScoreSdeVeState) (timestep: float32) : ScoreSdeVePredictorPlan =
        let index = sigmaIndex state timestep
        let ds = requireDiscreteSigmas "stepPred" state
        if index >= ds.Length then
            raise (
                ArgumentOutOfRangeException(
                    "timestep",
                    timestep,
                    sprintf "timestep %s gives index %d but discrete_sigmas has %d entries (call setSigmas with the number of timesteps)" (timestep.ToString("R")) index ds.Length
                )
            )
        let sigma = ds[index]
        // get_adjacent_sigma for one index, without building arrays (the index was checked above).
        let adjacent = if index = 0 then 0.0f else ds[index - 1]
        // (σ**2 − σ_adj**2) ** 0.5, then diffusion**2: the reference squares the rounded root again.
        let diffusion = MathF.Sqrt(sigma * sigma - adjacent * adjacent)
        { Index = index
          Sigma = sigma
          AdjacentSigma = adjacent
          Diffusion = diffusion
          DiffusionSquared = diffusion * diffusion }

    /// The Langevin corrector's step size ε = 2·(snr·‖z‖/‖∇‖)² (Song et al. 2021, Algorithm 4), in float32 in the
    /// reference's order: `(snr * noise_norm / grad_norm) ** 2 * 2`.
    let correctorStepSize (snr: float) (gradNorm: float32) (noiseNorm: float32) : float32 =
        let r = float32 snr * noiseNorm / gradNorm
        r * r * 2.0f

    let private checkShapes (ops: IBackend<'T, 'N>) (modelOutput: 'T) (sample: 'T) =
        let s = ops.Shape sample
        let m = ops.Shape modelOutput
        if s.Length = 0 then invalidArg "sample" "sample is a scalar but must have a batch axis"
        if not (Shapes.same s m) then
            invalidArg
                "model_output"
                (sprintf "sample has shape [%s] but model_output has [%s]" (String.Join(",", s)) (String.Join(",", m)))

    /// The predictor's mean terms: `1·sample + g²·model_output`.
    let private predictorTerms (plan: ScoreSdeVePredictorPlan) (modelOutput: 'T) (sample: 'T) =
        [| struct (Scalar 1.0f, sample); struct (Scalar plan.DiffusionSquared, modelOutput) |]

    /// The predictor with the noise z already drawn: `mean = x + g²·score`, `prev = mean + g·z` (Song et al. 2021,
    /// eq. 47, reverse diffusion for VE), on any backend.
    let stepPredWithNoise (ops: IBackend<'T, 'N>) (state: ScoreSdeVeState) (modelOutput: 'T) (timestep: float32) (sample: 'T) (z: 'T) =
        checkShapes ops modelOutput sample
        requireTimesteps "stepPred" state |> ignore
        if not (Shapes.same (ops.Shape z) (ops.Shape sample)) then
            invalidArg "noise" (sprintf "noise has shape [%s] but sample has [%s]" (String.Join(",", ops.Shape z)) (String.Join(",", ops.Shape sample)))
        let plan = predictorPlan state timestep
        // drift = 0 − g²·score; mean = sample − drift: the same roundings as sample + g²·score.
        let struct (mean, prev) = Backend.combineThenAdd ops (predictorTerms plan modelOutput sample) plan.Diffusion z
        { State = state
          PrevSample = prev
          PrevSampleMean = Some mean }

    /// `step_pred`: one full-shape normal draw from `noise`, then the predictor (spec §2.7), on any backend.
    let stepPredOn (ops: IBackend<'T, 'N>) (state: ScoreSdeVeState) (modelOutput: 'T) (timestep: float32) (sample: 'T) (noise: 'N) =
        checkShapes ops modelOutput sample
        requireTimesteps "stepPred" state |> ignore
        let plan = predictorPlan state timestep
        // The noise is drawn inside the fused pass where the backend can (block by block on the core backend).
        let struct (mean, prev) = Backend.combineWithNoise ops (predictorTerms plan modelOutput sample) plan.Diffusion noise
        { State = state
          PrevSample = prev
          PrevSampleMean = Some mean }

    /// The gradient and noise norms of the corrector: torch takes the batch mean of per-sample L2 norms, Flax the
    /// L2 norm of the whole tensor (spec §2.8, §2.10).
    let correctorNorms (norm: CorrectorNorm) (ops: IBackend<'T, 'N>) (modelOutput: 'T) (z: 'T) : struct (float32 * float32) =
        match norm with
        | BatchMean ->
            let mean (xs: float32[]) =
                let mutable s = 0.0f
                for x in xs do
                    s <- s + x
                s / float32 xs.Length
            struct (mean (ops.BatchNorms modelOutput), mean (ops.BatchNorms z))
        | WholeTensor -> struct (ops.Norm modelOutput, ops.Norm z)

    /// The Langevin corrector with the noise z already drawn: `mean = x + ε·score`, `prev = mean + √(2ε)·z`
    /// (Song et al. 2021, Algorithm 4), with the flavour's norms.
    let stepCorrectWithNoise (ops: IBackend<'T, 'N>) (config: ScoreSdeVeConfig) (state: ScoreSdeVeState) (modelOutput: 'T) (sample: 'T) (z: 'T) =
        checkShapes ops modelOutput sample
        requireTimesteps "stepCorrect" state |> ignore
        if ops.Shape z <> ops.Shape sample then
            invalidArg "noise" (sprintf "noise has shape [%s] but sample has [%s]" (String.Join(",", ops.Shape z)) (String.Join(",", ops.Shape sample)))
        let struct (gradNorm, noiseNorm) = correctorNorms state.Flavour.CorrectorNorm ops modelOutput z
        // diffusers divides by the gradient norm unguarded; a zero score would turn the step into inf/NaN.
        if not (gradNorm > 0.0f) then
            invalidArg "model_output" (sprintf "model_output has norm %s but the corrector needs a non-zero score (its step size divides by the norm)" (gradNorm.ToString("R")))
        let stepSize = correctorStepSize config.Snr gradNorm noiseNorm
        let struct (mean, prev) =
            Backend.combineThenAdd ops [| struct (Scalar 1.0f, sample); struct (Scalar stepSize, modelOutput) |] (MathF.Sqrt(stepSize * 2.0f)) z
        // diffusers' corrector returns no mean: it is this step's temporary.
        ops.Release mean
        { State = state
          PrevSample = prev
          PrevSampleMean = None }

    /// `step_correct`: one full-shape normal draw from `noise`, then the corrector (spec §2.8), on any backend.
    let stepCorrectOn (ops: IBackend<'T, 'N>) (config: ScoreSdeVeConfig) (state: ScoreSdeVeState) (modelOutput: 'T) (sample: 'T) (noise: 'N) =
        checkShapes ops modelOutput sample
        requireTimesteps "stepCorrect" state |> ignore
        let z = ops.Normal(noise, sample)
        let output = stepCorrectWithNoise ops config state modelOutput sample z
        ops.Release z
        output

    /// `add_noise(original, noise, timesteps)`: the VE forward process `x + σ[idx]·noise`, where the timesteps are
    /// integer indices into `discrete_sigmas`, one per batch element (spec §2.9).
    let addNoiseOn (ops: IBackend<'T, 'N>) (state: ScoreSdeVeState) (original: 'T) (noise: 'T) (indices: int[]) : 'T =
        let ds = requireDiscreteSigmas "addNoise" state
        let shape = ops.Shape original
        if shape.Length = 0 then invalidArg "original_samples" "original_samples is a scalar but must have a batch axis"
        if ops.Shape noise <> shape then
            invalidArg "noise" (sprintf "original_samples has shape [%s] but noise has [%s]" (String.Join(",", shape)) (String.Join(",", ops.Shape noise)))
        if indices.Length <> shape[0] then
            invalidArg "timesteps" (sprintf "timesteps has %d entries but the batch has %d" indices.Length shape[0])
        let sigmas =
            indices
            |> Array.map (fun i ->
                if i < 0 || i >= ds.Length then
                    raise (ArgumentOutOfRangeException("timesteps", i, sprintf "index must lie in [0, %d)" ds.Length))
                ds[i])
        ops.Combine [| struct (Scalar 1.0f, original); struct (PerBatch sigmas, noise) |]

    /// `scale_model_input`: the sample unchanged (the VE SDE needs no input scaling).
    let scaleModelInput (sample: 'T) : 'T = sample

    /// The key the Flax scheduler draws from: `split(key, 1)[0]` (spec §2.10).
    let flaxNoiseKey (key: PrngKey) : PrngKey = (Prng.split 1 key)[0]

    /// Flax `step_pred(state, model_output, timestep, sample, key)`: noise `normal(split(key, 1)[0], shape)`.
    let stepPred (state: ScoreSdeVeState) (modelOutput: NdArray) (timestep: float32) (sample: NdArray) (key: PrngKey) =
        stepPredOn NdArrayBackend.Default state modelOutput timestep sample (flaxNoiseKey key)

    /// Flax `step_correct(state, model_output, sample, key)`: whole-tensor norms, noise `normal(split(key, 1)[0])`.
    let stepCorrect (config: ScoreSdeVeConfig) (state: ScoreSdeVeState) (modelOutput: NdArray) (sample: NdArray) (key: PrngKey) =
        stepCorrectOn NdArrayBackend.Default config state modelOutput sample (flaxNoiseKey key)

    /// `add_noise` on arrays with the noise given.
    let addNoise (state: ScoreSdeVeState) (original: NdArray) (noise: NdArray) (indices: int[]) : NdArray =
        addNoiseOn NdArrayBackend.Default state original noise indices

    /// The scheduler of the one shape (`IScheduler`): an iteration of diffusers' `ScoreSdeVePipeline` (spec §6.1) —
    /// `correct_steps` Langevin corrector steps, then the reverse-diffusion predictor, one draw each; the model is
    /// given σ = sigmas[i] (its query's timestep is the continuous time t). The pipeline's result is the last
    /// predictor's `prev_sample_mean` (its noise is dropped). `SetTimesteps` is the pipeline's `set_timesteps(n)`
    /// then `set_sigmas(n)`.
    let scheduler<'T> (config: ScoreSdeVeConfig) : IScheduler<ScoreSdeVeState, 'T, ScoreSdeVeOutput<'T>> =
        let config = validate config
        let sigmasOf (state: ScoreSdeVeState) =
            match state.Sigmas with
            | Some s -> s
            | None -> invalidOp "the loop needs sigmas: call setSigmas (set_sigmas) first"
        { new IScheduler<ScoreSdeVeState, 'T, ScoreSdeVeOutput<'T>> with
            member _.ClassName = "ScoreSdeVeScheduler"
            member _.Create(flavour) = createStateWith flavour config
            member _.SetTimesteps(n, _, state) =
                state |> setTimestepsWith config n None |> setSigmasWith config n None None None
            member _.Steps(state) = (requireTimesteps "the loop" state).Length
            member _.FirstIndex(_) = 0
            member _.TimestepAt(state, i) = float (requireTimesteps "the loop" state).[i]
            member _.InitNoiseSigma(_) = float (initNoiseSigma config)
            member _.Evaluations(steps) = steps * (config.CorrectSteps + 1)
            member _.Step(ops, model, draw, state, index, sample) =
                let t = (requireTimesteps "the loop" state).[index]
                let query = { Timestep = float t; Sigma = float (sigmasOf state).[index] }
                // Temporaries are released as soon as they are used: each model output (unless it is the model's own
                // input) and each intermediate sample (never `sample`).
                let release (used: 'T) (input: 'T) =
                    if not (obj.ReferenceEquals(used, input)) && not (obj.ReferenceEquals(used, sample)) then ops.Release used
                let mutable x = sample
                for _ in 1 .. config.CorrectSteps do
                    let score = model x query
                    let corrected = (stepCorrectOn ops config state score x (draw ())).PrevSample
                    release score x
                    if not (obj.ReferenceEquals(x, sample)) then ops.Release x
                    x <- corrected
                let score = model x query
                let out = stepPredOn ops state score t x (draw ())
                release score x
                if not (obj.ReferenceEquals(x, sample)) then ops.Release x
                struct (state, out)
            member _.Sample(out) = out.PrevSample
            member _.Result(out) =
                match out.PrevSampleMean with
                | Some mean -> mean
                | None -> out.PrevSample
            member _.Tensors(out) = out.PrevSample :: Option.toList out.PrevSampleMean
            member _.StateTensors(_) = [] }

/// The `scheduler_config.json` schema of `ScoreSdeVeScheduler` / `FlaxScoreSdeVeScheduler`.
module ScoreSdeVeConfig =

    /// One entry per key, in diffusers' constructor order; `ScoreSdeVe.validate` checks the values.
    let schema: ConfigSchema<ScoreSdeVeConfig> =
        ConfigSchema(
            "ScoreSdeVeScheduler",
            [| "ScoreSdeVeScheduler" |],
            ScoreSdeVe.defaults,
            [ ConfigField.int "num_train_timesteps" (fun c -> c.NumTrainTimesteps) (fun v c -> { c with NumTrainTimesteps = v })
              ConfigField.float "snr" "0.15" (fun c -> c.Snr) (fun v c -> { c with Snr = v })
              ConfigField.float "sigma_min" "0.01" (fun c -> c.SigmaMin) (fun v c -> { c with SigmaMin = v })
              ConfigField.float "sigma_max" "1348.0" (fun c -> c.SigmaMax) (fun v c -> { c with SigmaMax = v })
              ConfigField.float "sampling_eps" "1e-05" (fun c -> c.SamplingEps) (fun v c -> { c with SamplingEps = v })
              ConfigField.int "correct_steps" (fun c -> c.CorrectSteps) (fun v c -> { c with CorrectSteps = v }) ],
            ScoreSdeVe.validate
        )

/// The schema as a static member, for C#: `ScoreSdeVeConfig.Schema`.
type ScoreSdeVeConfig with

    /// The `scheduler_config.json` schema (see `ScoreSdeVeConfig.schema`).
    static member Schema = ScoreSdeVeConfig.schema
