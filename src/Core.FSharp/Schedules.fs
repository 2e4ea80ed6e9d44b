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

    /// `jnp.linspace(start, stop, n)` in float32 as JAX defines it: `start·(1 − s) + stop·s` with `s = i/(n−1)`,
    /// each operation rounded to float32, and the last element exactly `stop`. (XLA:CPU's compiled code can differ
    /// by one ulp on some elements; the schedule tolerance covers that.)
    let jnpLinspace (start: float32) (stop: float32) (n: int) : float32[] =
        checkCount n
        if n = 0 then [||]
        elif n = 1 then [| start |]
        else
            let div = float32 (n - 1)
            Array.init n (fun i ->
                if i = n - 1 then stop
                else
                    let s = float32 i / div
                    start * (1.0f - s) + stop * s)

    /// `jnp.linspace(start, stop, n)` in float32 as XLA:CPU computes it (jax 0.11, bit-exact on the golden
    /// timesteps): the division `i/(n−1)` becomes a multiplication by the float32 reciprocal r; the first
    /// `(n−1) − (n−1) mod 16` elements are vectorised code, where `1 − i·r` is one fused multiply-add and the final
    /// sum fuses `stop·s`: `fma(stop, s, start·fma(−i, r, 1))` with `s = i·r`; the remaining ones are scalar code,
    /// `start·(1 − s) + stop·s` with every operation rounded; the last element is `stop`.
    let jnpLinspaceXla (start: float32) (stop: float32) (n: int) : float32[] =
        checkCount n
        if n = 0 then [||]
        elif n = 1 then [| start |]
        else
            let r = 1.0f / float32 (n - 1)
            let vectorised = (n - 1) - (n - 1) % 16
            Array.init n (fun i ->
                if i = n - 1 then stop
                else
                    let fi = float32 i
                    let s = fi * r
                    if i < vectorised then fma stop s (start * fma -fi r 1.0f)
                    else start * (1.0f - s) + stop * s)

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
