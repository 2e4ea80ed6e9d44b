/// Whole DPM-Solver sampling loops over a model function: the torch-flavour loop (any backend through
/// `IDpmTensorOps`) and the Flax-flavour loop (NdArray), each reporting progress after every step.
module Schedulers.Core.MultistepSampling

/// Progress of a loop: the step just finished (0-based), the number of steps, the timestep and the new sample.
type MultistepProgress<'T> =
    { /// The index of the step just finished.
      Step: int
      /// The number of steps of the run.
      Steps: int
      /// The timestep the model was evaluated at.
      Timestep: int64
      /// The order of the update used.
      Order: int
      /// The sample after the step.
      Sample: 'T }

/// Runs every timestep of a scheduler state (set_timesteps already called): `x ← step(model(x, t), t, x)`, the
/// model called with the sample and the integer timestep, SDE noise drawn from `noise`. Returns the final sample
/// and state; `progress` sees every step.
let run (ops: IDpmTensorOps<'T, 'Noise>) (noise: 'Noise) (model: 'T -> int64 -> 'T) (progress: MultistepProgress<'T> -> unit) (sample: 'T) (state: DpmSolverState<'T>) : 'T * DpmSolverState<'T> =
    if state.NumInferenceSteps.IsNone then
        invalidOp "the number of inference steps is not set; call setTimesteps before run"
    let timesteps = state.Timesteps
    // Starting from an explicit begin index (0 for a whole run, as diffusers' newer pipelines do) keeps a duplicated
    // first timestep from being looked up at its second occurrence, which would skip a step and run past the end.
    let start = match state.BeginIndex with Some b -> b | None -> 0
    let mutable x = sample
    let mutable s = if state.StepIndex.IsNone then DpmSolverMultistep.setBeginIndex start state else state
    for i in start .. timesteps.Length - 1 do
        let t = timesteps[i]
        let r = DpmSolverMultistep.stepWith ops noise ValueNone (model x t) t x s
        x <- r.PrevSample
        s <- r.State
        progress { Step = i; Steps = timesteps.Length; Timestep = t; Order = r.Order; Sample = x }
    x, s

/// The Flax-flavour loop: set_timesteps(n, shape of `sample`), then `x, state ← step(state, model(x, t), t, x)` for
/// every timestep. Returns the final sample and state.
let runFlax (model: NdArray -> int -> NdArray) (progress: MultistepProgress<NdArray> -> unit) (n: int) (sample: NdArray) (state: FlaxDpmSolverState) : NdArray * FlaxDpmSolverState =
    let mutable s = DpmSolverMultistepFlax.setTimesteps state n sample.Shape
    let mutable x = sample
    let timesteps = s.Timesteps
    for i in 0 .. timesteps.Length - 1 do
        let t = timesteps[i]
        let r = DpmSolverMultistepFlax.step s (model x t) t x
        x <- r.PrevSample
        s <- r.State
        progress { Step = i; Steps = timesteps.Length; Timestep = int64 t; Order = r.Order; Sample = x }
    x, s
