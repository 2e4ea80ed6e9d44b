namespace Schedulers.Core

open System

/// A JAX PRNG key: the two uint32 words `[k0, k1]` of `jax.random.PRNGKey` (what `jax.random.key_data` returns).
/// Keys are plain values: the same key always gives the same numbers, and nothing is drawn from a global state.
[<Struct; CustomEquality; NoComparison>]
type PrngKey =
    { /// First key word (`key[0]`).
      K0: uint32
      /// Second key word (`key[1]`).
      K1: uint32 }

    /// Structural equality of the two words.
    override this.Equals(other: obj) =
        match other with
        | :? PrngKey as k -> k.K0 = this.K0 && k.K1 = this.K1
        | _ -> false

    /// Hash of the two words.
    override this.GetHashCode() = HashCode.Combine(this.K0, this.K1)

    /// The key as JAX prints its data: `[k0, k1]`.
    override this.ToString() = sprintf "[%d, %d]" this.K0 this.K1

    interface IEquatable<PrngKey> with
        member this.Equals(k: PrngKey) = k.K0 = this.K0 && k.K1 = this.K1

/// Which threefry layout `split` and `bits` use (`jax_threefry_partitionable`). It does not affect
/// `key`, `foldIn` or the threefry block itself.
type ThreefryMode =
    /// JAX's default since 0.5.0: element i is hashed from the 64-bit counter i, so streams are prefix-stable.
    | Partitionable = 0
    /// JAX ≤ 0.4.38: the "flat hash" layout pairing the first half of the counters with the second half.
    | Legacy = 1
