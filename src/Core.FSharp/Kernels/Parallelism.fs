namespace Schedulers.Core

open System
open System.Threading.Tasks

/// Process-wide settings of the core's bulk kernels (like `torch.set_num_threads`): how many threads a large
/// elementwise pass may use (the processor count unless set; benchmarks set it to 1 to measure one core) and whether
/// normals come from the exact table. The core reads no environment: `Apply` takes the variables from a lookup the
/// caller gives (the `schedulers` tool passes the process environment).
[<AbstractClass; Sealed>]
type KernelSettings private () =
    static let mutable maxThreads = Environment.ProcessorCount

    static let mutable normalTable = false

    static let mutable parallelThreshold = 1 <<< 18

    /// The most threads one kernel call may use (at least 1).
    static member MaxThreads
        with get () = maxThreads
        and set (value: int) =
            if value < 1 then
                raise (ArgumentOutOfRangeException("value", value, "MaxThreads must be at least 1"))
            maxThreads <- value

    /// Whether large JAX-exact normal draws use the exact 32 MiB lookup table (see `NormalTable`) instead of
    /// computing each value; both give the same bits. Off unless set (or `SCHEDULERS_NORMAL_TABLE=1` applied): the lookups are
    /// random over 32 MiB, and where the table does not stay in cache (docs/performance.md) they cost more than the
    /// computation.
    static member UseNormalTable
        with get () = normalTable
        and set (value: bool) = normalTable <- value

    /// Applies `SCHEDULERS_NUM_THREADS` (a whole number ≥ 1; anything else is ignored) and `SCHEDULERS_NORMAL_TABLE`
    /// (`1` turns the table on) as `variable` reports them, e.g. `Environment.GetEnvironmentVariable`.
    static member Apply(variable: Func<string, string | null>) =
        match variable.Invoke "SCHEDULERS_NUM_THREADS" with
        | null -> ()
        | text ->
            match Int32.TryParse text with
            | true, n when n >= 1 -> maxThreads <- n
            | _ -> ()
        match variable.Invoke "SCHEDULERS_NORMAL_TABLE" with
        | null -> ()
        | text -> normalTable <- (text = "1")

    /// Arrays shorter than this many elements are processed on the calling thread (a pass over them takes less
    /// time than waking another thread): 2^18 unless set. `schedulers bench --quick` measures where two threads
    /// start to pay on the machine (`threads_crossover_elems`); set it from that figure. At least 1024.
    static member ParallelThreshold
        with get () = parallelThreshold
        and set (value: int) =
            if value < 1024 then
                raise (ArgumentOutOfRangeException("value", value, "ParallelThreshold must be at least 1024"))
            parallelThreshold <- value

/// Splitting an elementwise pass into contiguous chunks processed in parallel.
module internal Parallelism =

    /// The chunk granularity: a multiple of every vector width, so only the last chunk has a scalar tail.
    [<Literal>]
    let Align = 64

    /// Calls `body start length` over contiguous chunks covering [0, n): on the calling thread when n is below
    /// the threshold or one thread is allowed, else one chunk per thread, using at most `threads` threads (and at
    /// most `KernelSettings.MaxThreads` and the processor count).
    let forChunksUpTo (threads: int) (n: int) (body: int -> int -> unit) =
        let threads = min threads (min KernelSettings.MaxThreads Environment.ProcessorCount)
        if n < KernelSettings.ParallelThreshold || threads <= 1 then
            body 0 n
        else
            let per = ((n + threads - 1) / threads + Align - 1) / Align * Align
            let chunks = (n + per - 1) / per
            let options = ParallelOptions(MaxDegreeOfParallelism = threads)
            Parallel.For(0, chunks, options, fun c ->
                let start = c * per
                body start (min per (n - start))) |> ignore

    /// `forChunksUpTo` with as many threads as `KernelSettings.MaxThreads` allows.
    let forChunks (n: int) (body: int -> int -> unit) = forChunksUpTo Int32.MaxValue n body
