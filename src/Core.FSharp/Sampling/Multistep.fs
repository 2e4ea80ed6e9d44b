/// Whole DPM-Solver sampling loops over a model function: the torch-flavour loop (any backend through
/// `IBackend`) and the Flax-flavour loop (NdArray), each reporting progress after every step.
module Schedulers.Core.MultistepSampling

/// Runs every timestep of a scheduler state (set_timesteps already called; from the begin index when one is set):
/// `x ← step(model(x, t), t, x)` — `Loop.run` with `DpmSolverMultistep.scheduler`, the model called with the sample
/// and the integer timestep, SDE noise drawn from `noise` (the same source every step, as a torch generator is
/// shared). Returns the final sample and state; `progress` sees every step.
let run (ops: IBackend<'T, 'Noise>) (noise: 'Noise) (model: 'T -> int64 -> 'T) (progress: StepProgress<DpmStepResult<'T>> -> unit) (sample: 'T) (state: DpmSolverState<'T>) : 'T * DpmSolverState<'T> =
    if state.NumInferenceSteps.IsNone then
        invalidOp "the number of inference steps is not set; call setTimesteps before run"
    let result = Loop.run (DpmSolverMultistep.scheduler state.Config) ops (fun x q -> model x (int64 q.Timestep)) Loop.shared noise progress state sample
    result.Sample, result.State

/// The Flax-flavour loop: set_timesteps(n, shape of `sample`), then `x, state ← step(state, model(x, t), t, x)` for
/// every timestep (`Loop.run` with `DpmSolverMultistepFlax.scheduler`). Returns the final sample and state.
let runFlax (model: NdArray -> int -> NdArray) (progress: StepProgress<FlaxDpmStepOutput> -> unit) (n: int) (sample: NdArray) (state: FlaxDpmSolverState) : NdArray * FlaxDpmSolverState =
    let scheduler = DpmSolverMultistepFlax.scheduler state.Config
    let ready = scheduler.SetTimesteps(n, sample.Shape, state)
    let result = Loop.run scheduler NdArrayBackend.Default (fun x q -> model x (int q.Timestep)) Loop.shared (Prng.key 0L) progress ready sample
    result.Sample, result.State
