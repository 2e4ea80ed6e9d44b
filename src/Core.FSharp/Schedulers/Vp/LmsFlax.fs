namespace Schedulers.Core

open System

/// diffusers' `LMSDiscreteSchedulerState` of `FlaxLMSDiscreteScheduler`: the torch class's state holding the Flax
/// flavour's tables, the Flax schedule's sigmas and the derivative history, with the integer timesteps the Flax
/// class gives the model and whether `set_timesteps` has run.
type LmsFlaxState =
    { /// Config, Flax-flavoured tables, the schedule's sigmas (n + 1, the last 0), the derivative history.
      Lms: LmsState<NdArray>
      /// The timesteps: `jnp.linspace(N − 1, 0, n)` truncated to int32 ([N−1 … 0] before `set_timesteps`).
      Timesteps: int64[]
      /// `num_inference_steps`, None before `set_timesteps`.
      NumInferenceSteps: int option }

/// diffusers' `FlaxLMSDiscreteScheduler` as pure functions: state in, state and output out. The step is the torch
/// class's (`Lms.stepOn`: x0, the derivative (x − x0)/σ, Lagrange coefficients integrated by adaptive Gauss–Kronrod
/// quadrature, as the Flax class asks scipy's `quad` with relative error 1e-4) on the Flax class's schedule:
/// timesteps `jnp.linspace(N − 1, 0, n)` (XLA's float32 linspace) truncated to integers, sigmas interpolated in
/// float32 as (1 − f)·σ[⌊t⌋] + f·σ[⌈t⌉] at the untruncated t, divisions by a scalar as XLA computes them.
///
/// Where the Flax class is broken its evident intent is done, as the torch class does it:
/// - its `step` indexes the sigmas by the timestep's value (`sigmas[timestep]`, clamped by JAX to the final 0, so
///   every step divides by zero) and takes min(timestep + 1, order) coefficients; here the sigma, the coefficients and
///   the order come from the step's position in the schedule: found as its `scale_model_input` finds it at the
///   first step, then advanced by one per step as the torch class's step index is (at n = N the truncated
///   timesteps end 1, 0, 0: a lookup would take the last sigma twice);
/// - it keeps its derivatives with `jnp.append`, which flattens them (the history is then a list of scalars); here
///   the history is the last `order` derivative arrays;
/// - its `add_noise` indexes the sigmas by timestep value too, right only before `set_timesteps`; here it takes the
///   training noise level √((1 − ᾱ_t)/ᾱ_t) of each timestep, what it computes there.
/// The class has only epsilon and v-prediction, "linspace" spacing and interpolated sigmas: a config asking for
/// anything else is refused, naming the key.
[<RequireQualifiedAccess>]
module LmsFlax =

    let private ops = NdArrayBackend.Default :> IBackend<NdArray, PrngKey>

    /// The config when the Flax class can run it: `Lms.validate`, epsilon or v-prediction, "linspace" spacing, no
    /// Karras/exponential/beta sigmas.
    let validate (config: LmsConfig) : LmsConfig =
        let c = Lms.validate config
        let refuse key (text: string) (what: string) = invalidArg key (sprintf "%s but FlaxLMSDiscreteScheduler %s" text what)
        match c.PredictionType with
        | PredictionType.Epsilon
        | PredictionType.VPrediction -> ()
        | p -> refuse "prediction_type" (sprintf "prediction_type is \"%s\"" p.Text) "supports \"epsilon\" and \"v_prediction\" only"
        if c.TimestepSpacing <> TimestepSpacing.Linspace then
            refuse "timestep_spacing" (sprintf "timestep_spacing is \"%s\"" c.TimestepSpacing.Text) "has only \"linspace\" spacing"
        if c.UseKarrasSigmas then refuse "use_karras_sigmas" "use_karras_sigmas is true" "has no Karras sigmas"
        if c.UseExponentialSigmas then refuse "use_exponential_sigmas" "use_exponential_sigmas is true" "has no exponential sigmas"
        if c.UseBetaSigmas then refuse "use_beta_sigmas" "use_beta_sigmas is true" "has no beta sigmas"
        c

    /// The Flax schedule of `n` steps: the int32 timesteps and the float32 sigmas (n + 1, the last 0).
    let schedule (flavour: Flavour) (common: CommonSchedulerState) (n: int) : int64[] * float32[] =
        let N = common.AlphasCumprod.Length
        let t = flavour.Linspace (float32 (N - 1)) 0.0f n
        let train = Lms.trainSigmas common
        let sigmas =
            t
            |> Array.map (fun ti ->
                let low = int (MathF.Floor ti)
                let high = int (MathF.Ceiling ti)
                let f = ti - MathF.Floor ti // jnp.mod(t, 1.0) for t ≥ 0, exact
                (1.0f - f) * train[low] + f * train[high])
        t |> Array.map (fun ti -> int64 (int ti)), Array.append sigmas [| 0.0f |]

    /// `create_state()`: the Flax flavour's tables, timesteps [N−1 … 0] with their training sigmas.
    let create (config: LmsConfig) : LmsFlaxState =
        let c = validate config
        let tables: LmsState<NdArray> = Lms.createWith Flavour.Flax c
        let N = c.NumTrainTimesteps
        let timesteps = Array.init N (fun i -> int64 (N - 1 - i))
        let train = Lms.trainSigmas tables.Common
        { Lms =
            { tables with
                Timesteps = timesteps |> Array.map float32
                Sigmas = Array.append (Array.rev train) [| 0.0f |] }
          Timesteps = timesteps
          NumInferenceSteps = None }

    /// `init_noise_sigma`: the largest training sigma.
    let initNoiseSigma (state: LmsFlaxState) : float32 = Array.max (Lms.trainSigmas state.Lms.Common)

    /// `set_timesteps(state, n)`: the Flax schedule, an empty derivative history.
    let setTimesteps (n: int) (state: LmsFlaxState) : LmsFlaxState =
        if n < 1 then invalidArg "num_inference_steps" (sprintf "num_inference_steps is %d but must be at least 1" n)
        ConfigLimits.inferenceSteps n
        let timesteps, sigmas = schedule state.Lms.Flavour state.Lms.Common n
        { Lms =
            { state.Lms with
                NumInferenceSteps = n
                Timesteps = timesteps |> Array.map float32
                Sigmas = sigmas
                Derivatives = [||]
                StepIndex = None
                BeginIndex = None }
          Timesteps = timesteps
          NumInferenceSteps = Some n }

    /// The position a call at `timestep` uses: the step index once a step has been taken (it advances by one per
    /// step), else the timestep's first position in the schedule (as `jnp.where(..., size=1)` finds it). A
    /// timestep that is not the schedule's at that position is refused (the Flax class would take position 0).
    let indexOf (state: LmsFlaxState) (timestep: int64) : int =
        let index =
            match state.Lms.StepIndex with
            | Some i -> i
            | None ->
                match Array.tryFindIndex ((=) timestep) state.Timesteps with
                | Some i -> i
                | None -> -1
        if index < 0 || index >= state.Timesteps.Length || state.Timesteps[index] <> timestep then
            invalidArg "timestep" (sprintf "timestep %d is not the scheduler's timestep at this step" timestep)
        index

    /// `scale_model_input(state, sample, timestep)`: x/√(σ² + 1) with σ at the timestep's position.
    let scaleModelInput (state: LmsFlaxState) (sample: NdArray) (timestep: int64) : NdArray =
        let sigma = state.Lms.Sigmas[indexOf state timestep]
        Backend.divideAs ops state.Lms.Flavour sample (MathF.Sqrt(sigma * sigma + 1.0f))

    /// `step(state, model_output, timestep, sample, order)`: the LMS step at the timestep's position. Returns the
    /// next state (the derivative appended, at most `order` kept, the step index advanced) and the output; the
    /// state given is not changed.
    let step (state: LmsFlaxState) (modelOutput: NdArray) (timestep: int64) (sample: NdArray) (order: int) : struct (LmsFlaxState * LmsOutput<NdArray>) =
        if state.NumInferenceSteps.IsNone then
            invalidOp "the number of inference steps is not set; call setTimesteps (set_timesteps) before step"
        let index = indexOf state timestep
        let r = Lms.stepOn ops { state.Lms with StepIndex = Some index } modelOutput (float32 timestep) sample order
        let next = { state with Lms = r.State }
        struct (next, r)

    /// `add_noise(state, original, noise, timesteps)`: x + σ_t·ε with σ_t = √((1 − ᾱ_t)/ᾱ_t) per batch element.
    let addNoise (state: LmsFlaxState) (original: NdArray) (noise: NdArray) (timesteps: int64[]) : NdArray =
        Backend.checkSame ops "original_samples" original "noise" noise
        let batch = original.BatchSize
        if timesteps.Length <> batch then
            invalidArg "timesteps" (sprintf "timesteps has %d values but the batch has %d" timesteps.Length batch)
        let train = Lms.trainSigmas state.Lms.Common
        let sigma (t: int64) =
            if t < 0L || t >= int64 train.Length then
                raise (ArgumentOutOfRangeException("timesteps", t, sprintf "timesteps must lie in [0, %d)" train.Length))
            train[int t]
        ops.Combine [| struct (Scalar 1.0f, original); struct (PerBatch(timesteps |> Array.map sigma), noise) |]
