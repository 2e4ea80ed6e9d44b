namespace Schedulers.Core

open System.Collections.Generic

/// The end of a sampling loop: the final state, the last iteration's output (none for zero steps) and the sample the
/// pipeline returns.
type LoopResult<'State, 'Output, 'T> =
    { /// The state after the last iteration.
      State: 'State
      /// The last iteration's output, if there was one. Its tensors belong to the caller.
      Last: 'Output voption
      /// What the pipeline returns: the scheduler's `Result` of the last output, or the input for zero steps.
      Sample: 'T }

/// The one sampling loop, over any scheduler of the one shape (`IScheduler`) and any backend: for i = 0 … steps − 1,
/// `state, output ← Step(model, draw, state, i, x)` and `x ← Sample output`, reporting `StepProgress` after every
/// iteration and releasing each output's tensors (`IBackend.Release`) once the next iteration has run — never the
/// input sample, never what it returns.
module Loop =

    /// Draw sources from a noise stream: each call advances the carried source and returns the one to draw from.
    let draws (stream: NoiseStream<'N>) (noise: 'N) : unit -> 'N =
        let carried = ref noise
        fun () ->
            let struct (next, draw) = stream carried.Value
            carried.Value <- next
            draw

    /// A stream that draws every time from the same source (a stateful `torch.Generator`, which advances itself).
    let shared: NoiseStream<'N> = fun n -> struct (n, n)

    /// Runs every iteration of a state after `SetTimesteps` (from its `FirstIndex`) from `sample`, with noise drawn from `stream` starting at
    /// `noise`; `progress` sees each output (valid during the callback).
    let run
        (scheduler: IScheduler<'State, 'T, 'Output>)
        (ops: IBackend<'T, 'N>)
        (model: 'T -> ModelQuery -> 'T)
        (stream: NoiseStream<'N>)
        (noise: 'N)
        (progress: StepProgress<'Output> -> unit)
        (state: 'State)
        (sample: 'T)
        : LoopResult<'State, 'Output, 'T> =
        let steps = scheduler.Steps state
        let draw = draws stream noise
        let mutable current = state
        let mutable x = sample
        let mutable last = ValueNone
        // Releases every tensor of an output that is none of the kept ones (each at most once).
        let releaseExcept (output: 'Output) (keep: 'T list) =
            let seen = HashSet<'T>(HashIdentity.Reference)
            for t in scheduler.Tensors output do
                if seen.Add t && not (keep |> List.exists (fun k -> obj.ReferenceEquals(k, t))) then
                    ops.Release t
        let given = scheduler.StateTensors state
        for i in scheduler.FirstIndex state .. steps - 1 do
            let struct (next, output) = scheduler.Step(ops, model, draw, current, i, x)
            progress { Step = i; Steps = steps; Timestep = scheduler.TimestepAt(current, i); Output = output }
            match last with
            | ValueSome previous -> releaseExcept previous [ sample ]
            | ValueNone -> ()
            // History the step dropped (made by this loop: never what the given state held).
            let kept = scheduler.StateTensors next
            for t in scheduler.StateTensors current do
                let inUse (k: 'T) = obj.ReferenceEquals(k, t)
                if not (List.exists inUse kept) && not (List.exists inUse given) && not (obj.ReferenceEquals(t, sample)) then
                    ops.Release t
            current <- next
            last <- ValueSome output
            x <- scheduler.Sample output
        { State = current
          Last = last
          Sample =
            match last with
            | ValueSome output -> scheduler.Result output
            | ValueNone -> sample }
