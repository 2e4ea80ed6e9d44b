namespace Schedulers.Core

open System

/// The float32 elementary functions as XLA:CPU compiles them for jaxlib 0.11.2 on x86-64 with FMA, bit for bit.
/// XLA does not call the C library here: it inlines its own Cephes-style polynomials (`xla/service/cpu/
/// llvm_ir_runtime.cc`: `GenerateVF32Exp`, `GenerateVF32Log`; the log1p of the elemental IR emitter), and LLVM
/// contracts each multiply feeding an add into one fused multiply-add. .NET's `MathF.Exp`/`MathF.Log` are the C
/// library's correctly rounded functions and differ from these by an ulp on a few percent of inputs — enough to move
/// a `jnp.exp(jnp.linspace(...))` schedule by several ulps (docs/schedulers/score-sde-ve.md). `pow` is not here:
/// XLA:CPU calls the C library's `powf`, which `MathF.Pow` is on Linux.
module XlaMath =

    let inline private f32 (bits: uint32) = BitConverter.UInt32BitsToSingle bits
    let inline private fma (a: float32) (b: float32) (c: float32) = MathF.FusedMultiplyAdd(a, b, c)

    // `GenerateVF32Log` (Cephes/Eigen coefficients; spec jax-prng §8a).
    let private logP0 = f32 0x3D9021BBu
    let private logP1 = f32 0xBDEBD1B8u
    let private logP2 = f32 0x3DEF251Au
    let private logP3 = f32 0xBDFE5D4Fu
    let private logP4 = f32 0x3E11E9BFu
    let private logP5 = f32 0xBE2AAE50u
    let private logP6 = f32 0x3E4CCEACu
    let private logP7 = f32 0xBE7FFFFCu
    let private logP8 = f32 0x3EAAAAAAu
    let private logQ1 = f32 0xB95E8083u
    let private logQ2 = f32 0x3F318000u
    let private sqrtHalf = f32 0x3F3504F3u

    /// XLA:CPU's float32 natural logarithm for y > 0 (`GenerateVF32Log`), bit for bit (spec jax-prng §8a, steps
    /// 1–11): the mantissa is brought to [√½, √2), a degree-8 polynomial in three Horner strands, and the exponent
    /// added back in two parts (Q2 + Q1 = ln 2).
    let log (y: float32) : float32 =
        let y = MathF.Max(y, f32 0x00800000u)
        let b = BitConverter.SingleToUInt32Bits y
        let m = f32 ((b &&& 0x807FFFFFu) ||| 0x3F000000u)
        let e0 = 1.0f + float32 (int (b >>> 23) - 127)
        let small = m < sqrtHalf
        let e = if small then e0 - 1.0f else e0
        let x = if small then (m - 1.0f) + m else m - 1.0f
        let x2 = x * x
        let x3 = x2 * x
        let ya = fma (fma x logP0 logP1) x logP2
        let yb = fma (fma x logP3 logP4) x logP5
        let yc = fma (fma x logP6 logP7) x logP8
        let y1 = fma (fma ya x3 yb) x3 yc
        let y2 = fma y1 x3 (e * logQ1)
        let x4 = fma -0.5f x2 x
        fma e logQ2 (x4 + y2)

    let private log1pNum =
        [| 0x383DE04Bu; 0x3EFF40C5u; 0x40D284FAu; 0x41EF4B9Cu; 0x4273CC76u; 0x426473ADu; 0x41A05101u |] |> Array.map f32
    let private log1pDen =
        [| 0x3F800000u; 0x417101ADu; 0x42A6185Bu; 0x435DC32Du; 0x439A8CA3u; 0x43586D8Au; 0x42707982u |] |> Array.map f32
    let private log1pThreshold = f32 0x3ED413CDu

    /// XLA:CPU's float32 log1p, bit for bit (spec jax-prng §8a): a rational approximation near 0, `log(1 + z)`
    /// elsewhere.
    let log1p (z: float32) : float32 =
        if MathF.Abs z < log1pThreshold then
            let z2 = z * z
            let mutable num = 0.0f
            let mutable den = 0.0f
            for i in 0 .. log1pNum.Length - 1 do
                num <- fma num z log1pNum[i]
                den <- fma den z log1pDen[i]
            let r = (z * z2) * (num / den)
            z + fma -0.5f z2 r
        else
            log (z + 1.0f)

    // `GenerateVF32Exp` (Cephes coefficients).
    let private log2e = 1.44269504088896341f
    let private expC1 = 0.693359375f
    let private expC2 = -2.12194440e-4f
    let private expP = [| 1.9875691500E-4f; 1.3981999507E-3f; 8.3334519073E-3f; 4.1665795894E-2f; 1.6666665459E-1f; 5.0000001201E-1f |]

    /// XLA:CPU's float32 exponential (`GenerateVF32Exp`), bit for bit: the input clamped to [−87.8, 88.8];
    /// n = ⌊x·log₂e + ½⌋ (fused) clamped to [−127, 127]; a = x − n·C1 − n·C2 with ln 2 split in two (C1 exact in
    /// 9 bits, so the first product is exact; both subtractions fuse); e^a by a degree-5 Horner polynomial of fused
    /// steps, then 1 + a + a²·p(a); the result scaled by 2ⁿ built from its exponent bits (0 when n = −127, since
    /// XLA flushes denormals). Checked on every `discrete_sigmas` element of the golden files (4038 of them).
    let exp (x: float32) : float32 =
        if Single.IsNaN x then x
        else
            let input = MathF.Min(MathF.Max(x, -87.8f), 88.8f)
            let n = MathF.Min(MathF.Max(MathF.Floor(fma input log2e 0.5f), -127.0f), 127.0f)
            let a = fma -expC2 n (fma -expC1 n input)
            let mutable z = fma a expP[0] expP[1]
            for i in 2 .. expP.Length - 1 do
                z <- fma z a expP[i]
            let z = 1.0f + fma z (a * a) a
            z * f32 (uint32 (int n + 127) <<< 23)
