namespace Schedulers.Core

open System

/// The one-pass DPM-Solver update over float32 spans (the fused form of `DpmSolverUpdate.applyGeneric`: the divided differences are formed per element inside the pass instead of as temporary arrays, each product and sum rounded as the op-by-op form rounds it, so the result has the same bits).
module DpmKernels =

    open System.Numerics

    /// out = X·x + C0·m0 + C1·d1 + C2·d2 (+ Z·z), with d1, d2 the plan's divided differences of m0, m1, m2, evaluated
    /// per element in `DpmSolverUpdate.apply`'s order of roundings. `m1`/`m2` are read only for orders ≥ 2/3, `z`
    /// only when `hasNoise`.
    let update
        (p: DpmUpdatePlan) (x: ReadOnlySpan<float32>) (m0: ReadOnlySpan<float32>) (m1: ReadOnlySpan<float32>)
        (m2: ReadOnlySpan<float32>) (hasNoise: bool) (z: ReadOnlySpan<float32>) (out: Span<float32>) =
        let n = out.Length
        let w = Vector<float32>.Count
        let X, C0, C1, C2, Z = p.SampleCoef, p.D0Coef, p.D1Coef, p.D2Coef, p.NoiseCoef
        let vX, vC0, vC1, vC2, vZ = Vector<float32> X, Vector<float32> C0, Vector<float32> C1, Vector<float32> C2, Vector<float32> Z
        let vR0, vR1, vRs, vIs = Vector<float32> p.InvR0, Vector<float32> p.InvR1, Vector<float32> p.R0OverSum, Vector<float32> p.InvSum
        let mutable i = 0
        match p.Order with
        | 1 ->
            while i <= n - w do
                let acc = vX * Vector<float32>(x.Slice i) + vC0 * Vector<float32>(m0.Slice i)
                (if hasNoise then acc + vZ * Vector<float32>(z.Slice i) else acc).CopyTo(out.Slice i)
                i <- i + w
            while i < n do
                let acc = X * x[i] + C0 * m0[i]
                out[i] <- if hasNoise then acc + Z * z[i] else acc
                i <- i + 1
        | 2 ->
            while i <= n - w do
                let a = Vector<float32>(m0.Slice i)
                let d1 = vR0 * (a - Vector<float32>(m1.Slice i))
                let acc = (vX * Vector<float32>(x.Slice i) + vC0 * a) + vC1 * d1
                (if hasNoise then acc + vZ * Vector<float32>(z.Slice i) else acc).CopyTo(out.Slice i)
                i <- i + w
            while i < n do
                let d1 = p.InvR0 * (m0[i] - m1[i])
                let acc = (X * x[i] + C0 * m0[i]) + C1 * d1
                out[i] <- if hasNoise then acc + Z * z[i] else acc
                i <- i + 1
        | _ ->
            while i <= n - w do
                let a = Vector<float32>(m0.Slice i)
                let b = Vector<float32>(m1.Slice i)
                let d10 = vR0 * (a - b)
                let d11 = vR1 * (b - Vector<float32>(m2.Slice i))
                let delta = d10 - d11
                let d1 = d10 + vRs * delta
                let d2 = vIs * delta
                let acc = ((vX * Vector<float32>(x.Slice i) + vC0 * a) + vC1 * d1) + vC2 * d2
                (if hasNoise then acc + vZ * Vector<float32>(z.Slice i) else acc).CopyTo(out.Slice i)
                i <- i + w
            while i < n do
                let d10 = p.InvR0 * (m0[i] - m1[i])
                let d11 = p.InvR1 * (m1[i] - m2[i])
                let delta = d10 - d11
                let d1 = d10 + p.R0OverSum * delta
                let d2 = p.InvSum * delta
                let acc = ((X * x[i] + C0 * m0[i]) + C1 * d1) + C2 * d2
                out[i] <- if hasNoise then acc + Z * z[i] else acc
                i <- i + 1
