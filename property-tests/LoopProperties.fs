module Schedulers.PropertyTests.LoopProperties

open System.Collections.Generic
open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open Schedulers.Core

/// A backend that records what it makes and what it is told to release, over the core backend (fused stages on)
/// or its op-by-op form.
type private Recording(inner: IBackend<NdArray, PrngKey>) =
    let made = HashSet<NdArray>(HashIdentity.Reference)
    let released = List<NdArray>()
    let keep (x: NdArray) =
        made.Add x |> ignore
        x
    let keepVo (x: NdArray voption) = x |> ValueOption.map keep
    member _.Made = made
    member _.Released = released
    interface IBackend<NdArray, PrngKey> with
        member _.Shape(x) = inner.Shape x
        member _.Combine(terms) = keep (inner.Combine terms)
        member _.Divide(x, d) = keep (inner.Divide(x, d))
        member _.BatchNorms(x) = inner.BatchNorms x
        member _.Norm(x) = inner.Norm x
        member _.Normal(noise, like) = keep (inner.Normal(noise, like))
        member _.FirstChannels(x, count) = keep (inner.FirstChannels(x, count))
        member _.LastChannels(x, count) = keep (inner.LastChannels(x, count))
        member _.LearnedVarianceNoise(v, bounds, z) = keep (inner.LearnedVarianceNoise(v, bounds, z))
        member _.Threshold(x, ratio, maxValue) = keep (inner.Threshold(x, ratio, maxValue))
        member _.Clamp(x, lo, hi) = keep (inner.Clamp(x, lo, hi))
        member _.Release(x) = released.Add x
        member _.TryCombineThenAdd(terms, scale, z) =
            inner.TryCombineThenAdd(terms, scale, z) |> ValueOption.map (fun struct (a, b) -> struct (keep a, keep b))
        member _.TryCombineWithNoise(terms, scale, noise) =
            inner.TryCombineWithNoise(terms, scale, noise) |> ValueOption.map (fun struct (a, b) -> struct (keep a, keep b))
        member _.TryChurn(s, c, x, z) = keepVo (inner.TryChurn(s, c, x, z))
        member _.TryChurnWithNoise(s, c, x, n) = keepVo (inner.TryChurnWithNoise(s, c, x, n))
        member _.TryKarrasEuler(p, x, m) =
            inner.TryKarrasEuler(p, x, m) |> ValueOption.map (fun struct (a, b, c) -> struct (keep a, keep b, keep c))
        member _.TryKarrasHeun(p, x, xp, m, d) =
            inner.TryKarrasHeun(p, x, xp, m, d) |> ValueOption.map (fun struct (a, b) -> struct (keep a, keep b))
        member _.TryDpmUpdate(p, x, outputs, z) = keepVo (inner.TryDpmUpdate(p, x, outputs, z))
        member _.TryRun(p, inputs, noise) =
            inner.TryRun(p, inputs, noise)
            |> ValueOption.map (Array.map (fun x -> if Array.exists (fun i -> obj.ReferenceEquals(i, x)) inputs then x else keep x))

/// One scheduler of the one shape with a model, run end to end by `Loop.run` on a backend; returns the result.
type private Case =
    { Name: string
      Run: IBackend<NdArray, PrngKey> -> int -> NdArray -> NdArray }

let private shape = [| 2; 3; 4 |]

/// A model that makes a new tensor through the backend (so the recording sees it): −x/(σ² + 1), a scaled score.
let private model (ops: IBackend<NdArray, PrngKey>) (x: NdArray) (q: ModelQuery) =
    Backend.scale ops (float32 (-1.0 / (q.Sigma * q.Sigma + 1.0))) x

let private keyStream: NoiseStream<PrngKey> = fun key -> let ks = Prng.split 2 key in struct (ks[0], ks[1])

let private case (name: string) (scheduler: IScheduler<'S, NdArray, 'O>) (flavour: Flavour) : Case =
    { Name = name
      Run =
        fun ops steps sample ->
            let state = scheduler.SetTimesteps(steps, sample.Shape, scheduler.Create flavour)
            (Loop.run scheduler ops (model ops) keyStream (Prng.key 3L) ignore state sample).Sample }

let private cases (flavour: Flavour) =
    [ case "ScoreSdeVe" (ScoreSdeVe.scheduler { ScoreSdeVe.defaults with CorrectSteps = 2 }) flavour
      case "KarrasVe" (KarrasVe.scheduler KarrasVe.defaults) flavour
      case "EdmHeun" (EdmHeun.scheduler EdmHeun.defaults) flavour
      case "DPM-Solver++ 3M" (DpmSolverMultistep.scheduler { DpmSolverConfig.defaults with SolverOrder = 3 }) flavour
      case "SDE-DPM-Solver++ 2M" (DpmSolverMultistep.scheduler { DpmSolverConfig.defaults with AlgorithmType = AlgorithmType.SdeDpmSolverPlusPlus }) flavour
      case "DPM-Solver 3M (sample prediction)" (DpmSolverMultistep.scheduler { DpmSolverConfig.defaults with AlgorithmType = AlgorithmType.DpmSolver; SolverOrder = 3; PredictionType = PredictionType.Sample; FinalSigmasType = FinalSigmasType.SigmaMin }) flavour
      case "DPM-Solver++ 2M (thresholding)" (DpmSolverMultistep.scheduler { DpmSolverConfig.defaults with Thresholding = true }) flavour
      case "DDIM (v-prediction, thresholding)" (Ddim.scheduler { Ddim.defaults with PredictionType = PredictionType.VPrediction; Thresholding = true }) flavour
      case "PNDM (PRK then PLMS)" (Pndm.scheduler Pndm.defaults) flavour
      case "LMS (Karras sigmas)" (Lms.scheduler { Lms.defaults with UseKarrasSigmas = true }) flavour
      case "Euler (Karras sigmas)" (Euler.scheduler { Euler.defaults with UseKarrasSigmas = true }) flavour ]
    @ (if obj.ReferenceEquals(flavour, Flavour.Flax) then [ case "DPM-Solver Flax" (DpmSolverMultistepFlax.scheduler DpmSolverConfig.defaults) flavour ] else [])
    @ (if obj.ReferenceEquals(flavour, Flavour.Torch) then
           [ case "DDPM (fixed_small_log, thresholding)" (Ddpm.scheduler { Ddpm.defaults with VarianceType = DdpmVarianceType.FixedSmallLog; Thresholding = true }) flavour
             case "DDPM (fixed_small, noise inside the pass)" (Ddpm.scheduler Ddpm.defaults) flavour
             case "DDIM (eta 0.7, noise inside the pass)" (Ddim.schedulerWithEta 0.7 Ddim.defaults) flavour
             case "Euler (churn, noise inside the pass)"
                 (Euler.schedulerWithChurn { Euler.noChurn with SChurn = 2.0; SNoise = 1.003 } Euler.defaults) flavour ]
       else [])

/// Every scheduler's whole loop gives the same bits with the fused stages as op by op, in both flavours.
[<Property(MaxTest = 20)>]
let ``every scheduler's loop is bit-identical fused and op by op`` (torch: bool) (steps: PositiveInt) (key: PrngKey) =
    let steps = 2 + steps.Get % 6
    let sample = NdArray.normal shape key
    cases (if torch then Flavour.Torch else Flavour.Flax)
    |> List.map (fun c ->
        let fused = c.Run NdArrayBackend.Default steps sample
        let opByOp = c.Run (OpByOpBackend(NdArrayBackend.Default)) steps sample
        (fused = opByOp) |> Prop.label c.Name)
    |> List.reduce (.&.)

/// The loop's lifetime hook: it never releases its input or its result, never releases a tensor twice or one it did
/// not make, and releases enough that what stays alive does not grow with the number of steps.
[<Property(MaxTest = 10)>]
let ``every scheduler's loop releases what it made, once, and keeps a bounded number alive`` (key: PrngKey) =
    let sample = NdArray.normal shape key
    let live (c: Case) (steps: int) =
        let recording = Recording(NdArrayBackend.Default)
        let result = c.Run recording steps sample
        let released = recording.Released
        let distinct = HashSet<NdArray>(released, HashIdentity.Reference)
        let ok =
            distinct.Count = released.Count
            && not (distinct.Contains sample)
            && not (distinct.Contains result)
            && distinct |> Seq.forall recording.Made.Contains
        ok, recording.Made.Count - distinct.Count
    cases Flavour.Torch
    |> List.map (fun c ->
        let ok4, alive4 = live c 4
        let ok12, alive12 = live c 12
        (ok4 && ok12 && alive12 = alive4) |> Prop.label (sprintf "%s: alive %d after 4 steps, %d after 12" c.Name alive4 alive12))
    |> List.reduce (.&.)

/// Buffer donation (`DonatingBackend`): every scheduler's loop gives the bits of the core backend, the arrays it
/// allocates do not grow with the number of steps — what the loop releases is reused, as JAX reuses donated buffers —
/// and every array it releases was made by the pool (fused stages included).
[<Property(MaxTest = 5)>]
let ``a donating backend gives the same bits and allocates a bounded number of arrays`` (key: PrngKey) =
    let sample = NdArray.normal shape key
    cases Flavour.Torch
    |> List.map (fun c ->
        let reference = c.Run NdArrayBackend.Default 30 sample
        let short = DonatingBackend()
        c.Run short 6 sample |> ignore
        let long = DonatingBackend()
        let donated = c.Run long 30 sample
        (donated = reference && long.Allocations <= short.Allocations && long.Reuses > 0 && long.ForeignReleases = 0)
        |> Prop.label (sprintf "%s: %d arrays for 6 steps, %d for 30 (%d reuses, %d foreign releases)" c.Name short.Allocations long.Allocations long.Reuses long.ForeignReleases))
    |> List.reduce (.&.)
