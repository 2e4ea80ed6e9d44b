namespace Schedulers.Core

open System

/// The Flax-flavour state (diffusers' `DPMSolverMultistepSchedulerState`): integer-indexed α/σ/λ tables and a
/// fixed-size history buffer, so a jit-style loop carries a state of constant shape.
type FlaxDpmSolverState =
    { /// The validated config.
      Config: DpmSolverConfig
      /// The training tables (jnp.linspace betas, float32 cumprod).
      Tables: DpmSolverTables
      /// `init_noise_sigma` (1).
      InitNoiseSigma: float32
      /// The timesteps, descending ([N−1 … 0] before set_timesteps).
      Timesteps: int[]
      /// Set by set_timesteps.
      NumInferenceSteps: int option
      /// The history buffer, oldest first: solver_order arrays of the sample shape (zeros until filled).
      ModelOutputs: NdArray[]
      /// Steps taken, capped at solver_order. (diffusers' state also records `prev_timestep` and `cur_sample`;
      /// nothing reads them, so they are not kept.)
      LowerOrderNums: int }

/// What one Flax step returns: `prev_sample` and the new state (diffusers' `FlaxDPMSolverMultistepSchedulerOutput`).
type FlaxDpmStepOutput =
    { /// `prev_sample`.
      PrevSample: NdArray
      /// The order of the update used.
      Order: int
      /// The new state.
      State: FlaxDpmSolverState }

/// diffusers' FlaxDPMSolverMultistepScheduler (spec §4.8) as pure functions: ᾱ indexed by integer timestep, the
/// final step targets t = 0, the first matching timestep is used. The Flax reference fails on thresholding (its
/// percentile broadcasts against the last axis, issue #7165) and on `steps_offset` (not a Flax field); here both do
/// what the torch scheduler does.
module DpmSolverMultistepFlax =

    let private ops = NdArrayBackend.Default :> IBackend<NdArray, PrngKey>

    /// `create_state()`: the tables and timesteps [N−1 … 0], for a config checked by `DpmSolverConfig.validateFlax`
    /// (the Flax class has no final_sigmas_type, sde variants or torch-only sigma options).
    let createState (config: DpmSolverConfig) : FlaxDpmSolverState =
        let c = DpmSolverConfig.validateFlax config
        let n = c.NumTrainTimesteps
        { Config = c
          Tables = DpmSolverMultistep.tables Flavour.Flax c
          InitNoiseSigma = 1.0f
          Timesteps = Array.init n (fun i -> n - 1 - i)
          NumInferenceSteps = None
          ModelOutputs = [||]
          LowerOrderNums = 0 }

    /// The Flax timesteps: jnp.linspace (float32) rounded half to even for "linspace"; "leading" and "trailing" as
    /// the torch scheduler computes them (int32).
    let timesteps (c: DpmSolverConfig) (n: int) : int[] =
        let N = c.NumTrainTimesteps
        match c.TimestepSpacing with
        | TimestepSpacing.Linspace ->
            let values = Schedules.jnpLinspace 0.0f (float32 (N - 1)) (n + 1)
            Array.init n (fun i -> int (MathF.Round(values[n - i], MidpointRounding.ToEven)))
        | TimestepSpacing.Leading -> NoiseSchedules.leadingTimesteps N n c.StepsOffset |> Array.map int
        | TimestepSpacing.Trailing -> NoiseSchedules.trailingTimesteps N N n |> Array.map int

    /// `set_timesteps(state, n, shape)`: the timesteps and a zeroed history buffer of `solver_order` arrays of `shape`.
    let setTimesteps (state: FlaxDpmSolverState) (n: int) (shape: int[]) : FlaxDpmSolverState =
        if n < 1 then raise (ArgumentException(sprintf "num_inference_steps is %d but must be at least 1" n, "num_inference_steps"))
        if shape.Length = 0 then raise (ArgumentException("shape must have at least one axis (the batch)", "shape"))
        let ts = DpmSolverSteps.timesteps state.Config n timesteps
        { state with
            Timesteps = ts
            NumInferenceSteps = Some n
            ModelOutputs = Array.init state.Config.SolverOrder (fun _ -> NdArray.zeros shape)
            LowerOrderNums = 0 }

    /// The order the Flax selector picks (its `jax.lax.select` chain) at step `index` of `count`.
    let orderAt (c: DpmSolverConfig) (index: int) (count: int) (lowerOrderNums: int) : int =
        let shortRun = c.LowerOrderFinal && count < 15
        let secondOrThird () =
            if c.SolverOrder = 2 then 2
            elif shortRun then (if lowerOrderNums < 2 || index = count - 2 then 2 else 3)
            else (if lowerOrderNums < 2 then 2 else 3)
        if c.SolverOrder = 1 then 1
        elif shortRun then (if lowerOrderNums < 1 || index = count - 1 then 1 else secondOrThird ())
        else (if lowerOrderNums < 1 then 1 else secondOrThird ())

    let private point (t: DpmSolverTables) (timestep: int) : VpPoint =
        { Alpha = t.AlphaT[timestep]; Sigma = t.SigmaT[timestep]; Lambda = t.LambdaT[timestep] }

    /// `step(state, model_output, timestep, sample)`: returns prev_sample and the new state.
    let step (state: FlaxDpmSolverState) (modelOutput: NdArray) (timestep: int) (sample: NdArray) : FlaxDpmStepOutput =
        if state.NumInferenceSteps.IsNone then
            raise (InvalidOperationException("the number of inference steps is not set; call setTimesteps before step"))
        let c = state.Config
        let shape = state.ModelOutputs[0].Shape
        if sample.Shape <> shape then
            raise (ArgumentException(sprintf "sample has shape %s but set_timesteps was given shape %s" sample.ShapeText state.ModelOutputs[0].ShapeText, "sample"))
        if modelOutput.Shape <> shape then
            raise (ArgumentException(sprintf "sample has shape %s but model_output has %s" sample.ShapeText modelOutput.ShapeText, "model_output"))
        let N = c.NumTrainTimesteps
        if timestep < 0 || timestep >= N then
            raise (ArgumentException(sprintf "timestep is %d but must lie in [0, %d]" timestep (N - 1), "timestep"))
        let ts = state.Timesteps
        let count = ts.Length
        // jnp.where(timesteps == t, size=1) fills with 0 when nothing matches.
        let index = match Array.tryFindIndex ((=) timestep) ts with Some i -> i | None -> 0
        let prevTimestep = if index = count - 1 then 0 else ts[index + 1]
        let pS = point state.Tables timestep
        let m = DpmSolverUpdate.convert ops c pS 0.0f modelOutput sample
        let history = Array.append state.ModelOutputs[1..] [| m |]
        let order = orderAt c index count state.LowerOrderNums
        // JAX indexing: a negative index counts from the end, then out-of-range indices are clamped (with one or
        // two timesteps `timesteps[step_index - 2]` is still evaluated; its value is unused at order 1).
        let at k = ts[Math.Clamp((if k < 0 then k + count else k), 0, count - 1)]
        let sourceTimesteps = [| timestep; at (index - 1); at (index - 2) |]
        let sources = Array.init order (fun k -> point state.Tables sourceTimesteps[k])
        let plan = DpmSolverUpdate.plan Flavour.Flax c.AlgorithmType c.SolverType order (point state.Tables prevTimestep) sources
        let outputs = Array.init order (fun k -> history[history.Length - 1 - k])
        let prev = DpmSolverUpdate.apply ops plan sample outputs ValueNone
        { PrevSample = prev
          Order = order
          State =
            { state with
                ModelOutputs = history
                LowerOrderNums = min (state.LowerOrderNums + 1) c.SolverOrder } }

    /// `scale_model_input`: the sample unchanged.
    let scaleModelInput (_state: FlaxDpmSolverState) (sample: NdArray) : NdArray = sample

    /// `add_noise(state, x, noise, timesteps)`: √ᾱ[t]·x + √(1 − ᾱ[t])·noise, t indexing ᾱ directly, one timestep per
    /// batch element.
    let addNoise (state: FlaxDpmSolverState) (original: NdArray) (noise: NdArray) (timesteps: int[]) : NdArray =
        NdArray.checkSameShape "original_samples" original "noise" noise
        if timesteps.Length <> original.BatchSize then
            raise (ArgumentException(sprintf "timesteps has %d values but the batch has %d" timesteps.Length original.BatchSize, "timesteps"))
        let ac = state.Tables.AlphasCumprod
        let a = timesteps |> Array.map (fun t -> MathF.Sqrt ac[t])
        let s = timesteps |> Array.map (fun t -> MathF.Sqrt(1.0f - ac[t]))
        ops.Combine [| struct (PerBatch a, original); struct (PerBatch s, noise) |]

    /// The scheduler of the one shape (`IScheduler`) for the Flax class on `NdArray`: `SetTimesteps` sizes the
    /// history buffer from the sample shape, and an iteration calls the model at timesteps[i] (its query's σ is
    /// √((1 − ᾱ)/ᾱ) at that timestep) and then `step`. The class draws no noise.
    let scheduler (config: DpmSolverConfig) : IScheduler<FlaxDpmSolverState, NdArray, FlaxDpmStepOutput> =
        // The tables are built once, and only if a state is asked for (the loops pass their own state in).
        let initial = lazy (createState config)
        { new IScheduler<FlaxDpmSolverState, NdArray, FlaxDpmStepOutput> with
            member _.ClassName = "DPMSolverMultistepScheduler"
            member _.Create(flavour) =
                if not (obj.ReferenceEquals(flavour, Flavour.Flax)) then
                    invalidArg "flavour" (sprintf "the Flax DPM-Solver class computes with the flax flavour, not %s" flavour.Name)
                initial.Value
            member _.SetTimesteps(n, shape, state) = setTimesteps state n shape
            member _.Steps(state) = state.Timesteps.Length
            member _.FirstIndex(_) = 0
            member _.TimestepAt(state, i) = float state.Timesteps[i]
            member _.InitNoiseSigma(state) = float state.InitNoiseSigma
            member _.Evaluations(steps) = steps
            member _.Step(_, model, _, state, index, sample) =
                let t = state.Timesteps[index]
                let output = model sample { Timestep = float t; Sigma = float state.Tables.TrainSigmas[t] }
                let r = step state output t sample
                struct (r.State, r)
            member _.Sample(r) = r.PrevSample
            member _.Result(r) = r.PrevSample
            member _.Tensors(r) = [ r.PrevSample ]
            member _.StateTensors(state) = Array.toList state.ModelOutputs }

