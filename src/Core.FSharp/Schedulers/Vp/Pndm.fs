namespace Schedulers.Core

open System

/// The configuration of PNDM (Liu et al. 2022, "Pseudo Numerical Methods for Diffusion Models on Manifolds"), with
/// diffusers' `PNDMScheduler` keys.
type PndmConfig =
    { /// `num_train_timesteps`: N, the length of the training schedule.
      NumTrainTimesteps: int
      /// `beta_start`: the first β.
      BetaStart: float
      /// `beta_end`: the last β.
      BetaEnd: float
      /// `beta_schedule`: linear, scaled_linear or squaredcos_cap_v2.
      BetaSchedule: BetaSchedule
      /// `trained_betas`: explicit betas, overriding the schedule.
      TrainedBetas: float[] option
      /// `skip_prk_steps`: start with the linear multistep stage (PLMS) at once, without the Runge–Kutta warm-up.
      SkipPrkSteps: bool
      /// `set_alpha_to_one`: ᾱ before the first training step is 1 (else ᾱ_0).
      SetAlphaToOne: bool
      /// `prediction_type`: epsilon or v_prediction.
      PredictionType: PredictionType
      /// `timestep_spacing`: leading, linspace or trailing.
      TimestepSpacing: TimestepSpacing
      /// `steps_offset`: added to the "leading" timesteps.
      StepsOffset: int }

/// The PNDM state: the flavour, the config, the training tables, the timesteps of both stages after `setTimesteps`,
/// and the multistep history diffusers keeps on the instance (`ets`, `counter`, `cur_sample`, `cur_model_output`),
/// here carried immutably from step to step.
type PndmState<'T> =
    { /// Which reference's rounding the tables and steps follow.
      Flavour: Flavour
      /// The validated config.
      Config: PndmConfig
      /// β, α and ᾱ.
      Common: CommonSchedulerState
      /// ᾱ before the first step: 1 with `set_alpha_to_one`, else ᾱ_0.
      FinalAlphaCumprod: float32
      /// `num_inference_steps`, None before `setTimesteps`.
      NumInferenceSteps: int option
      /// Whether the steps skip the Runge–Kutta stage: `skip_prk_steps`, or fewer than four inference steps (which
      /// the Runge–Kutta stage cannot fill; see `setTimesteps`).
      SkipPrk: bool
      /// `prk_timesteps`: the Runge–Kutta stage's timesteps (12 entries, or none when skipped).
      PrkTimesteps: int64[]
      /// `plms_timesteps`: the linear multistep stage's timesteps.
      PlmsTimesteps: int64[]
      /// `timesteps`: `PrkTimesteps` then `PlmsTimesteps` ([N−1 … 0] before `setTimesteps`); one step per entry.
      Timesteps: int64[]
      /// `ets`: the model outputs the multistep formulas use, oldest first (at most four).
      Ets: 'T list
      /// `counter`: the steps taken since `setTimesteps`.
      Counter: int
      /// `cur_sample`: the sample a Runge–Kutta step (or the second PLMS step) starts from.
      CurSample: 'T voption
      /// `cur_model_output`: the Runge–Kutta stage's weighted sum of the model outputs so far (None is diffusers' 0).
      CurModelOutput: 'T voption }

/// What a PNDM step returns (diffusers' `SchedulerOutput`).
type PndmOutput<'T> =
    { /// `prev_sample`: x at the previous timestep.
      PrevSample: 'T }

/// The float32 scalars of `_get_prev_sample` from t to t_prev (Liu et al. 2022, eq. 9), in the reference's order.
type PndmPlan =
    { /// √ᾱ_t (v-prediction's conversion).
      SqrtAlpha: float32
      /// √(1 − ᾱ_t) (v-prediction's conversion).
      SqrtBeta: float32
      /// √(ᾱ_prev/ᾱ_t), the factor of the sample.
      SampleCoeff: float32
      /// ᾱ_prev − ᾱ_t, the numerator's factor of the model output.
      AlphaDiff: float32
      /// ᾱ_t·√(1 − ᾱ_prev) + √(ᾱ_t·(1 − ᾱ_t)·ᾱ_prev), the denominator of the model output's term.
      Denominator: float32 }

/// diffusers' `PNDMScheduler` (torch) as pure functions over `PndmState`, over any backend.
[<RequireQualifiedAccess>]
module Pndm =

    /// diffusers' defaults.
    let defaults: PndmConfig =
        { NumTrainTimesteps = 1000
          BetaStart = 0.0001
          BetaEnd = 0.02
          BetaSchedule = BetaSchedule.Linear
          TrainedBetas = None
          SkipPrkSteps = false
          SetAlphaToOne = false
          PredictionType = PredictionType.Epsilon
          TimestepSpacing = TimestepSpacing.Leading
          StepsOffset = 0 }

    /// The order of the pseudo linear multistep method (`pndm_order`).
    let pndmOrder = 4

    let private fail (key: string) (expected: string) (value: obj) =
        invalidArg key (sprintf "%s is %O but %s" key value expected)

    /// Returns the config when every field is usable, else throws an ArgumentException naming the diffusers key.
    let validate (c: PndmConfig) : PndmConfig =
        VpCommon.validateSchedule 1 c.NumTrainTimesteps c.TrainedBetas c.BetaStart c.BetaEnd c.StepsOffset
        match c.PredictionType with
        | PredictionType.Epsilon
        | PredictionType.VPrediction -> ()
        | p -> fail "prediction_type" "PNDM supports \"epsilon\" and \"v_prediction\"" (sprintf "\"%s\"" p.Text)
        c

    /// The state after construction: the training tables with the flavour's rounding, timesteps [N−1 … 0], an empty
    /// history.
    let createWith (flavour: Flavour) (config: PndmConfig) : PndmState<'T> =
        let c = validate config
        let common = VpCommon.create flavour c.BetaSchedule c.BetaStart c.BetaEnd c.NumTrainTimesteps c.TrainedBetas false
        { Flavour = flavour
          Config = c
          Common = common
          FinalAlphaCumprod = if c.SetAlphaToOne then 1.0f else common.AlphasCumprod[0]
          NumInferenceSteps = None
          SkipPrk = c.SkipPrkSteps
          PrkTimesteps = [||]
          PlmsTimesteps = [||]
          Timesteps = Array.init c.NumTrainTimesteps (fun i -> int64 (c.NumTrainTimesteps - 1 - i))
          Ets = []
          Counter = 0
          CurSample = ValueNone
          CurModelOutput = ValueNone }

    /// diffusers' torch class.
    let create (config: PndmConfig) : PndmState<'T> = createWith Flavour.Torch config

    /// `init_noise_sigma` (1: a VP scheduler starts from N(0, I)).
    let initNoiseSigma = 1.0f

    /// The two stages' timesteps from the descending inference timesteps `d` (the config's spacing):
    /// without the Runge–Kutta stage, PLMS runs d₀, d₁, d₁, d₂, …, d_{n−1} (its second step repeats a timestep);
    /// with it, the last four training-order timesteps a₀ < a₁ < a₂ < a₃ give the twelve Runge–Kutta evaluations
    /// a₃, a₂+h, a₂+h, a₂, a₂, a₁+h, a₁+h, a₁, a₁, a₀+h, a₀+h, a₀ (h = N div n div 2, the half step) and PLMS runs
    /// from a₀ down.
    let stages (skipPrk: bool) (numTrainTimesteps: int) (d: int64[]) : int64[] * int64[] =
        let n = d.Length
        if skipPrk then
            let plms = if n = 1 then [| d[0] |] else Array.append [| d[0] |] (Array.append [| d[1] |] d[1..])
            [||], plms
        else
            let h = int64 (numTrainTimesteps / n / 2)
            let a3, a2, a1, a0 = d[0], d[1], d[2], d[3]
            [| a3; a2 + h; a2 + h; a2; a2; a1 + h; a1 + h; a1; a1; a0 + h; a0 + h; a0 |], d[3..]

    /// `set_timesteps(n)`: the config's spacing, then the Runge–Kutta and linear multistep stages, and an empty
    /// history. The Runge–Kutta stage needs four inference steps: with fewer diffusers raises (a broadcasting error
    /// in `set_timesteps`); here those runs take the steps of `skip_prk_steps` instead, the linear multistep start.
    let setTimesteps (n: int) (state: PndmState<'T>) : PndmState<'T> =
        ConfigLimits.inferenceSteps n
        let c = state.Config
        let descending = VpCommon.timesteps c.TimestepSpacing c.NumTrainTimesteps c.StepsOffset n
        let skip = c.SkipPrkSteps || n < pndmOrder
        let prk, plms = stages skip c.NumTrainTimesteps descending
        { state with
            NumInferenceSteps = Some n
            SkipPrk = skip
            PrkTimesteps = prk
            PlmsTimesteps = plms
            Timesteps = Array.append prk plms
            Ets = []
            Counter = 0
            CurSample = ValueNone
            CurModelOutput = ValueNone }

    /// `scale_model_input`: the sample unchanged.
    let scaleModelInput (sample: 'T) : 'T = sample

    let private alphaAt (state: PndmState<'T>) (name: string) (t: int64) =
        let ac = state.Common.AlphasCumprod
        if t >= int64 ac.Length then
            raise (ArgumentOutOfRangeException(name, t, sprintf "%s must lie below %d" name ac.Length))
        if t >= 0L then ac[int t] else state.FinalAlphaCumprod

    /// The scalars of `_get_prev_sample(sample, t, t_prev, ·)`, each a float32 operation in the reference's order.
    let plan (state: PndmState<'T>) (timestep: int64) (prevTimestep: int64) : PndmPlan =
        if timestep < 0L then raise (ArgumentOutOfRangeException("timestep", timestep, "timestep must be at least 0"))
        let alphaT = alphaAt state "timestep" timestep
        let alphaPrev = alphaAt state "prev_timestep" prevTimestep
        let betaT = 1.0f - alphaT
        let betaPrev = 1.0f - alphaPrev
        { SqrtAlpha = MathF.Sqrt alphaT
          SqrtBeta = MathF.Sqrt betaT
          SampleCoeff = MathF.Sqrt(alphaPrev / alphaT)
          AlphaDiff = alphaPrev - alphaT
          Denominator = alphaT * MathF.Sqrt betaPrev + MathF.Sqrt(alphaT * betaT * alphaPrev) }

    /// `_get_prev_sample` (Liu et al. 2022, eq. 9) as program instructions: with ε the model output (converted from
    /// v when `prediction_type` is v_prediction), x_prev = √(ᾱ_prev/ᾱ_t)·x − (ᾱ_prev − ᾱ_t)·ε / (ᾱ_t·√(1 − ᾱ_prev) +
    /// √(ᾱ_t·(1 − ᾱ_t)·ᾱ_prev)), the product rounded before the division as torch does.
    let prevSample (b: ProgramBuilder) (state: PndmState<'T>) (timestep: int64) (prevTimestep: int64) (sample: Reg) (modelOutput: Reg) : Reg =
        let p = plan state timestep prevTimestep
        let eps =
            match state.Config.PredictionType with
            | PredictionType.VPrediction -> b.Lin [ p.SqrtAlpha, modelOutput; p.SqrtBeta, sample ]
            | _ -> modelOutput
        let term = b.Lin [ p.AlphaDiff, eps ] |> b.DivAs state.Flavour p.Denominator
        b.Lin [ p.SampleCoeff, sample; -1.0f, term ]

    /// `_get_prev_sample` on tensors (one program; see `prevSample`).
    let prevSampleOn (ops: IBackend<'T, 'N>) (state: PndmState<'T>) (sample: 'T) (timestep: int64) (prevTimestep: int64) (modelOutput: 'T) : 'T =
        let b = ProgramBuilder(2)
        let prev = prevSample b state timestep prevTimestep (b.Input 0) (b.Input 1)
        (Backend.run ops (b.Build [ prev ]) [| sample; modelOutput |])[0]

    let private requireSet (state: PndmState<'T>) =
        match state.NumInferenceSteps with
        | Some n -> n
        | None -> invalidOp "the number of inference steps is not set; call setTimesteps (set_timesteps) before step"

    /// `step_prk`: one of the four evaluations of a Runge–Kutta step from `cur_sample` (Liu et al. 2022, eq. 13):
    /// evaluations 1–3 step to the half or full point with the output just made, the fourth with
    /// (e₁ + 2e₂ + 2e₃ + e₄)/6, the weights applied as f32(1/6) and f32(1/3) products summed in order.
    let stepPrkOn (ops: IBackend<'T, 'N>) (state: PndmState<'T>) (modelOutput: 'T) (timestep: int64) (sample: 'T) : struct (PndmState<'T> * PndmOutput<'T>) =
        let n = requireSet state
        let c = state.Config
        let counter = state.Counter
        if counter >= state.PrkTimesteps.Length then
            invalidOp (sprintf "step_prk is the Runge–Kutta stage's step but its %d steps are taken" state.PrkTimesteps.Length)
        let diff = if counter % 2 = 1 then 0L else int64 (c.NumTrainTimesteps / n / 2)
        let prevTimestep = timestep - diff
        let t = state.PrkTimesteps[counter / 4 * 4]
        let sixth = float32 (1.0 / 6.0)
        let third = float32 (1.0 / 3.0)
        let phase = counter % 4
        let curSample = if phase = 0 then sample else state.CurSample |> ValueOption.defaultValue sample
        // One program over [x; ε; the running sum]: the running sum's update and the transfer with this evaluation's
        // output (evaluations 1–3) or with (e₁ + 2e₂ + 2e₃ + e₄)/6 (the fourth).
        let b = ProgramBuilder(3)
        let x, m, cur = b.Input 0, b.Input 1, b.Input 2
        let hasCur = state.CurModelOutput.IsSome && phase <> 0
        let plus (weight: float32) = if hasCur then b.Lin [ 1.0f, cur; weight, m ] else b.Lin [ weight, m ]
        let sum, output =
            match phase with
            | 0 -> ValueSome(plus sixth), m
            | 1
            | 2 -> ValueSome(plus third), m
            | _ -> ValueNone, plus sixth
        let prev = prevSample b state t prevTimestep x output
        let outputs = [ yield prev; yield! sum |> ValueOption.toList ]
        let running = state.CurModelOutput |> ValueOption.defaultValue modelOutput
        let r = Backend.run ops (b.Build outputs) [| curSample; modelOutput; running |]
        let next =
            match phase with
            | 0 -> { state with CurModelOutput = ValueSome r[1]; Ets = state.Ets @ [ modelOutput ]; CurSample = ValueSome sample }
            | 1
            | 2 -> { state with CurModelOutput = ValueSome r[1] }
            | _ -> { state with CurModelOutput = ValueNone }
        struct ({ next with Counter = counter + 1 }, { PrevSample = r[0] })

    /// `step_plms`: one linear multistep step (Liu et al. 2022, eq. 12) with the Adams–Bashforth combination of the
    /// outputs in `ets` (orders 1–4 as the history fills). Without the Runge–Kutta stage the first two steps are a
    /// second-order start: the first steps with e₁ from x_t, the second evaluates at the step's end and repeats the
    /// step from x_t with (e₁ + e₂)/2.
    let stepPlmsOn (ops: IBackend<'T, 'N>) (state: PndmState<'T>) (modelOutput: 'T) (timestep: int64) (sample: 'T) : struct (PndmState<'T> * PndmOutput<'T>) =
        let n = requireSet state
        let c = state.Config
        if not state.SkipPrk && state.Ets.Length < 3 then
            invalidOp "step_plms runs after the Runge–Kutta stage (12 steps of step_prk) unless skip_prk_steps is set"
        let ratio = int64 (c.NumTrainTimesteps / n)
        let counter = state.Counter
        let timestep, prevTimestep, ets =
            if counter <> 1 then
                let kept = if state.Ets.Length > 3 then List.skip (state.Ets.Length - 3) state.Ets else state.Ets
                timestep, timestep - ratio, kept @ [ modelOutput ]
            else timestep + ratio, timestep, state.Ets
        let recent = List.rev ets |> List.toArray
        let flavour = state.Flavour
        // One program: the Adams–Bashforth combination of the outputs (newest first: inputs 1 …) and the transfer.
        let b = ProgramBuilder(1 + recent.Length + 1)
        let x = b.Input 0
        let e (k: int) = b.Input(1 + k)
        let m = b.Input(1 + recent.Length)
        let combined, stepSample, curSample =
            match ets.Length with
            | 1 when counter = 0 -> m, sample, ValueSome sample
            | 1 when counter = 1 ->
                let cur = state.CurSample |> ValueOption.defaultWith (fun () -> invalidOp "the second PLMS step needs the first one's sample")
                b.Lin [ 1.0f, m; 1.0f, e 0 ] |> b.DivAs flavour 2.0f, cur, ValueNone
            | 1 -> m, sample, state.CurSample
            | 2 -> b.Lin [ 3.0f, e 0; -1.0f, e 1 ] |> b.DivAs flavour 2.0f, sample, state.CurSample
            | 3 -> b.Lin [ 23.0f, e 0; -16.0f, e 1; 5.0f, e 2 ] |> b.DivAs flavour 12.0f, sample, state.CurSample
            | _ -> b.Lin [ 55.0f, e 0; -59.0f, e 1; 37.0f, e 2; -9.0f, e 3 ] |> (fun r -> b.Lin [ float32 (1.0 / 24.0), r ]), sample, state.CurSample
        let prev = prevSample b state timestep prevTimestep x combined
        let prev = (Backend.run ops (b.Build [ prev ]) (Array.concat [ [| stepSample |]; recent; [| modelOutput |] ]))[0]
        struct ({ state with Ets = ets; CurSample = curSample; Counter = counter + 1 }, { PrevSample = prev })

    /// `step`: the Runge–Kutta step while its stage lasts, then linear multistep steps. Returns the next state (the
    /// history with this step's output) and the previous sample; the state given is not changed. The new state holds
    /// `modelOutput` and `sample` themselves (as diffusers keeps them), so they must stay valid while it is used.
    let stepOn (ops: IBackend<'T, 'N>) (state: PndmState<'T>) (modelOutput: 'T) (timestep: int64) (sample: 'T) : struct (PndmState<'T> * PndmOutput<'T>) =
        Backend.checkSame ops "sample" sample "model_output" modelOutput
        requireSet state |> ignore
        if state.Counter < state.PrkTimesteps.Length && not state.SkipPrk then stepPrkOn ops state modelOutput timestep sample
        else stepPlmsOn ops state modelOutput timestep sample

    /// `add_noise(original, noise, timesteps)` (`VpCommon.addNoise`).
    let addNoiseOn (ops: IBackend<'T, 'N>) (state: PndmState<'T>) (original: 'T) (noise: 'T) (timesteps: int64[]) : 'T =
        VpCommon.addNoise ops state.Common original noise timesteps

    /// Every tensor the state holds (the history), each once.
    let stateTensors (state: PndmState<'T>) : 'T list =
        let extra = [ yield! state.CurSample |> ValueOption.toList; yield! state.CurModelOutput |> ValueOption.toList ]
        (state.Ets @ extra)
        |> List.fold (fun acc t -> if List.exists (fun k -> obj.ReferenceEquals(k, t)) acc then acc else acc @ [ t ]) []

    /// The scheduler of the one shape (`IScheduler`): one model evaluation per entry of `timesteps` (the model at
    /// timesteps[i], its query's σ √((1 − ᾱ)/ᾱ) there). The torch class's maths on the flavour's tables (the Flax
    /// class's own steps are `PndmFlax`). The state keeps its own copy of a sample it holds, since the loop
    /// releases its samples.
    let scheduler<'T> (config: PndmConfig) : IScheduler<PndmState<'T>, 'T, PndmOutput<'T>> =
        let config = validate config
        { new IScheduler<PndmState<'T>, 'T, PndmOutput<'T>> with
            member _.ClassName = "PNDMScheduler"
            member _.Create(flavour) = createWith flavour config
            member _.SetTimesteps(n, _, state) = setTimesteps n state
            member _.Steps(state) = state.Timesteps.Length
            member _.FirstIndex(_) = 0
            member _.TimestepAt(state, i) = float state.Timesteps[i]
            member _.InitNoiseSigma(_) = float initNoiseSigma
            member _.Evaluations(steps) = steps
            member _.Step(ops, model, _, state, index, sample) =
                let t = state.Timesteps[index]
                let output = model sample (VpCommon.query state.Common t)
                let struct (next, r) = stepOn ops state output t sample
                let next =
                    match next.CurSample with
                    | ValueSome s when obj.ReferenceEquals(s, sample) -> { next with CurSample = ValueSome(Backend.scale ops 1.0f sample) }
                    | _ -> next
                if not (obj.ReferenceEquals(output, sample)) && not (next.Ets |> List.exists (fun e -> obj.ReferenceEquals(e, output))) then
                    ops.Release output
                struct (next, r)
            member _.Sample(r) = r.PrevSample
            member _.Result(r) = r.PrevSample
            member _.Tensors(r) = [ r.PrevSample ]
            member _.StateTensors(state) = stateTensors state }

/// The `scheduler_config.json` schema of `PNDMScheduler`.
module PndmConfig =

    /// One entry per key, in diffusers' constructor order; `Pndm.validate` checks the values.
    let schema: ConfigSchema<PndmConfig> =
        ConfigSchema(
            "PNDMScheduler",
            DiffusersClasses.karrasDiffusionSchedulers,
            Pndm.defaults,
            [ ConfigField.int "num_train_timesteps" (fun c -> c.NumTrainTimesteps) (fun v c -> { c with NumTrainTimesteps = v })
              ConfigField.float "beta_start" "0.0001" (fun c -> c.BetaStart) (fun v c -> { c with BetaStart = v })
              ConfigField.float "beta_end" "0.02" (fun c -> c.BetaEnd) (fun v c -> { c with BetaEnd = v })
              ConfigField.choice "beta_schedule" (Choices.ofUnion (fun (b: BetaSchedule) -> b.Text) [])
                  (fun c -> c.BetaSchedule) (fun v c -> { c with BetaSchedule = v })
              ConfigField.floatArrayOrNull "trained_betas" (fun c -> c.TrainedBetas) (fun v c -> { c with TrainedBetas = v })
              ConfigField.bool "skip_prk_steps" (fun c -> c.SkipPrkSteps) (fun v c -> { c with SkipPrkSteps = v })
              ConfigField.bool "set_alpha_to_one" (fun c -> c.SetAlphaToOne) (fun v c -> { c with SetAlphaToOne = v })
              ConfigField.choice "prediction_type" (Choices.ofUnion (fun (p: PredictionType) -> p.Text) [])
                  (fun c -> c.PredictionType) (fun v c -> { c with PredictionType = v })
              ConfigField.choice "timestep_spacing" (Choices.ofUnion (fun (s: TimestepSpacing) -> s.Text) [])
                  (fun c -> c.TimestepSpacing) (fun v c -> { c with TimestepSpacing = v })
              ConfigField.int "steps_offset" (fun c -> c.StepsOffset) (fun v c -> { c with StepsOffset = v }) ],
            Pndm.validate
        )

/// The schema as a static member, for C#: `PndmConfig.Schema`.
type PndmConfig with

    /// The `scheduler_config.json` schema (see `PndmConfig.schema`).
    static member Schema = PndmConfig.schema
