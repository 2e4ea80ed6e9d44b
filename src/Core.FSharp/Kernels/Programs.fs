namespace Schedulers.Core

open System

/// A register of an elementwise program: an input (0 … inputs − 1) or the result of an instruction.
[<Struct>]
type Reg =
    | Reg of int

    /// The register's number.
    member r.Index = let (Reg i) = r in i

/// One instruction of an elementwise program; its result is a new register (single assignment).
[<RequireQualifiedAccess>]
type Instr =
    /// `Σ cₖ·rₖ` left to right, each product rounded before it is added (`IBackend.Combine`).
    | Combine of terms: struct (Coef * Reg)[]
    /// `r / d`, a true division (`IBackend.Divide`).
    | Divide of source: Reg * divisor: Coef
    /// `min(max(r, lo), hi)`, NaN kept (`IBackend.Clamp`).
    | Clamp of source: Reg * lo: float32 * hi: float32
    /// A standard normal draw of the program's shape from noise source `slot` (`IBackend.Normal`): a backend whose
    /// noise is counter-based (JAX keys) generates it tile by tile inside the pass, never storing the whole draw.
    | Normal of slot: int

/// A scheduler step's elementwise arithmetic as a straight-line program over same-shaped tensors: the inputs,
/// the instructions (instruction i defines register inputs + i) and the registers returned. A backend runs it in
/// one pass over memory (compiled into a vector loop by `ProgramCompiler`, or tile by tile with the span kernels),
/// with the operations the op-by-op form uses one at a time, so the two give the same bits (`IBackend.TryRun`, `Backend.run`); any other backend runs it op by op.
type ElementwiseProgram =
    { /// How many input tensors it reads.
      Inputs: int
      /// The instructions, in order.
      Body: Instr[]
      /// The registers it returns, in order (inputs may be among them: they are returned as given).
      Outputs: Reg[] }

    /// How many noise sources the program draws from (one more than the largest `Normal` slot).
    member p.NoiseSlots: int =
        p.Body |> Array.fold (fun n i -> match i with Instr.Normal slot -> max n (slot + 1) | _ -> n) 0

    /// Every coefficient and divisor of the program (their per-batch values decide how a pass is segmented).
    member p.Coefficients: Coef[] =
        p.Body
        |> Array.collect (fun i ->
            match i with
            | Instr.Combine terms -> terms |> Array.map (fun struct (c, _) -> c)
            | Instr.Divide(_, d) -> [| d |]
            | Instr.Clamp _
            | Instr.Normal _ -> [||])

/// Fills `dest` with the normals of positions [offset, offset + dest.Length) of a draw of `total` values from noise
/// source `slot` (the counter-based draw a pass makes tile by tile). `ahead` holds the addresses, at `offset`, of the
/// arrays the pass touches next over the same positions (possibly none): a fill may request their cache lines while it
/// computes, so the pass's memory traffic overlaps the noise's arithmetic.
type FillNormals = delegate of slot: int * total: int64 * offset: int64 * dest: Span<float32> * ahead: ReadOnlySpan<nativeint> -> unit
