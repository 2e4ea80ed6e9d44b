namespace Schedulers.Core

open System

/// Building blocks of noise schedules, reproducing how the references round: `torch.linspace`'s float32 kernel,
/// `jnp.linspace`, numpy's float64 `linspace`, and `torch.cumprod`'s float64 accumulation.
module Schedules =

    let private checkCount (n: int) =
        if n < 0 then invalidArg "n" (sprintf "n is %d but a linspace needs a non-negative number of points" n)

    let inline private fma (a: float32) (b: float32) (c: float32) = MathF.FusedMultiplyAdd(a, b, c)

    /// `torch.linspace(start, end, n)` in float32 on the CPU, bit for bit with torch 2.11 (the reference of the
    /// golden files): the step is computed in float32, and index i is `fma(step, i, start)` in the first half and
    /// `fma(−step, n−1−i, end)` in the second half, each rounded once. (torch 1.13's AVX2 kernel filled blocks of
    /// eight as `base + j·step` instead, spec §1.2; torch 2.11 agrees with the scalar formula on every element.)
    let torchLinspace (start: float32) (stop: float32) (n: int) : float32[] =
        checkCount n
        if n = 0 then [||]
        elif n = 1 then [| start |]
        else
            let step = (stop - start) / float32 (n - 1)
            let half = n / 2
            Array.init n (fun i ->
                if i < half then fma step (float32 i) start else fma -step (float32 (n - 1 - i)) stop)

    /// `jnp.linspace(start, stop, n)` in float32 as XLA:CPU compiles it (jaxlib 0.11.2), bit for bit on every
    /// Flax schedule of the golden files. JAX writes `start·(1 − s) + stop·s` with `s = iota/(n−1)`, then appends
    /// `stop`; XLA rewrites it before LLVM sees it: the division by the constant becomes a multiplication by the
    /// float32 reciprocal r, and `stop·(iota·r)` is reassociated into `iota·(stop·r)` (a product of two scalars
    /// first). LLVM then fuses differently in the two parts of the loop:
    /// - the first `(n−1) − (n−1) mod 16` elements (vector code): `fma(i, stop·r, start·fma(−i, r, 1))`;
    /// - the rest (unrolled scalar code, where `1 − i·r` is folded as a constant, each operation rounded):
    ///   `fma(i, stop·r, start·(1 − i·r))`, except i = 1, where the multiplication by the constant 1 disappears and
    ///   the other product fuses instead: `fma(start, 1 − r, stop·r)`;
    /// - the last element is `stop`.
    /// (The textbook float32 evaluation of JAX's formula differs from this on up to 40% of the elements by an ulp,
    /// and then `exp` of a log-spaced schedule by up to 8 ulps.)
    let jnpLinspace (start: float32) (stop: float32) (n: int) : float32[] =
        checkCount n
        if n = 0 then [||]
        elif n = 1 then [| start |]
        else
            let r = 1.0f / float32 (n - 1)
            let stopR = stop * r
            let vectorised = (n - 1) - (n - 1) % 16
            Array.init n (fun i ->
                let fi = float32 i
                if i = n - 1 then stop
                elif i < vectorised then fma fi stopR (start * fma -fi r 1.0f)
                elif i = 1 then fma start (1.0f - r) stopR
                else fma fi stopR (start * (1.0f - fi * r)))

    /// `numpy.linspace(start, stop, n)` in float64: `start + i·step` with `step = (stop − start)/(n − 1)`, and the
    /// last element exactly `stop`.
    let numpyLinspace (start: float) (stop: float) (n: int) : float[] =
        checkCount n
        if n = 0 then [||]
        elif n = 1 then [| start |]
        else
            let step = (stop - start) / float (n - 1)
            Array.init n (fun i -> if i = n - 1 then stop else start + float i * step)

    /// `torch.cumprod` of a float32 vector on the CPU: the running product is kept in float64 and each output is
    /// rounded to float32 (spec §1.3; a float32 running product drifts by up to 3e-7).
    let torchCumprod (values: float32[]) : float32[] =
        let out = Array.zeroCreate<float32> values.Length
        let mutable acc = 1.0
        for i in 0 .. values.Length - 1 do
            acc <- acc * float values[i]
            out[i] <- float32 acc
        out

    /// `jnp.cumprod` of a float32 vector on XLA:CPU: JAX lowers a cumulative product on the CPU to its
    /// `associative_scan` (log-depth, Blelloch-style), not to a running product, so the rounding differs from a
    /// left-to-right loop. The scan: multiply adjacent pairs (x₀x₁, x₂x₃, …), scan that half-length vector
    /// recursively (giving the odd positions), then form each even position k ≥ 2 as (odd result k − 1)·x_k; the first
    /// element is x₀. Each product is one float32 multiplication, so the result is exactly XLA's.
    let rec jnpCumprod (values: float32[]) : float32[] =
        let n = values.Length
        if n < 2 then Array.copy values
        else
            let pairs = Array.init (n / 2) (fun k -> values[2 * k] * values[2 * k + 1])
            let odd = jnpCumprod pairs
            Array.init n (fun i ->
                if i = 0 then values[0]
                elif i % 2 = 1 then odd[i / 2]
                else odd[i / 2 - 1] * values[i])
