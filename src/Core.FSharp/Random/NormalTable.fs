namespace Schedulers.Core

#nowarn "9"

open System
open System.Runtime.InteropServices
open System.Runtime.Intrinsics
open Microsoft.FSharp.NativeInterop

/// `jax.random.normal` as a lookup table. JAX's normal depends only on the top 23 of its 32 random bits (the
/// mantissa of the uniform, spec §7), so the 2^23 possible outputs, computed once by the exact vectorised path,
/// make a 32 MiB float32 table that gives the same bits as the computation for every input (a test checks all
/// 2^23 entries). It is built on first use by a large draw, in parallel, and kept for the life of the process.
module internal NormalTable =

    /// The number of entries: one per value of `bits >>> 9`.
    [<Literal>]
    let Entries = 8388608

    [<DllImport("libc", EntryPoint = "madvise")>]
    extern int private madvise(nativeint address, unativeint length, int advice)

    let private madvHugePage = 14

    /// Asks Linux to back the table with 2 MiB pages: lookups are random across 32 MiB, and with 4 KiB pages
    /// almost every one would miss the TLB. Harmless where the call does not exist.
    let private adviseHugePages (address: nativeint) (bytes: int) =
        if OperatingSystem.IsLinux() then
            try
                madvise (address, unativeint bytes, madvHugePage) |> ignore
            with
            | :? DllNotFoundException
            | :? EntryPointNotFoundException -> ()

    let private build () : nativeptr<float32> =
        let bytes = Entries * sizeof<float32>
        let memory = NativeMemory.AlignedAlloc(unativeint bytes, unativeint (2 <<< 20))
        adviseHugePages (NativePtr.toNativeInt (NativePtr.ofVoidPtr<byte> memory)) bytes
        let table = NativePtr.ofVoidPtr<float32> memory
        let address = NativePtr.toNativeInt table
        Parallelism.forChunks Entries (fun start length ->
            let dest = Span<float32>(NativePtr.toVoidPtr (NativePtr.add (NativePtr.ofNativeInt<float32> address) start), length)
            let lanes = Vector256.Create(0u, 1u, 2u, 3u, 4u, 5u, 6u, 7u)
            let mutable j = 0
            while j < length do
                // Entry k holds the normal of the bits k << 9 (the low nine bits never matter).
                let bits = Vector256.ShiftLeft(Vector256.Create(uint32 (start + j)) + lanes, 9)
                Vector256.CopyTo(PrngVector.normalOfBits bits, dest.Slice j)
                j <- j + 8)
        table

    let private table = lazy (NativePtr.toNativeInt (build ()))

    /// True once the table exists (later small draws then use it too).
    let isBuilt () = table.IsValueCreated

    /// The table, built on first call.
    let get () : nativeptr<float32> = NativePtr.ofNativeInt<float32> table.Value

    /// Replaces each element of `bits` (random bits, reinterpreted in place) by its normal.
    let lookupInPlace (buffer: Span<float32>) =
        let t = get ()
        let bits = MemoryMarshal.Cast<float32, uint32> buffer
        for j in 0 .. bits.Length - 1 do
            buffer[j] <- NativePtr.get t (int (bits[j] >>> 9))
