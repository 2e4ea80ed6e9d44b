namespace Schedulers.Core

open System
open System.Numerics

/// Elementwise and reduction kernels over float32 spans: one pass over memory, vectorised with
/// `System.Numerics.Vector<float32>` (the widest SIMD the machine has) and a scalar tail.
///
/// Linear combinations evaluate `((c0·x0 + c1·x1) + c2·x2) + c3·x3` left to right with each product and sum
/// rounded once and no fused multiply-add, exactly as the same expression written with torch ops would round it
/// (a coefficient of 1 is therefore exact). That keeps the torch flavour bit-faithful to diffusers.
module Kernels =

    let private checkLengths (name: string) (expected: int) (actual: int) =
        if actual <> expected then
            invalidArg name (sprintf "%s has %d elements but the output has %d" name actual expected)

    /// out[i] = c0·x0[i].
    let scale (c0: float32) (x0: ReadOnlySpan<float32>) (out: Span<float32>) =
        checkLengths "x0" out.Length x0.Length
        let w = Vector<float32>.Count
        let v0 = Vector<float32>(c0)
        let mutable i = 0
        while i <= out.Length - w do
            (v0 * Vector<float32>(x0.Slice i)).CopyTo(out.Slice i)
            i <- i + w
        while i < out.Length do
            out[i] <- c0 * x0[i]
            i <- i + 1

    /// out[i] = x[i] / d (a true division, which rounds differently from multiplying by 1/d).
    let divide (x: ReadOnlySpan<float32>) (d: float32) (out: Span<float32>) =
        checkLengths "x" out.Length x.Length
        let w = Vector<float32>.Count
        let vd = Vector<float32>(d)
        let mutable i = 0
        while i <= out.Length - w do
            (Vector<float32>(x.Slice i) / vd).CopyTo(out.Slice i)
            i <- i + w
        while i < out.Length do
            out[i] <- x[i] / d
            i <- i + 1

    /// out[i] = c0·x0[i] + c1·x1[i].
    let combine2 (c0: float32) (x0: ReadOnlySpan<float32>) (c1: float32) (x1: ReadOnlySpan<float32>) (out: Span<float32>) =
        checkLengths "x0" out.Length x0.Length
        checkLengths "x1" out.Length x1.Length
        let w = Vector<float32>.Count
        let v0 = Vector<float32>(c0)
        let v1 = Vector<float32>(c1)
        let mutable i = 0
        while i <= out.Length - w do
            (v0 * Vector<float32>(x0.Slice i) + v1 * Vector<float32>(x1.Slice i)).CopyTo(out.Slice i)
            i <- i + w
        while i < out.Length do
            out[i] <- c0 * x0[i] + c1 * x1[i]
            i <- i + 1

    /// out[i] = (c0·x0[i] + c1·x1[i]) + c2·x2[i].
    let combine3
        (c0: float32) (x0: ReadOnlySpan<float32>) (c1: float32) (x1: ReadOnlySpan<float32>)
        (c2: float32) (x2: ReadOnlySpan<float32>) (out: Span<float32>) =
        checkLengths "x0" out.Length x0.Length
        checkLengths "x1" out.Length x1.Length
        checkLengths "x2" out.Length x2.Length
        let w = Vector<float32>.Count
        let v0 = Vector<float32>(c0)
        let v1 = Vector<float32>(c1)
        let v2 = Vector<float32>(c2)
        let mutable i = 0
        while i <= out.Length - w do
            let s = v0 * Vector<float32>(x0.Slice i) + v1 * Vector<float32>(x1.Slice i)
            (s + v2 * Vector<float32>(x2.Slice i)).CopyTo(out.Slice i)
            i <- i + w
        while i < out.Length do
            out[i] <- (c0 * x0[i] + c1 * x1[i]) + c2 * x2[i]
            i <- i + 1

    /// out[i] = ((c0·x0[i] + c1·x1[i]) + c2·x2[i]) + c3·x3[i].
    let combine4
        (c0: float32) (x0: ReadOnlySpan<float32>) (c1: float32) (x1: ReadOnlySpan<float32>)
        (c2: float32) (x2: ReadOnlySpan<float32>) (c3: float32) (x3: ReadOnlySpan<float32>) (out: Span<float32>) =
        checkLengths "x0" out.Length x0.Length
        checkLengths "x1" out.Length x1.Length
        checkLengths "x2" out.Length x2.Length
        checkLengths "x3" out.Length x3.Length
        let w = Vector<float32>.Count
        let v0 = Vector<float32>(c0)
        let v1 = Vector<float32>(c1)
        let v2 = Vector<float32>(c2)
        let v3 = Vector<float32>(c3)
        let mutable i = 0
        while i <= out.Length - w do
            let s = v0 * Vector<float32>(x0.Slice i) + v1 * Vector<float32>(x1.Slice i)
            let s = s + v2 * Vector<float32>(x2.Slice i)
            (s + v3 * Vector<float32>(x3.Slice i)).CopyTo(out.Slice i)
            i <- i + w
        while i < out.Length do
            out[i] <- ((c0 * x0[i] + c1 * x1[i]) + c2 * x2[i]) + c3 * x3[i]
            i <- i + 1

    /// Σ x[i]² accumulated in float64 (so long arrays lose nothing to float32 summation error).
    let sumOfSquares (x: ReadOnlySpan<float32>) : float =
        let w = Vector<float32>.Count
        let mutable acc = Vector<float>.Zero
        let mutable i = 0
        while i <= x.Length - w do
            let v = Vector<float32>(x.Slice i)
            let mutable lo = Vector<float>.Zero
            let mutable hi = Vector<float>.Zero
            Vector.Widen(v, &lo, &hi)
            acc <- acc + lo * lo + hi * hi
            i <- i + w
        let mutable total = Vector.Sum acc
        while i < x.Length do
            let v = float x[i]
            total <- total + v * v
            i <- i + 1
        total

    /// Σ |x[i]| accumulated in float64.
    let sumOfAbs (x: ReadOnlySpan<float32>) : float =
        let mutable total = 0.0
        for i in 0 .. x.Length - 1 do
            total <- total + float (MathF.Abs x[i])
        total

    /// out[i] = min(max(x[i], lo), hi), NaN kept as torch.clamp keeps it (the vector min/max of x86 would return
    /// a bound for NaN, so NaN lanes are selected back; the scalar MathF.Min/Max propagate NaN already).
    let clamp (lo: float32) (hi: float32) (x: ReadOnlySpan<float32>) (out: Span<float32>) =
        checkLengths "x" out.Length x.Length
        let w = Vector<float32>.Count
        let vlo = Vector<float32>(lo)
        let vhi = Vector<float32>(hi)
        let mutable i = 0
        while i <= out.Length - w do
            let v = Vector<float32>(x.Slice i)
            let clamped = Vector.Min(Vector.Max(v, vlo), vhi)
            Vector.ConditionalSelect(Vector.Equals(v, v), clamped, v).CopyTo(out.Slice i)
            i <- i + w
        while i < out.Length do
            out[i] <- MathF.Min(MathF.Max(x[i], lo), hi)
            i <- i + 1

    /// torch.lerp on float32: `a + w·(b − a)` for w < 0.5, else `b − (b − a)·(1 − w)`.
    let lerp (a: float32) (b: float32) (w: float32) : float32 =
        if MathF.Abs w < 0.5f then a + w * (b - a) else b - (b - a) * (1.0f - w)

    /// `torch.quantile(x, q)` with linear interpolation, in float32 as torch computes it: the rank `q·(n−1)` in
    /// float32, the values either side of it in sorted order, then `lerp`. NaN in `x` gives NaN, as in torch.
    let quantile (q: float32) (x: ReadOnlySpan<float32>) : float32 =
        if x.Length = 0 then invalidArg "x" "x is empty; a quantile needs at least one value"
        if not (q >= 0.0f && q <= 1.0f) then invalidArg "q" (sprintf "q is %g but must lie in [0, 1]" q)
        let sorted = x.ToArray()
        if Array.exists Single.IsNaN sorted then
            Single.NaN
        else
            Array.sortInPlace sorted
            let rank = q * float32 (sorted.Length - 1)
            let below = int rank
            let above = min (below + 1) (sorted.Length - 1)
            lerp sorted[below] sorted[above] (rank - float32 below)

/// Fused passes for scheduler steps: each reads its inputs once and writes every output in the same pass, with
/// 512-bit, then 256-bit vectors and a scalar tail. Each product is rounded before it is added (no fused
/// multiply-add), so the results equal the chained torch expressions bit for bit.
module FusedKernels =

    open System.Runtime.Intrinsics
    open System.Runtime.InteropServices

    /// mean[i] = c0·x0[i] + c1·x1[i] and prev[i] = mean[i] + g·z[i] in one pass (a scheduler's `prev_sample_mean`
    /// and `prev_sample`: three reads, two writes).
    let combineThenAdd
        (c0: float32) (x0: ReadOnlySpan<float32>) (c1: float32) (x1: ReadOnlySpan<float32>)
        (g: float32) (z: ReadOnlySpan<float32>) (mean: Span<float32>) (prev: Span<float32>) =
        let n = mean.Length
        if x0.Length <> n || x1.Length <> n || z.Length <> n || prev.Length <> n then
            invalidArg "x0" (sprintf "the spans have lengths %d, %d, %d, %d, %d but must be equal" x0.Length x1.Length z.Length mean.Length prev.Length)
        let r0 = &MemoryMarshal.GetReference x0
        let r1 = &MemoryMarshal.GetReference x1
        let rz = &MemoryMarshal.GetReference z
        let rm = &MemoryMarshal.GetReference mean
        let rp = &MemoryMarshal.GetReference prev
        let mutable i = 0
        if Vector512.IsHardwareAccelerated then
            let v0 = Vector512.Create c0
            let v1 = Vector512.Create c1
            let vg = Vector512.Create g
            while i <= n - 16 do
                let k = unativeint i
                let m = v0 * Vector512.LoadUnsafe(&r0, k) + v1 * Vector512.LoadUnsafe(&r1, k)
                Vector512.StoreUnsafe(m, &rm, k)
                Vector512.StoreUnsafe(m + vg * Vector512.LoadUnsafe(&rz, k), &rp, k)
                i <- i + 16
        if Vector256.IsHardwareAccelerated then
            let v0 = Vector256.Create c0
            let v1 = Vector256.Create c1
            let vg = Vector256.Create g
            while i <= n - 8 do
                let k = unativeint i
                let m = v0 * Vector256.LoadUnsafe(&r0, k) + v1 * Vector256.LoadUnsafe(&r1, k)
                Vector256.StoreUnsafe(m, &rm, k)
                Vector256.StoreUnsafe(m + vg * Vector256.LoadUnsafe(&rz, k), &rp, k)
                i <- i + 8
        while i < n do
            let m = c0 * x0[i] + c1 * x1[i]
            mean[i] <- m
            prev[i] <- m + g * z[i]
            i <- i + 1

    let inline private checkAll (n: int) (lengths: int list) =
        if lengths |> List.exists (fun l -> l <> n) then
            invalidArg "x" (sprintf "the spans have lengths %A but must all have %d elements" lengths n)

    /// KarrasVe's Euler stage (Karras et al. 2022, Algorithm 2, lines 9–10) in one pass: x0 = s + σ̂·m,
    /// d = (s − x0) ⊘ σ̂, prev = s + δ·d, where ⊘ multiplies by f32(1/σ̂) when `byReciprocal` (XLA's rewrite) and
    /// divides otherwise; the same roundings as the separate combinations.
    let karrasEuler
        (sigma: float32) (byReciprocal: bool) (delta: float32) (s: ReadOnlySpan<float32>) (m: ReadOnlySpan<float32>)
        (x0: Span<float32>) (d: Span<float32>) (prev: Span<float32>) =
        let n = s.Length
        checkAll n [ m.Length; x0.Length; d.Length; prev.Length ]
        let inv = 1.0f / sigma
        let mutable i = 0
        if Vector256.IsHardwareAccelerated then
            let vs = Vector256.Create sigma
            let vi = Vector256.Create inv
            let vd = Vector256.Create delta
            while i <= n - 8 do
                let a = Vector256.Create<float32>(s.Slice(i, 8))
                let x = a + vs * Vector256.Create<float32>(m.Slice(i, 8))
                let diff = a - x
                let dv = if byReciprocal then diff * vi else diff / vs
                Vector256.CopyTo(x, x0.Slice i)
                Vector256.CopyTo(dv, d.Slice i)
                Vector256.CopyTo(a + vd * dv, prev.Slice i)
                i <- i + 8
        while i < n do
            let x = s[i] + sigma * m[i]
            let diff = s[i] - x
            let dv = if byReciprocal then diff * inv else diff / sigma
            x0[i] <- x
            d[i] <- dv
            prev[i] <- s[i] + delta * dv
            i <- i + 1

    /// KarrasVe's Heun correction (Algorithm 2, lines 11–13) in one pass: x0 = p + σ·m, d' = (p − x0) ⊘ σ,
    /// prev = ŝ + δ·(½d + ½d'), with `p` the Euler sample, `ŝ` the churned sample and `d` the Euler derivative.
    let karrasHeun
        (sigmaPrev: float32) (byReciprocal: bool) (delta: float32) (sampleHat: ReadOnlySpan<float32>)
        (samplePrev: ReadOnlySpan<float32>) (m: ReadOnlySpan<float32>) (derivative: ReadOnlySpan<float32>)
        (x0: Span<float32>) (prev: Span<float32>) =
        let n = sampleHat.Length
        checkAll n [ samplePrev.Length; m.Length; derivative.Length; x0.Length; prev.Length ]
        let inv = 1.0f / sigmaPrev
        let mutable i = 0
        if Vector256.IsHardwareAccelerated then
            let vs = Vector256.Create sigmaPrev
            let vi = Vector256.Create inv
            let vd = Vector256.Create delta
            let vh = Vector256.Create 0.5f
            while i <= n - 8 do
                let p = Vector256.Create<float32>(samplePrev.Slice(i, 8))
                let x = p + vs * Vector256.Create<float32>(m.Slice(i, 8))
                let diff = p - x
                let dc = if byReciprocal then diff * vi else diff / vs
                let avg = vh * Vector256.Create<float32>(derivative.Slice(i, 8)) + vh * dc
                Vector256.CopyTo(x, x0.Slice i)
                Vector256.CopyTo(Vector256.Create<float32>(sampleHat.Slice(i, 8)) + vd * avg, prev.Slice i)
                i <- i + 8
        while i < n do
            let x = samplePrev[i] + sigmaPrev * m[i]
            let diff = samplePrev[i] - x
            let dc = if byReciprocal then diff * inv else diff / sigmaPrev
            x0[i] <- x
            prev[i] <- sampleHat[i] + delta * (0.5f * derivative[i] + 0.5f * dc)
            i <- i + 1

    /// KarrasVe's churn (Algorithm 2, lines 5–8) in one pass: out = s + c·(k·z), the noise ε = k·z rounded first.
    let scaledNoiseAdd (k: float32) (c: float32) (s: ReadOnlySpan<float32>) (z: ReadOnlySpan<float32>) (out: Span<float32>) =
        let n = s.Length
        checkAll n [ z.Length; out.Length ]
        let mutable i = 0
        if Vector256.IsHardwareAccelerated then
            let vk = Vector256.Create k
            let vc = Vector256.Create c
            while i <= n - 8 do
                let eps = vk * Vector256.Create<float32>(z.Slice(i, 8))
                Vector256.CopyTo(Vector256.Create<float32>(s.Slice(i, 8)) + vc * eps, out.Slice i)
                i <- i + 8
        while i < n do
            out[i] <- s[i] + c * (k * z[i])
            i <- i + 1
