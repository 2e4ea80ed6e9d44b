/// Whole DPM-Solver sampling loops over a model function: the torch-flavour loop (any backend through
/// `IBackend`) and the Flax-flavour loop (NdArray), each reporting progress after every step.
module Schedulers.Core.MultistepSampling

/// Runs every timestep of a scheduler state (set_timesteps already called): `x ← step(model(x, t), t, x)`, the
/// model called with the sample and the integer timestep, SDE noise drawn from `noise`. Returns the final sample
/// and state; `progress` sees every step. Model outputs and intermediate samples the loop made are released once
/// used (never `sample`, never a tensor the state's history still holds).
let run (ops: IBackend<'T, 'Noise>) (noise: 'Noise) (model: 'T -> int64 -> 'T) (progress: StepProgress<DpmStepResult<'T>> -> unit) (sample: 'T) (state: DpmSolverState<'T>) : 'T * DpmSolverState<'T> =
    if state.NumInferenceSteps.IsNone then
        invalidOp "the number of inference steps is not set; call setTimesteps before run"
    let timesteps = state.Timesteps
    // Starting from an explicit begin index (0 for a whole run, as diffusers' newer pipelines do) keeps a duplicated
    // first timestep from being looked up at its second occurrence, which would skip a step and run past the end.
    let start = match state.BeginIndex with Some b -> b | None -> 0
    let mutable x = sample
    let mutable s = if state.StepIndex.IsNone then DpmSolverMultistep.setBeginIndex start state else state
    let held (st: DpmSolverState<'T>) (y: 'T) = st.ModelOutputs |> Array.exists (function Some m -> obj.ReferenceEquals(m, y) | None -> false)
    for i in start .. timesteps.Length - 1 do
        let t = timesteps[i]
        let output = model x t
        let r = DpmSolverMultistep.stepWith ops noise ValueNone output t x s
        s <- r.State
        if not (obj.ReferenceEquals(output, x)) && not (held s output) then ops.Release output
        if not (obj.ReferenceEquals(x, sample)) && not (held s x) then ops.Release x
        x <- r.PrevSample
        progress { Step = i; Steps = timesteps.Length; Timestep = float t; Output = r }
    x, s

/// The Flax-flavour loop: set_timesteps(n, shape of `sample`), then `x, state ← step(state, model(x, t), t, x)` for
/// every timestep. Returns the final sample and state.
let runFlax (model: NdArray -> int -> NdArray) (progress: StepProgress<FlaxDpmStepOutput> -> unit) (n: int) (sample: NdArray) (state: FlaxDpmSolverState) : NdArray * FlaxDpmSolverState =
    let mutable s = DpmSolverMultistepFlax.setTimesteps state n sample.Shape
    let mutable x = sample
    let timesteps = s.Timesteps
    for i in 0 .. timesteps.Length - 1 do
        let t = timesteps[i]
        let r = DpmSolverMultistepFlax.step s (model x t) t x
        x <- r.PrevSample
        s <- r.State
        progress { Step = i; Steps = timesteps.Length; Timestep = float t; Output = r }
    x, s
