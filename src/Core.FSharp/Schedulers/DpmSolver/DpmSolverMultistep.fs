namespace Schedulers.Core

open System

/// The training-schedule tables of a DPM-Solver scheduler, built once from the config.
type DpmSolverTables =
    { /// βᵢ (float32).
      Betas: float32[]
      /// ᾱᵢ = Πⱼ≤ᵢ (1 − βⱼ).
      AlphasCumprod: float32[]
      /// α_t = √ᾱ_t.
      AlphaT: float32[]
      /// σ_t = √(1 − ᾱ_t).
      SigmaT: float32[]
      /// λ_t = ln α_t − ln σ_t.
      LambdaT: float32[]
      /// The VE sigmas √((1 − ᾱ)/ᾱ), ascending in t.
      TrainSigmas: float32[] }

/// The torch-flavour scheduler state (diffusers' DPMSolverMultistepScheduler attributes), immutable: every call
/// returns a new state. `'T` is the tensor type of the model-output history.
type DpmSolverState<'T> =
    { /// Which reference's rounding the tables and the update coefficients follow (torch for diffusers' torch class).
      Flavour: Flavour
      /// The validated config (`flow_shift` reflects a `mu` passed to set_timesteps, as diffusers assigns it).
      Config: DpmSolverConfig
      /// The training-schedule tables.
      Tables: DpmSolverTables
      /// The timesteps, descending ([N−1 … 0] before set_timesteps).
      Timesteps: int64[]
      /// The VE sigmas of the timesteps plus the final sigma (before set_timesteps: the N training sigmas).
      Sigmas: float32[]
      /// Set by set_timesteps: the number of timesteps.
      NumInferenceSteps: int option
      /// The converted outputs, oldest first (diffusers' `model_outputs`, length solver_order).
      ModelOutputs: 'T option[]
      /// How many steps have run, capped at solver_order (the warm-up counter).
      LowerOrderNums: int
      /// The index of the next step, once the first step has run.
      StepIndex: int option
      /// The index the first step starts from (set_begin_index).
      BeginIndex: int option }

/// What one step did: the new sample, the order it used, and the new state.
type DpmStepResult<'T> =
    { /// `prev_sample`.
      PrevSample: 'T
      /// The order of the update that was used (1–3).
      Order: int
      /// The state after the step.
      State: DpmSolverState<'T> }

/// diffusers' DPMSolverMultistepScheduler (torch flavour) as pure functions over `DpmSolverState`.
module DpmSolverMultistep =

    /// The training tables of a flavour: the betas with its linspace (plus the zero-SNR rescale), ᾱ with its
    /// cumprod (torch: a float64 running product; Flax: XLA's associative scan), λ = log α − log σ with its log.
    let tables (flavour: Flavour) (c: DpmSolverConfig) : DpmSolverTables =
        let betas = NoiseSchedules.betas flavour.Linspace c.BetaSchedule c.BetaStart c.BetaEnd c.NumTrainTimesteps c.TrainedBetas
        let betas = if c.RescaleBetasZeroSnr then NoiseSchedules.rescaleZeroTerminalSnr betas else betas
        let cumprod = betas |> Array.map (fun b -> 1.0f - b) |> flavour.Cumprod
        // Zero-SNR leaves ᾱ_{N−1} = 0; diffusers replaces it by 2⁻²⁴ so the first sigma is finite.
        if c.RescaleBetasZeroSnr then cumprod[cumprod.Length - 1] <- MathF.Pow(2.0f, -24.0f)
        let alphaT = cumprod |> Array.map MathF.Sqrt
        let sigmaT = cumprod |> Array.map (fun a -> MathF.Sqrt(1.0f - a))
        { Betas = betas
          AlphasCumprod = cumprod
          AlphaT = alphaT
          SigmaT = sigmaT
          LambdaT = Array.map2 (fun (a: float32) (s: float32) -> flavour.Log a - flavour.Log s) alphaT sigmaT
          TrainSigmas = cumprod |> Array.map (fun a -> MathF.Sqrt((1.0f - a) / a)) }

    /// A new scheduler state from a config computing with a flavour's rounding (validated; ArgumentException names
    /// the offending diffusers key).
    let createWith<'T> (flavour: Flavour) (config: DpmSolverConfig) : DpmSolverState<'T> =
        let c = DpmSolverConfig.validate config
        let tables = tables flavour c
        let n = c.NumTrainTimesteps
        { Flavour = flavour
          Config = c
          Tables = tables
          Timesteps = Array.init n (fun i -> int64 (n - 1 - i))
          Sigmas = Array.copy tables.TrainSigmas
          NumInferenceSteps = None
          ModelOutputs = Array.create c.SolverOrder None
          LowerOrderNums = 0
          StepIndex = None
          BeginIndex = None }

    /// A new scheduler state of diffusers' torch class (torch rounding).
    let create<'T> (config: DpmSolverConfig) : DpmSolverState<'T> = createWith Flavour.Torch config

    /// `init_noise_sigma`: the standard deviation of the initial noise (1 for this VP scheduler).
    let initNoiseSigma = 1.0f

    /// The last training timestep used: N minus the number of λ values below `lambda_min_clipped`.
    let lastTimestep (c: DpmSolverConfig) (tables: DpmSolverTables) : int =
        let bound = float32 c.LambdaMinClipped
        let clipped = tables.LambdaT |> Array.filter (fun l -> l < bound) |> Array.length
        c.NumTrainTimesteps - clipped

    /// The inference timesteps and sigmas (length n + 1, the final sigma last) for n steps or custom timesteps.
    let schedule (c: DpmSolverConfig) (tables: DpmSolverTables) (n: int option) (custom: int64[] option) : int64[] * float32[] =
        let N = c.NumTrainTimesteps
        let baseTimesteps =
            match custom with
            | Some ts -> ts |> Array.map float
            | None ->
                let n = n.Value
                let last = lastTimestep c tables
                match c.TimestepSpacing with
                | TimestepSpacing.Linspace -> NoiseSchedules.linspaceTimesteps last n
                | TimestepSpacing.Leading -> NoiseSchedules.leadingTimesteps last n c.StepsOffset
                | TimestepSpacing.Trailing -> NoiseSchedules.trailingTimesteps N last n
                |> Array.map float
        let train = tables.TrainSigmas
        let logSigmas = train |> Array.map MathF.Log
        let count = match n with Some k -> k | None -> baseTimesteps.Length
        let sigmaMin () = defaultArg c.SigmaMin (float train[0])
        let sigmaMax () = defaultArg c.SigmaMax (float train[N - 1])
        let cosine =
            match c.BetaSchedule with
            | BetaSchedule.SquaredcosCapV2 -> true
            | BetaSchedule.Linear
            | BetaSchedule.ScaledLinear -> false
        let toT (round: bool) (sigmas: float[]) =
            sigmas |> Array.map (fun s ->
                let t = NoiseSchedules.sigmaToT logSigmas s
                if round && not cosine then NoiseSchedules.roundHalfEven t else t)
        let sigmas, timesteps =
            if c.UseKarrasSigmas then
                let s = NoiseSchedules.karrasSigmas (sigmaMin ()) (sigmaMax ()) count
                s, toT true s
            elif c.UseLuLambdas then
                let lambdas = NoiseSchedules.luLambdas (float logSigmas[0]) (float logSigmas[N - 1]) count
                let s = lambdas |> Array.map Math.Exp
                s, toT true s
            elif c.UseExponentialSigmas then
                let s = NoiseSchedules.exponentialSigmas (sigmaMin ()) (sigmaMax ()) count
                s, toT false s
            elif c.UseBetaSigmas then
                let s = NoiseSchedules.betaSigmas (sigmaMin ()) (sigmaMax ()) count
                s, toT false s
            elif c.UseFlowSigmas then
                let s = NoiseSchedules.flowSigmas N c.FlowShift count
                s, s |> Array.map (fun v -> v * float N)
            else
                // np.interp at the (integer) timesteps: the training sigma itself, clamped to the table's ends.
                let s = baseTimesteps |> Array.map (fun t -> float train[int (Math.Clamp(t, 0.0, float (N - 1)))])
                s, baseTimesteps
        let final =
            match c.FinalSigmasType with
            | FinalSigmasType.SigmaMin -> MathF.Sqrt((1.0f - tables.AlphasCumprod[0]) / tables.AlphasCumprod[0])
            | FinalSigmasType.Zero -> 0.0f
        // `.astype(np.int64)` truncates towards zero (the exponential/beta/flow timesteps are not rounded first).
        let ts = timesteps |> Array.map int64
        ts, Array.append (sigmas |> Array.map float32) [| final |]

    /// `set_timesteps(num_inference_steps, mu=…, timesteps=…)`: exactly one of `n` and `custom` must be given; `mu`
    /// (dynamic shifting) sets flow_shift = e^mu. Resets the history and the step and begin indices.
    let setTimestepsWith (n: int option) (custom: int64[] option) (mu: float option) (state: DpmSolverState<'T>) : DpmSolverState<'T> =
        let c = state.Config
        match n, custom with
        | None, None -> raise (ArgumentException("set_timesteps needs num_inference_steps or timesteps; both are missing", "num_inference_steps"))
        | Some _, Some _ -> raise (ArgumentException("set_timesteps takes num_inference_steps or timesteps, not both", "timesteps"))
        | Some k, None when k < 1 -> raise (ArgumentException(sprintf "num_inference_steps is %d but must be at least 1" k, "num_inference_steps"))
        | None, Some ts when ts.Length = 0 -> raise (ArgumentException("timesteps is empty; at least one timestep is needed", "timesteps"))
        | None, Some ts when ts |> Array.exists (fun t -> t < 0L || t >= int64 c.NumTrainTimesteps) ->
            raise (ArgumentException(sprintf "timesteps must lie in [0, %d]" (c.NumTrainTimesteps - 1), "timesteps"))
        | None, Some _ when c.UseKarrasSigmas || c.UseLuLambdas || c.UseExponentialSigmas || c.UseBetaSigmas ->
            raise (ArgumentException("custom timesteps cannot be combined with use_karras_sigmas, use_lu_lambdas, use_exponential_sigmas or use_beta_sigmas", "timesteps"))
        | _ -> ()
        let c =
            match mu with
            | Some m ->
                if not c.UseDynamicShifting then
                    raise (ArgumentException("mu needs use_dynamic_shifting = true and time_shift_type = 'exponential'", "mu"))
                match c.TimeShiftType with
                | TimeShiftType.Exponential -> { c with FlowShift = Math.Exp m }
            | None -> c
        n |> Option.iter (DpmSolverSteps.checkCount c)
        let timesteps, sigmas = schedule c state.Tables n custom
        // The plain spacings take each step's sigma from its timestep, so a repeated timestep is a zero-length step;
        // the sigma options space the sigmas themselves and may round two of them to one timestep, as diffusers does.
        let sigmaOption = c.UseKarrasSigmas || c.UseLuLambdas || c.UseExponentialSigmas || c.UseBetaSigmas || c.UseFlowSigmas
        match n with
        | Some k when not sigmaOption -> DpmSolverSteps.checkDistinct c k timesteps
        | _ -> ()
        { state with
            Config = c
            Timesteps = timesteps
            Sigmas = sigmas
            NumInferenceSteps = Some timesteps.Length
            ModelOutputs = Array.create c.SolverOrder None
            LowerOrderNums = 0
            StepIndex = None
            BeginIndex = None }

    /// `set_timesteps(n)`.
    let setTimesteps (n: int) (state: DpmSolverState<'T>) = setTimestepsWith (Some n) None None state

    /// `set_timesteps(timesteps=custom)`.
    let setCustomTimesteps (timesteps: int64[]) (state: DpmSolverState<'T>) = setTimestepsWith None (Some(Array.copy timesteps)) None state

    /// `set_begin_index(i)`: the first step starts at index i (img2img, inpainting).
    let setBeginIndex (index: int) (state: DpmSolverState<'T>) : DpmSolverState<'T> =
        if index < 0 || index >= state.Timesteps.Length then
            raise (ArgumentException(sprintf "begin_index is %d but must lie in [0, %d]" index (state.Timesteps.Length - 1), "begin_index"))
        { state with BeginIndex = Some index }

    /// `index_for_timestep`: the position of the timestep in the schedule; the second occurrence when it appears
    /// more than once (so an img2img start does not skip a step), the last index when it does not appear.
    let indexForTimestep (timestep: int64) (timesteps: int64[]) : int =
        let hits = timesteps |> Array.indexed |> Array.filter (fun (_, t) -> t = timestep) |> Array.map fst
        match hits.Length with
        | 0 -> timesteps.Length - 1
        | 1 -> hits[0]
        | _ -> hits[1]

    /// The order diffusers uses at step `index` of `count` after `lowerOrderNums` earlier steps: the warm-up
    /// (1, then 2), first order at the end under lower_order_final (< 15 steps), euler_at_final or a zero final
    /// sigma, second order at the penultimate step under lower_order_final (< 15 steps).
    let orderAt (c: DpmSolverConfig) (index: int) (count: int) (lowerOrderNums: int) : int =
        let lowerOrderFinal =
            index = count - 1 && (c.EulerAtFinal || (c.LowerOrderFinal && count < 15) || c.FinalSigmasType = FinalSigmasType.Zero)
        let lowerOrderSecond = index = count - 2 && c.LowerOrderFinal && count < 15
        if c.SolverOrder = 1 || lowerOrderNums < 1 || lowerOrderFinal then 1
        elif c.SolverOrder = 2 || lowerOrderNums < 2 || lowerOrderSecond then 2
        else 3

    /// The VP point (α, σ, λ) of `sigmas[i]`.
    let pointAt (state: DpmSolverState<'T>) (i: int) : VpPoint =
        DpmSolverUpdate.pointOfSigma state.Config.UseFlowSigmas state.Sigmas[i]

    /// The step index a call with `timestep` works at: the current index, else the begin index, else the timestep's
    /// position.
    let currentIndex (timestep: int64) (state: DpmSolverState<'T>) : int =
        match state.StepIndex, state.BeginIndex with
        | Some i, _ -> i
        | None, Some b -> b
        | None, None -> indexForTimestep timestep state.Timesteps

    let private shapeText (s: int[]) = "[" + String.Join(",", s) + "]"

    /// One solver step (`step`): converts the model output, shifts the history, draws SDE noise from `noise` unless
    /// `varianceNoise` is given, and applies the update of the order `orderAt` chooses.
    let stepOn (ops: IBackend<'T, 'Noise>) (noise: 'Noise) (varianceNoise: 'T voption) (modelOutput: 'T) (timestep: int64) (sample: 'T) (state: DpmSolverState<'T>) : DpmStepResult<'T> =
        if state.NumInferenceSteps.IsNone then
            raise (InvalidOperationException("the number of inference steps is not set; call set_timesteps before step"))
        let c = state.Config
        let index = currentIndex timestep state
        let count = state.Timesteps.Length
        if index + 1 >= state.Sigmas.Length then
            raise (InvalidOperationException(sprintf "step index %d is past the last of the %d timesteps; call set_timesteps again to start a new run" index count))
        let sampleShape = ops.Shape sample
        let outShape = ops.Shape modelOutput
        let expected = if c.VarianceType.PredictsVariance && outShape.Length >= 2 then (let s = Array.copy sampleShape in (if s.Length >= 2 then s[1] <- outShape[1]); s) else sampleShape
        if outShape <> expected || (c.VarianceType.PredictsVariance && (sampleShape.Length < 2 || sampleShape[1] <> 3)) then
            raise (ArgumentException(sprintf "sample has shape %s but model_output has %s" (shapeText sampleShape) (shapeText outShape), "model_output"))
        let order = orderAt c index count state.LowerOrderNums
        let pS = pointAt state index
        // The SDE variants' noise: the caller's variance_noise, or one draw from the noise source, made inside the
        // program's pass where the backend can (JAX keys) and as a whole draw otherwise.
        let given =
            match varianceNoise with
            | ValueSome v when c.AlgorithmType.IsSde ->
                if not (Shapes.same (ops.Shape v) sampleShape) then
                    raise (ArgumentException(sprintf "variance_noise has shape %s but the sample has %s" (shapeText (ops.Shape v)) (shapeText sampleShape), "variance_noise"))
                ValueSome v
            | _ -> ValueNone
        let draws = c.AlgorithmType.IsSde && given.IsNone
        let sources = Array.init order (fun k -> pointAt state (index - k))
        let plan = DpmSolverUpdate.plan state.Flavour c.AlgorithmType c.SolverType order (pointAt state (index + 1)) sources
        // The older converted outputs the update reads, newest first.
        let older = Array.init (order - 1) (fun k -> state.ModelOutputs[state.ModelOutputs.Length - 1 - k].Value)
        // Conversion and update as one program (one pass) when the conversion is elementwise; else the conversion
        // first (thresholding, learned variance), then the update.
        let b = ProgramBuilder(2 + older.Length + (if given.IsSome then 1 else 0))
        let x, mo = b.Input 0, b.Input 1
        let m, prev =
            match DpmSolverUpdate.convertInto b c pS state.Sigmas[index] mo x with
            | ValueSome converted ->
                let outputs = Array.append [| converted |] (Array.init older.Length (fun k -> b.Input(2 + k)))
                let zr =
                    if given.IsSome then ValueSome(b.Input(2 + older.Length))
                    elif draws then ValueSome(b.Normal 0)
                    else ValueNone
                let prev = DpmSolverUpdate.applyInto b plan x outputs zr
                let inputs = Array.concat [ [| sample; modelOutput |]; older; given |> ValueOption.toArray ]
                let r = Backend.runWithNoise ops (b.Build [ converted; prev ]) inputs (if draws then [| noise |] else [||])
                r[0], r[1]
            | ValueNone ->
                let z = if draws then ValueSome(ops.Normal(noise, sample)) else given
                let m = DpmSolverUpdate.convert ops c pS state.Sigmas[index] modelOutput sample
                let prev = DpmSolverUpdate.apply ops plan sample (Array.append [| m |] older) z
                // A draw made here is this step's temporary.
                if draws then z |> ValueOption.iter ops.Release
                m, prev
        let history = Array.append state.ModelOutputs[1..] [| Some m |]
        { PrevSample = prev
          Order = order
          State =
            { state with
                ModelOutputs = history
                LowerOrderNums = min (state.LowerOrderNums + 1) c.SolverOrder
                StepIndex = Some(index + 1) } }

    /// One deterministic step (no noise source; the SDE variants need `stepOn`).
    let step (ops: IBackend<'T, 'Noise>) (modelOutput: 'T) (timestep: int64) (sample: 'T) (state: DpmSolverState<'T>) : 'T * DpmSolverState<'T> =
        if state.Config.AlgorithmType.IsSde then
            raise (InvalidOperationException(sprintf "algorithm_type '%s' draws noise; use stepOn with a noise source" state.Config.AlgorithmType.Text))
        let r = stepOn ops Unchecked.defaultof<'Noise> ValueNone modelOutput timestep sample state
        r.PrevSample, r.State

    /// The step indices `add_noise` uses for each timestep: the timestep's position when no begin index is set,
    /// else the current step index (inpainting after the first step), else the begin index.
    let addNoiseIndices (timesteps: int64[]) (state: DpmSolverState<'T>) : int[] =
        match state.BeginIndex, state.StepIndex with
        | None, _ -> timesteps |> Array.map (fun t -> indexForTimestep t state.Timesteps)
        | Some _, Some i -> Array.create timesteps.Length i
        | Some b, None -> Array.create timesteps.Length b

    /// `add_noise(original, noise, timesteps)`: α·x + σ_vp·noise with (α, σ_vp) from the sigma of each batch
    /// element's timestep (one timestep per batch element, or one for all).
    let addNoise (ops: IBackend<'T, 'Noise>) (original: 'T) (noise: 'T) (timesteps: int64[]) (state: DpmSolverState<'T>) : 'T =
        let shape = ops.Shape original
        if not (Shapes.same (ops.Shape noise) shape) then
            raise (ArgumentException(sprintf "original_samples has shape %s but noise has %s" (shapeText shape) (shapeText (ops.Shape noise)), "noise"))
        let batch = if shape.Length = 0 then 1 else shape[0]
        if timesteps.Length <> 1 && timesteps.Length <> batch then
            raise (ArgumentException(sprintf "timesteps has %d values but the batch has %d" timesteps.Length batch, "timesteps"))
        let points = addNoiseIndices timesteps state |> Array.map (pointAt state)
        if points.Length = 1 then
            ops.Combine [| struct (Scalar points[0].Alpha, original); struct (Scalar points[0].Sigma, noise) |]
        else
            ops.Combine [| struct (PerBatch(points |> Array.map (fun p -> p.Alpha)), original)
                           struct (PerBatch(points |> Array.map (fun p -> p.Sigma)), noise) |]

    /// The scheduler of the one shape (`IScheduler`): an iteration of diffusers' pipeline loop with this class —
    /// the model at timesteps[i] (its query's σ is the VE sigma of that step), then `step`, SDE noise from one draw
    /// per iteration. A run starts at the begin index when one is set (img2img). Model outputs the history does not
    /// keep are released once used.
    let scheduler<'T> (config: DpmSolverConfig) : IScheduler<DpmSolverState<'T>, 'T, DpmStepResult<'T>> =
        let config = DpmSolverConfig.validate config
        let held (state: DpmSolverState<'T>) (x: 'T) =
            state.ModelOutputs |> Array.exists (function Some m -> obj.ReferenceEquals(m, x) | None -> false)
        { new IScheduler<DpmSolverState<'T>, 'T, DpmStepResult<'T>> with
            member _.ClassName = "DPMSolverMultistepScheduler"
            member _.Create(flavour) = createWith flavour config
            member _.SetTimesteps(n, _, state) = setTimesteps n state
            member _.Steps(state) = state.Timesteps.Length
            member _.FirstIndex(state) =
                match state.StepIndex, state.BeginIndex with
                | Some i, _ -> i
                | None, Some b -> b
                | None, None -> 0
            member _.TimestepAt(state, i) = float state.Timesteps[i]
            member _.InitNoiseSigma(_) = float initNoiseSigma
            member _.Evaluations(steps) = steps
            member _.Step(ops, model, draw, state, index, sample) =
                if state.NumInferenceSteps.IsNone then
                    raise (InvalidOperationException("the number of inference steps is not set; call set_timesteps before step"))
                // An explicit begin index (0 for a whole run) keeps a duplicated first timestep from being looked up at
                // its second occurrence (diffusers' img2img rule), which would skip a step.
                let state = if state.StepIndex.IsNone then setBeginIndex index state else state
                let t = state.Timesteps[index]
                let output = model sample { Timestep = float t; Sigma = float state.Sigmas[index] }
                let noise = if state.Config.AlgorithmType.IsSde then draw () else Unchecked.defaultof<_>
                let r = stepOn ops noise ValueNone output t sample state
                if not (obj.ReferenceEquals(output, sample)) && not (held r.State output) then ops.Release output
                struct (r.State, r)
            member _.Sample(r) = r.PrevSample
            member _.Result(r) = r.PrevSample
            member _.Tensors(r) = [ r.PrevSample ]
            member _.StateTensors(state) = state.ModelOutputs |> Array.choose id |> Array.toList }

