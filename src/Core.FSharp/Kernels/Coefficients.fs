namespace Schedulers.Core

open System

/// The coefficient of one term of a linear combination: a scalar for the whole tensor, or one value per batch
/// element (broadcast over the other axes, like a `(B, 1, 1, 1)` tensor in diffusers).
[<Struct>]
type Coef =
    /// The same coefficient for every element.
    | Scalar of value: float32
    /// One coefficient per batch element (slice along the first axis).
    | PerBatch of values: float32[]

    /// The value of a `Scalar` coefficient (throws for `PerBatch`).
    member c.ScalarValue =
        match c with
        | Scalar v -> v
        | PerBatch _ -> invalidOp "a per-batch coefficient has no single scalar value"

    /// The values of a `PerBatch` coefficient (throws for `Scalar`).
    member c.BatchValues =
        match c with
        | PerBatch vs -> vs
        | Scalar _ -> invalidOp "a scalar coefficient has no per-batch values"

/// Helpers for building linear combinations.
module Coef =
    /// The value of a coefficient for batch element `b`.
    let at (b: int) (c: Coef) : float32 =
        match c with
        | Scalar v -> v
        | PerBatch vs -> vs[b]

    /// Throws unless a per-batch coefficient has one value per batch element.
    let check (batch: int) (c: Coef) =
        match c with
        | PerBatch vs when obj.ReferenceEquals(vs, null) -> nullArg "coefficient"
        | PerBatch vs when vs.Length <> batch ->
            invalidArg "terms" (sprintf "a per-batch coefficient has %d values but the batch has %d" vs.Length batch)
        | _ -> ()
