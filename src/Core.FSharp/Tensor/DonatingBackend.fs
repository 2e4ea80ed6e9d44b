namespace Schedulers.Core

open System
open System.Collections.Generic

/// The core backend with buffer donation, as JAX donates a jitted function's input buffers: an array this backend
/// made and that its user gives back with `Release` (as `Loop.run` does with each step's temporaries and previous
/// outputs) returns its memory to a pool, and the next output of that length takes it instead of a new allocation.
/// A 50-step loop then allocates a bounded number of large arrays, not one per operation and step.
///
/// The contract is the one of donation: an array handed to `Release` must not be read again (a `StepProgress`
/// callback that keeps a step's output beyond the callback must copy it). Arrays this backend did not make (the
/// caller's inputs) are never pooled. Every result has the same bits as `NdArrayBackend` (it runs the same kernels).
/// One instance serves one loop at a time (its pool is locked, so sharing is safe, but donation across threads is
/// the caller's responsibility).
[<Sealed>]
type DonatingBackend(mode: ThreefryMode) =
    let gate = obj ()
    let pool = Dictionary<int, Stack<float32[]>>()
    let made = HashSet<float32[]>(HashIdentity.Reference)
    let mutable allocations = 0
    let mutable reuses = 0
    let mutable foreign = 0

    /// A buffer of `n` elements: a donated one if there is one, else a new uninitialised one.
    let take (n: int) : float32[] =
        lock gate (fun () ->
            let buffer =
                match pool.TryGetValue n with
                | true, stack when stack.Count > 0 ->
                    reuses <- reuses + 1
                    stack.Pop()
                | _ ->
                    allocations <- allocations + 1
                    GC.AllocateUninitializedArray<float32> n
            made.Add buffer |> ignore
            buffer)

    /// The core backend with every output taken from the pool: the fused stages donate as the plain operations do.
    let inner = NdArrayBackend(mode, take) :> IBackend<NdArray, PrngKey>

    /// The backend with JAX's default (partitionable) threefry mode.
    new() = DonatingBackend(ThreefryMode.Partitionable)

    /// Arrays allocated so far (each pooled array counts once, when first made).
    member _.Allocations = lock gate (fun () -> allocations)

    /// Outputs that took a donated buffer instead of a new one.
    member _.Reuses = lock gate (fun () -> reuses)

    /// Arrays handed to `Release` that this backend did not make (not pooled): 0 after a loop whose every stage ran
    /// here, since a loop never releases its caller's input.
    member _.ForeignReleases = lock gate (fun () -> foreign)

    interface IBackend<NdArray, PrngKey> with
        member _.Shape(x) = inner.Shape x
        member _.Combine(terms) = inner.Combine terms
        member _.Divide(x, d) = inner.Divide(x, d)
        member _.BatchNorms(x) = inner.BatchNorms x
        member _.Norm(x) = inner.Norm x
        member _.Normal(key, like) = inner.Normal(key, like)
        member _.FirstChannels(x, count) = inner.FirstChannels(x, count)
        member _.LastChannels(x, count) = inner.LastChannels(x, count)
        member _.LearnedVarianceNoise(v, bounds, z) = inner.LearnedVarianceNoise(v, bounds, z)
        member _.Threshold(x, ratio, maxValue) = inner.Threshold(x, ratio, maxValue)
        member _.Clamp(x, lo, hi) = inner.Clamp(x, lo, hi)
        member _.Release(x) =
            let buffer = x.Buffer
            lock gate (fun () ->
                if not (made.Remove buffer) then foreign <- foreign + 1
                else
                    match pool.TryGetValue buffer.Length with
                    | true, stack -> stack.Push buffer
                    | _ ->
                        let stack = Stack<float32[]>()
                        stack.Push buffer
                        pool[buffer.Length] <- stack)
        member _.TryCombineThenAdd(terms, scale, z) = inner.TryCombineThenAdd(terms, scale, z)
        member _.TryCombineWithNoise(terms, scale, key) = inner.TryCombineWithNoise(terms, scale, key)
        member _.TryChurn(sNoise, scale, sample, z) = inner.TryChurn(sNoise, scale, sample, z)
        member _.TryChurnWithNoise(sNoise, scale, sample, key) = inner.TryChurnWithNoise(sNoise, scale, sample, key)
        member _.TryKarrasEuler(plan, sampleHat, modelOutput) = inner.TryKarrasEuler(plan, sampleHat, modelOutput)
        member _.TryKarrasHeun(plan, sampleHat, samplePrev, modelOutput, derivative) =
            inner.TryKarrasHeun(plan, sampleHat, samplePrev, modelOutput, derivative)
        member _.TryDpmUpdate(plan, sample, outputs, noise) = inner.TryDpmUpdate(plan, sample, outputs, noise)
        member _.TryRun(program, inputs, keys) = inner.TryRun(program, inputs, keys)
