namespace Schedulers.Core

open System

/// diffusers' `PNDMSchedulerState` of `FlaxPNDMScheduler`: the tables and timesteps (held as the torch class's
/// state with the Flax flavour, whose own history fields stay empty) and the fixed-shape history that jitted code
/// needs — four model outputs, the running Runge–Kutta sum and the sample it started from, all of the sample's
/// shape and zero until written — with the step counter.
type PndmFlaxState =
    { /// Config, Flax-flavoured tables, `final_alpha_cumprod`, the two stages' timesteps.
      Tables: PndmState<NdArray>
      /// The sample shape `set_timesteps` was given (empty before).
      Shape: int[]
      /// `ets`: the last four model outputs, oldest first (zeros where fewer were made; empty before
      /// `set_timesteps`).
      Ets: NdArray list
      /// `cur_model_output`: the Runge–Kutta stage's weighted sum, or the PLMS combination last used.
      CurModelOutput: NdArray
      /// `cur_sample`: the sample a Runge–Kutta step (or the second PLMS step) starts from.
      CurSample: NdArray
      /// `counter`: the steps taken since `set_timesteps`.
      Counter: int }

/// diffusers' `FlaxPNDMScheduler` as pure functions: state in, state and output out. Its maths is the torch class's
/// (`Pndm.prevSampleOn`, eq. 9 of Liu et al. 2022) on the Flax flavour's tables, with what the Flax class does
/// differently reproduced:
/// - `set_timesteps` takes the sample shape and sizes a four-entry history of zeros (jit needs fixed shapes); the
///   linear multistep combination is chosen by the counter (`select_n` over clip(counter, 0, 4)), which with zeros
///   in the unused entries gives the torch class's orders 1–4;
/// - a linear multistep step's previous timestep is clamped at 0, so the last step lands on ᾱ_0 and
///   `set_alpha_to_one` (ᾱ = 1 after the last step) never takes effect there, unlike the torch class;
/// - the class has no `timestep_spacing` (always "leading" plus `steps_offset`): another spacing is refused.
/// Where diffusers raises on a Runge–Kutta stage of fewer than four steps, the steps of `skip_prk_steps` are taken,
/// as `Pndm.setTimesteps` does.
[<RequireQualifiedAccess>]
module PndmFlax =

    let private ops = NdArrayBackend.Default :> IBackend<NdArray, PrngKey>

    /// The config when the Flax class can run it: `Pndm.validate` and "leading" spacing.
    let validate (config: PndmConfig) : PndmConfig =
        let c = Pndm.validate config
        if c.TimestepSpacing <> TimestepSpacing.Leading then
            invalidArg "timestep_spacing" (sprintf "timestep_spacing is \"%s\" but FlaxPNDMScheduler has only \"leading\" spacing" c.TimestepSpacing.Text)
        c

    /// `create_state()`: the Flax flavour's tables, `final_alpha_cumprod`, timesteps [N−1 … 0], no history yet.
    let create (config: PndmConfig) : PndmFlaxState =
        let tables: PndmState<NdArray> = Pndm.createWith Flavour.Flax (validate config)
        let none = NdArray.zeros [| 0 |]
        { Tables = tables; Shape = [||]; Ets = []; CurModelOutput = none; CurSample = none; Counter = 0 }

    /// `set_timesteps(state, n, shape)`: "leading" timesteps plus `steps_offset`, the two stages, and a history of
    /// zeros of `shape`.
    let setTimesteps (n: int) (shape: int[]) (state: PndmFlaxState) : PndmFlaxState =
        if shape |> Array.exists (fun d -> d < 0) then
            invalidArg "shape" "shape must be an array of non-negative sizes"
        let tables = Pndm.setTimesteps n state.Tables
        let zeros = NdArray.zeros shape
        { Tables = tables
          Shape = Array.copy shape
          Ets = List.replicate 4 zeros
          CurModelOutput = zeros
          CurSample = zeros
          Counter = 0 }

    /// `scale_model_input`: the sample unchanged.
    let scaleModelInput (_: PndmFlaxState) (sample: NdArray) : NdArray = sample

    /// The history with `e` appended and the oldest entry dropped (`ets.at[0:3].set(ets[1:4]).at[3].set(e)`).
    let private shifted (ets: NdArray list) (e: NdArray) = List.tail ets @ [ e ]

    /// `step_prk`: evaluation `counter % 4` of a Runge–Kutta step, as `Pndm.stepPrkOn` with the fixed buffers.
    let private stepPrk (state: PndmFlaxState) (n: int) (modelOutput: NdArray) (timestep: int64) (sample: NdArray) =
        let tables = state.Tables
        let counter = state.Counter
        let half = int64 (tables.Config.NumTrainTimesteps / n / 2)
        let prevTimestep = timestep - (if counter % 2 = 1 then 0L else half)
        let t = tables.PrkTimesteps[counter / 4 * 4]
        let sixth = float32 (1.0 / 6.0)
        let third = float32 (1.0 / 3.0)
        let plus (weight: float32) = Backend.lin ops [ 1.0f, state.CurModelOutput; weight, modelOutput ]
        let next, output =
            match counter % 4 with
            | 0 -> { state with CurModelOutput = plus sixth; Ets = shifted state.Ets modelOutput; CurSample = sample }, modelOutput
            | 1
            | 2 -> { state with CurModelOutput = plus third }, modelOutput
            | _ -> { state with CurModelOutput = NdArray.zeros state.Shape }, plus sixth
        let prev = Pndm.prevSampleOn ops tables next.CurSample t prevTimestep output
        struct ({ next with Counter = counter + 1 }, { PrevSample = prev })

    /// `step_plms`: one linear multistep step with the combination of order clip(counter, 0, 4); at counter 1 the
    /// second-order start repeats the first step from its sample with (e₁ + e₂)/2.
    let private stepPlms (state: PndmFlaxState) (n: int) (modelOutput: NdArray) (timestep: int64) (sample: NdArray) =
        let tables = state.Tables
        let ratio = int64 (tables.Config.NumTrainTimesteps / n)
        let counter = state.Counter
        let timestep, prevTimestep =
            if counter = 1 then timestep + ratio, timestep else timestep, max (timestep - ratio) 0L
        let ets, curSample =
            if counter <> 1 then shifted state.Ets modelOutput, sample else state.Ets, state.CurSample
        let e = List.rev ets |> List.toArray
        let flavour = tables.Flavour
        let combined =
            match min counter 4 with
            | 0 -> modelOutput
            | 1 -> Backend.divideAs ops flavour (Backend.lin ops [ 1.0f, modelOutput; 1.0f, e[0] ]) 2.0f
            | 2 -> Backend.divideAs ops flavour (Backend.lin ops [ 3.0f, e[0]; -1.0f, e[1] ]) 2.0f
            | 3 -> Backend.divideAs ops flavour (Backend.lin ops [ 23.0f, e[0]; -16.0f, e[1]; 5.0f, e[2] ]) 12.0f
            | _ -> Backend.scale ops (float32 (1.0 / 24.0)) (Backend.lin ops [ 55.0f, e[0]; -59.0f, e[1]; 37.0f, e[2]; -9.0f, e[3] ])
        let prev = Pndm.prevSampleOn ops tables curSample timestep prevTimestep combined
        struct ({ state with Ets = ets; CurSample = curSample; CurModelOutput = combined; Counter = counter + 1 }, { PrevSample = prev })

    /// `step(state, model_output, timestep, sample)`: the Runge–Kutta stage while it lasts, then linear multistep
    /// steps. Returns the next state and the previous sample; the state given is not changed.
    let step (state: PndmFlaxState) (modelOutput: NdArray) (timestep: int64) (sample: NdArray) : struct (PndmFlaxState * PndmOutput<NdArray>) =
        let n =
            match state.Tables.NumInferenceSteps with
            | Some n -> n
            | None -> invalidOp "the number of inference steps is not set; call setTimesteps (set_timesteps) before step"
        if not (Shapes.same state.Shape sample.Shape) then
            invalidArg "sample" (sprintf "sample has shape %s but set_timesteps was given %s" sample.ShapeText (Shapes.text state.Shape))
        Backend.checkSame ops "sample" sample "model_output" modelOutput
        if timestep < 0L || timestep >= int64 state.Tables.Config.NumTrainTimesteps then
            raise (ArgumentOutOfRangeException("timestep", timestep, sprintf "timestep must lie in [0, %d)" state.Tables.Config.NumTrainTimesteps))
        if not state.Tables.SkipPrk && state.Counter < state.Tables.PrkTimesteps.Length then stepPrk state n modelOutput timestep sample
        else stepPlms state n modelOutput timestep sample

    /// `add_noise(state, original, noise, timesteps)` (`VpCommon.addNoise` on the Flax tables).
    let addNoise (state: PndmFlaxState) (original: NdArray) (noise: NdArray) (timesteps: int64[]) : NdArray =
        VpCommon.addNoise ops state.Tables.Common original noise timesteps
