namespace Schedulers.Core

open System

/// The two properties of a CUDA device that torch's random kernels read to size their grid
/// (`cudaDeviceProp.multiProcessorCount` and `maxThreadsPerMultiProcessor`, in `calc_execution_policy`).
type CudaDevice =
    { /// A name for messages and docs (torch.cuda.get_device_name).
      Name: string
      /// Streaming multiprocessors (torch.cuda.get_device_properties(d).multi_processor_count).
      MultiprocessorCount: int
      /// Resident threads per multiprocessor (`max_threads_per_multi_processor`): 2048 on data-centre parts
      /// (V100, A100, H100), 1536 on most consumer and workstation Ampere/Ada/Blackwell GPUs, 1024 on Turing.
      MaxThreadsPerMultiprocessor: int }

    /// The largest draw whose stream does not depend on the device: up to this many values every thread makes one
    /// round (`multiprocessors · (maxThreads / 256) · 256`), so any device at least this large gives the same values.
    member d.UniformLayoutLimit = int64 d.MultiprocessorCount * int64 (d.MaxThreadsPerMultiprocessor / 256) * 256L

/// Named devices (their multiprocessor counts and threads per multiprocessor as the CUDA runtime reports them).
/// Only draws larger than a device's `UniformLayoutLimit` depend on which one is chosen.
module CudaDevices =

    /// Validates a user-made description: both counts positive, at least one 256-thread block per multiprocessor.
    let create (name: string) (multiprocessors: int) (maxThreadsPerMultiprocessor: int) : CudaDevice =
        if multiprocessors < 1 || multiprocessors > 100_000 then
            invalidArg "multiprocessors" (sprintf "multiprocessors is %d but must be between 1 and 100000" multiprocessors)
        if maxThreadsPerMultiprocessor < 256 || maxThreadsPerMultiprocessor > 65_536 then
            invalidArg "maxThreadsPerMultiprocessor"
                (sprintf "maxThreadsPerMultiprocessor is %d but must be between 256 and 65536" maxThreadsPerMultiprocessor)
        { Name = name; MultiprocessorCount = multiprocessors; MaxThreadsPerMultiprocessor = maxThreadsPerMultiprocessor }

    /// NVIDIA H100 SXM (80 GB HBM3): 132 × 2048. The device of the golden streams.
    let H100Sxm = create "NVIDIA H100 80GB HBM3" 132 2048
    /// NVIDIA H100 PCIe: 114 × 2048.
    let H100Pcie = create "NVIDIA H100 PCIe" 114 2048
    /// NVIDIA A100 (40 or 80 GB, SXM or PCIe): 108 × 2048.
    let A100 = create "NVIDIA A100" 108 2048
    /// NVIDIA V100: 80 × 2048.
    let V100 = create "Tesla V100" 80 2048
    /// NVIDIA L4: 58 × 1536.
    let L4 = create "NVIDIA L4" 58 1536
    /// NVIDIA A10: 72 × 1536.
    let A10 = create "NVIDIA A10" 72 1536
    /// NVIDIA T4: 40 × 1024.
    let T4 = create "Tesla T4" 40 1024
    /// GeForce RTX 4090: 128 × 1536.
    let Rtx4090 = create "NVIDIA GeForce RTX 4090" 128 1536
    /// GeForce RTX 4080: 76 × 1536.
    let Rtx4080 = create "NVIDIA GeForce RTX 4080" 76 1536
    /// GeForce RTX 3090: 82 × 1536.
    let Rtx3090 = create "NVIDIA GeForce RTX 3090" 82 1536
    /// GeForce RTX 3080 (10 GB): 68 × 1536.
    let Rtx3080 = create "NVIDIA GeForce RTX 3080" 68 1536

    /// Every preset by its short name (the CLI's `--cuda-device` values).
    let presets : (string * CudaDevice) list =
        [ "h100", H100Sxm; "h100-pcie", H100Pcie; "a100", A100; "v100", V100; "l4", L4; "a10", A10; "t4", T4
          "rtx4090", Rtx4090; "rtx4080", Rtx4080; "rtx3090", Rtx3090; "rtx3080", Rtx3080 ]

    /// The preset of that short name (case-insensitive), if there is one.
    let tryFind (name: string) : CudaDevice option =
        presets |> List.tryFind (fun (n, _) -> String.Equals(n, name, StringComparison.OrdinalIgnoreCase)) |> Option.map snd

/// How one `randn`/`rand` call of torch's CUDA kernels spreads a draw over threads (`calc_execution_policy` and
/// `distribution_elementwise_grid_stride_kernel`, aten/src/ATen/native/cuda/DistributionTemplates.h).
[<Struct>]
type TorchCudaLayout =
    { /// Blocks of 256 threads: ⌈n / 256⌉, capped at multiprocessors · (maxThreads / 256).
      Blocks: int64
      /// Threads in the grid (256 · blocks): element `k·stride·4 + ii·stride + idx` is value ii of thread idx's
      /// round k.
      Stride: int64
      /// Rounds each thread makes (one Philox output of 4 words each): ⌈n / (stride·4)⌉.
      Rounds: int64
      /// What the call adds to the generator's offset: 4 · rounds, rounded up to a multiple of 4
      /// (`CUDAGeneratorImpl::philox_cuda_state`).
      OffsetIncrement: uint64 }

/// The state of torch's CUDA generator (`CUDAGeneratorImpl`): its seed, its Philox offset per thread and the
/// device whose layout its kernels use. A value: every draw returns a new state.
[<Struct>]
type TorchCudaGenerator =
    { /// The seed (all 64 bits become the Philox key).
      Seed: uint64
      /// `philox_offset_per_thread`: where the next call's threads start in their subsequences (a multiple of 4).
      Offset: uint64
      /// The device the kernels run on.
      Device: CudaDevice }

/// torch's CUDA random streams as pure functions: `torch.Generator("cuda").manual_seed(s)` and what float32
/// `torch.rand`/`torch.randn` draw from it (spec torch-rng, "CUDA"). Every thread idx runs curand's Philox with
/// (seed, subsequence = idx, offset), as `curand_init` sets it up: its k-th counter is (offset/4 + k, idx).
module TorchCuda =

    /// torch's values per thread per round for float32 (`curand4_engine_calls`: one `curand_uniform4`/`curand_normal4`).
    [<Literal>]
    let private Unroll = 4L

    [<Literal>]
    let private BlockSize = 256L

    /// `torch.Generator("cuda").manual_seed(seed)` on that device: offset 0.
    let manualSeed (device: CudaDevice) (seed: uint64) : TorchCudaGenerator =
        { Seed = seed; Offset = 0UL; Device = device }

    /// The layout of a call drawing `count` float32 values on `device`.
    let layout (device: CudaDevice) (count: int64) : TorchCudaLayout =
        if count < 0L then invalidArg "count" (sprintf "count is %d but must be non-negative" count)
        if count = 0L then
            // torch returns before launching: nothing drawn, the offset unchanged.
            { Blocks = 0L; Stride = 0L; Rounds = 0L; OffsetIncrement = 0UL }
        else
            let cap = int64 device.MultiprocessorCount * (int64 device.MaxThreadsPerMultiprocessor / BlockSize)
            let blocks = min ((count + BlockSize - 1L) / BlockSize) cap
            let stride = BlockSize * blocks
            let rounds = (count - 1L) / (stride * Unroll) + 1L
            let increment = uint64 (rounds * 4L)
            { Blocks = blocks; Stride = stride; Rounds = rounds; OffsetIncrement = (increment + 3UL) / 4UL * 4UL }

    let private checkCount (count: int) =
        if count < 0 || count > Array.MaxLength then
            invalidArg "count" (sprintf "count is %d but must be between 0 and %d" count Array.MaxLength)

    /// Runs every thread's rounds and hands each Philox output (4 words) with the indices of its 4 values to
    /// `write`, which stores those below `count`. Returns the new state.
    let inline private launch (count: int) (g: TorchCudaGenerator) ([<InlineIfLambda>] write: int64 -> int64 -> struct (uint32 * uint32 * uint32 * uint32) -> unit) =
        let l = layout g.Device (int64 count)
        let k0 = uint32 g.Seed
        let k1 = uint32 (g.Seed >>> 32)
        let first = g.Offset / 4UL
        for k in 0L .. l.Rounds - 1L do
            let counter = first + uint64 k
            let c0 = uint32 counter
            let c1 = uint32 (counter >>> 32)
            let baseIndex = k * l.Stride * Unroll
            // Threads whose first value of this round lies beyond the draw write nothing. The threads write disjoint
            // elements, so large draws run them in chunks on several host threads.
            let threads = int (min l.Stride (int64 count - baseIndex))
            Parallelism.forChunks threads (fun start length ->
                for t in start .. start + length - 1 do
                    let idx = int64 t
                    write (baseIndex + idx) l.Stride (Philox.block k0 k1 c0 c1 (uint32 idx) (uint32 (idx >>> 32))))
        { g with Offset = g.Offset + l.OffsetIncrement }

    /// `_curand_uniform`: `x · 2^−32 + 2^−33` as one fused multiply-add on x rounded to float32, in (0, 1].
    let inline private curandUniform (x: uint32) =
        MathF.FusedMultiplyAdd(float32 x, 2.3283064e-10f, 2.3283064e-10f / 2.0f)

    /// `CURAND_2POW32_INV_2PI`: the float32 product of 2^−32 and 2π as curand's header writes it.
    let private inv2Pow32TwoPi = 2.3283064e-10f * 6.2831855f

    /// `_curand_box_muller(x, y)`: u from x, v = y·2^−32·2π + 2^−33·2π (fused), s = √(−2·log u), then
    /// (s·sin v, s·cos v) in that order. The device's `logf`/`sincosf` are not specified to the bit; these are the
    /// correctly rounded float32 values (double functions rounded once), within the golden tolerance of them.
    let inline private boxMuller (x: uint32) (y: uint32) : struct (float32 * float32) =
        let u = curandUniform x
        let v = MathF.FusedMultiplyAdd(float32 y, inv2Pow32TwoPi, inv2Pow32TwoPi / 2.0f)
        let s = MathF.Sqrt(-2.0f * float32 (Math.Log(float u)))
        struct (s * float32 (Math.Sin(float v)), s * float32 (Math.Cos(float v)))

    /// `torch.rand(count, device="cuda", generator=g)` in float32: `curand_uniform4` per thread and round, a value
    /// equal to 1 turned into 0 (torch reverses curand's (0, 1] bounds).
    let rand (count: int) (g: TorchCudaGenerator) : float32[] * TorchCudaGenerator =
        checkCount count
        let data = Array.zeroCreate<float32> count
        let n = int64 count
        let inline put (i: int64) (x: uint32) =
            if i < n then
                let u = curandUniform x
                data[int i] <- if u = 1.0f then 0.0f else u
        let g' =
            launch count g (fun i stride (struct (a, b, c, d)) ->
                put i a
                put (i + stride) b
                put (i + 2L * stride) c
                put (i + 3L * stride) d)
        data, g'

    /// `torch.randn(count, device="cuda", generator=g)` in float32: `curand_normal4` per thread and round, values
    /// (s₁ sin v₁, s₁ cos v₁, s₂ sin v₂, s₂ cos v₂) from the words (x, y) and (z, w).
    let randn (count: int) (g: TorchCudaGenerator) : float32[] * TorchCudaGenerator =
        checkCount count
        let data = Array.zeroCreate<float32> count
        let n = int64 count
        let inline put (i: int64) (v: float32) = if i < n then data[int i] <- v
        let g' =
            launch count g (fun i stride (struct (a, b, c, d)) ->
                let struct (n0, n1) = boxMuller a b
                put i n0
                if i + stride < n then
                    put (i + stride) n1
                    let struct (n2, n3) = boxMuller c d
                    put (i + 2L * stride) n2
                    put (i + 3L * stride) n3)
        data, g'
