namespace Schedulers.Core

open System
open System.Runtime.InteropServices
open System.Runtime.Intrinsics
open System.Runtime.Intrinsics.X86

/// How torch's CPU `randn` turns a block of 16 uniforms into 16 normals (ATen normal_kernel,
/// aten/src/ATen/native/cpu/DistributionTemplates.h). Which one torch runs depends on the CPU capability ATen
/// dispatches to, so the choice is the caller's.
type TorchCpuBoxMuller =
    /// `normal_fill_16_AVX2` (ATen's CPU capability AVX2, what x86-64 builds run on AVX2 processors; TorchSharp's
    /// libtorch ran it on an AVX-512 test machine too): avx_mathfun's Cephes `log256_ps`/`sincos256_ps` in float32,
    /// with the fused multiply-adds GCC contracts them into. Bit for bit with the golden streams and TorchSharp.
    | Avx2 = 0
    /// `normal_fill_16<float>` (any other CPU capability: DEFAULT, ARM): libm's `logf`, `cosf`, `sinf`. .NET's
    /// `MathF` calls the C runtime's functions, so on Linux (glibc) this follows torch's arithmetic exactly.
    | Libm = 1

/// The float32 and float64 Box–Muller blocks of torch's CPU `normal_fill` (16 values: the pairs (j, j+8)).
module internal TorchCpuMath =

    // avx_mathfun.h constants: C initialises each float from its double literal, so they are written as
    // doubles rounded to float32 here too (a decimal parsed straight to float32 could round differently).
    let private minNormPos = BitConverter.Int32BitsToSingle 0x00800000
    let private sqrtHalf = float32 0.707106781186547524
    let private logP0 = float32 7.0376836292E-2
    let private logP1 = float32 -1.1514610310E-1
    let private logP2 = float32 1.1676998740E-1
    let private logP3 = float32 -1.2420140846E-1
    let private logP4 = float32 1.4249322787E-1
    let private logP5 = float32 -1.6668057665E-1
    let private logP6 = float32 2.0000714765E-1
    let private logP7 = float32 -2.4999993993E-1
    let private logP8 = float32 3.3333331174E-1
    let private logQ1 = float32 -2.12194440e-4
    let private logQ2 = float32 0.693359375
    let private dp1 = float32 -0.78515625
    let private dp2 = float32 -2.4187564849853515625e-4
    let private dp3 = float32 -3.77489497744594108e-8
    let private sinP0 = float32 -1.9515295891E-4
    let private sinP1 = float32 8.3321608736E-3
    let private sinP2 = float32 -1.6666654611E-1
    let private cosP0 = float32 2.443315711809948E-005
    let private cosP1 = float32 -1.388731625493765E-003
    let private cosP2 = float32 4.166664568298827E-002
    let private fourOverPi = float32 1.27323954473516
    /// `_mm256_set1_ps(2.0f * c10::pi<double>)`: 2π computed in double, then rounded to float32.
    let private twoPi = float32 (2.0 * Math.PI)

    let inline private fma (a: float32) (b: float32) (c: float32) = MathF.FusedMultiplyAdd(a, b, c)

    /// `log256_ps` on one lane, for u in (0, 1] (the caller's `1 − uniform`; the ≤ 0 → NaN mask never fires).
    /// Every multiply that feeds an add is fused, as GCC's default `-ffp-contract=fast` compiles avx_mathfun's
    /// `_mm256_mul_ps`/`_mm256_add_ps` pairs in torch's AVX2 kernels; `y·z + e·q1` fuses the first product.
    let logLane (u: float32) : float32 =
        let xm = MathF.Max(u, minNormPos)
        let bits = BitConverter.SingleToInt32Bits xm
        let mutable e = float32 ((bits >>> 23) - 0x7F) + 1.0f
        let mutable x = BitConverter.Int32BitsToSingle((bits &&& ~~~0x7F800000) ||| 0x3F000000)
        // if x < √½: e −= 1, x = x + x − 1; else x = x − 1 (as masked adds, exactly as the vector code).
        let small = x < sqrtHalf
        let tmp = if small then x else 0.0f
        x <- x - 1.0f
        e <- e - (if small then 1.0f else 0.0f)
        x <- x + tmp
        let z = x * x
        let mutable y = fma logP0 x logP1
        y <- fma y x logP2
        y <- fma y x logP3
        y <- fma y x logP4
        y <- fma y x logP5
        y <- fma y x logP6
        y <- fma y x logP7
        y <- fma y x logP8
        y <- y * x
        y <- fma y z (e * logQ1)
        y <- fma z -0.5f y
        x <- x + y
        fma e logQ2 x

    /// `sincos256_ps` on one lane, for θ ≥ 0 (here 2π·u): struct (sin, cos). The range reduction and both
    /// polynomials fuse as GCC contracts them; the cosine's `y·z − z·½` keeps `z·½` rounded and fuses `y·z`.
    let sinCosLane (theta: float32) : struct (float32 * float32) =
        let mutable x = MathF.Abs theta
        let signSin = BitConverter.SingleToUInt32Bits theta &&& 0x80000000u
        let j = (int (x * fourOverPi) + 1) &&& ~~~1
        let y = float32 j
        let swapSin = uint32 (j &&& 4) <<< 29
        let sinPoly = (j &&& 2) = 0
        let signCos = uint32 (~~~(j - 2) &&& 4) <<< 29
        x <- fma y dp1 x
        x <- fma y dp2 x
        x <- fma y dp3 x
        let z = x * x
        let mutable yc = fma cosP0 z cosP1
        yc <- fma yc z cosP2
        yc <- yc * z
        yc <- fma yc z (-(z * 0.5f))
        yc <- yc + 1.0f
        let mutable ys = fma sinP0 z sinP1
        ys <- fma ys z sinP2
        ys <- ys * z
        ys <- fma ys x x
        // The vector code selects with masks and adds: sin = masked(ys) + masked(yc), one term being +0.
        let ysin2 = if sinPoly then ys else 0.0f
        let ysin1 = if sinPoly then 0.0f else yc
        let s = ysin1 + ysin2
        let c = (yc - ysin1) + (ys - ysin2)
        struct (BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits s ^^^ (signSin ^^^ swapSin)),
                BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits c ^^^ signCos))

    /// `normal_fill_16_AVX2` on one pair: (1 − a, b) → (r·cos θ, r·sin θ), stored through `fmadd(n, 1, 0)`.
    let inline private avx2Pair (a: float32) (b: float32) : struct (float32 * float32) =
        let radius = MathF.Sqrt(-2.0f * logLane (1.0f - a))
        let struct (s, c) = sinCosLane (twoPi * b)
        struct (fma (radius * c) 1.0f 0.0f, fma (radius * s) 1.0f 0.0f)

    type private F = Vector256<float32>
    type private I = Vector256<int32>

    /// `log256_ps` on eight lanes: the same operations as `logLane`, in the same order.
    let private logVector (u: F) : F =
        let xm = Vector256.Max(u, Vector256.Create minNormPos)
        let bits = xm.AsInt32()
        let mutable e =
            Vector256.ConvertToSingle(Vector256.ShiftRightLogical(bits, 23) - Vector256.Create 0x7F)
            + Vector256.Create 1.0f
        let mutable x =
            ((bits &&& Vector256.Create(~~~0x7F800000)) ||| Vector256.Create 0x3F000000).AsSingle()
        let mask = Vector256.LessThan(x, Vector256.Create sqrtHalf)
        let tmp = x &&& mask
        let one = Vector256.Create 1.0f
        x <- x - one
        e <- e - (one &&& mask)
        x <- x + tmp
        let z = x * x
        let mutable y = Fma.MultiplyAdd(Vector256.Create logP0, x, Vector256.Create logP1)
        y <- Fma.MultiplyAdd(y, x, Vector256.Create logP2)
        y <- Fma.MultiplyAdd(y, x, Vector256.Create logP3)
        y <- Fma.MultiplyAdd(y, x, Vector256.Create logP4)
        y <- Fma.MultiplyAdd(y, x, Vector256.Create logP5)
        y <- Fma.MultiplyAdd(y, x, Vector256.Create logP6)
        y <- Fma.MultiplyAdd(y, x, Vector256.Create logP7)
        y <- Fma.MultiplyAdd(y, x, Vector256.Create logP8)
        y <- y * x
        y <- Fma.MultiplyAdd(y, z, e * Vector256.Create logQ1)
        y <- Fma.MultiplyAdd(z, Vector256.Create -0.5f, y)
        x <- x + y
        Fma.MultiplyAdd(e, Vector256.Create logQ2, x)

    /// `sincos256_ps` on eight lanes: the same operations as `sinCosLane`, in the same order.
    let private sinCosVector (theta: F) : struct (F * F) =
        let signMask = Vector256.Create(0x80000000u).AsSingle()
        let mutable x = Vector256.AndNot(theta, signMask)
        let signSin = theta &&& signMask
        let j = (Vector256.ConvertToInt32(x * Vector256.Create fourOverPi) + Vector256.Create 1) &&& Vector256.Create(~~~1)
        let y = Vector256.ConvertToSingle j
        let swapSin = Vector256.ShiftLeft(j &&& Vector256.Create 4, 29).AsSingle()
        let polyMask = Vector256.Equals(j &&& Vector256.Create 2, I.Zero).AsSingle()
        let signCos = Vector256.ShiftLeft(Vector256.AndNot(Vector256.Create 4, j - Vector256.Create 2), 29).AsSingle()
        x <- Fma.MultiplyAdd(y, Vector256.Create dp1, x)
        x <- Fma.MultiplyAdd(y, Vector256.Create dp2, x)
        x <- Fma.MultiplyAdd(y, Vector256.Create dp3, x)
        let z = x * x
        let mutable yc = Fma.MultiplyAdd(Vector256.Create cosP0, z, Vector256.Create cosP1)
        yc <- Fma.MultiplyAdd(yc, z, Vector256.Create cosP2)
        yc <- yc * z
        yc <- Fma.MultiplySubtract(yc, z, z * Vector256.Create 0.5f)
        yc <- yc + Vector256.Create 1.0f
        let mutable ys = Fma.MultiplyAdd(Vector256.Create sinP0, z, Vector256.Create sinP1)
        ys <- Fma.MultiplyAdd(ys, z, Vector256.Create sinP2)
        ys <- ys * z
        ys <- Fma.MultiplyAdd(ys, x, x)
        let ysin2 = polyMask &&& ys
        let ysin1 = Vector256.AndNot(yc, polyMask)
        let s = ysin1 + ysin2
        let c = (yc - ysin1) + (ys - ysin2)
        struct (s ^^^ (signSin ^^^ swapSin), c ^^^ signCos)

    /// Whether the eight-lane AVX2 block runs on this processor (else the lanes run one by one, same bits).
    let avx2Vectorised = Fma.IsSupported && Vector256.IsHardwareAccelerated

    /// The 16 values at `offset` (the caller checks offset + 16 ≤ length; the loads and stores are unchecked).
    let private avx2BlockVector (block: float32[]) (offset: int) =
        let at = &MemoryMarshal.GetArrayDataReference block
        let a = Vector256.LoadUnsafe(&at, unativeint offset)
        let b = Vector256.LoadUnsafe(&at, unativeint (offset + 8))
        let radius = Vector256.Sqrt(Vector256.Create -2.0f * logVector (Vector256.Create 1.0f - a))
        let struct (s, c) = sinCosVector (Vector256.Create twoPi * b)
        Fma.MultiplyAdd(radius * c, Vector256.Create 1.0f, F.Zero).StoreUnsafe(&at, unativeint offset)
        Fma.MultiplyAdd(radius * s, Vector256.Create 1.0f, F.Zero).StoreUnsafe(&at, unativeint (offset + 8))

    /// `normal_fill_16_AVX2` in place on the 16 uniforms at `offset`.
    let avx2Block (block: float32[]) (offset: int) =
        if offset < 0 || offset > block.Length - 16 then
            invalidArg "offset" (sprintf "offset is %d but a block of 16 must fit in %d values" offset block.Length)
        if avx2Vectorised then avx2BlockVector block offset
        else
            let data = Span(block, offset, 16)
            for j in 0 .. 7 do
                let struct (n1, n2) = avx2Pair data[j] data[j + 8]
                data[j] <- n1
                data[j + 8] <- n2

    /// `normal_fill_16_AVX2` one lane at a time (what processors without FMA run): the same bits as the vector block.
    let avx2BlockLanes (block: float32[]) (offset: int) =
        let data = Span(block, offset, 16)
        for j in 0 .. 7 do
            let struct (n1, n2) = avx2Pair data[j] data[j + 8]
            data[j] <- n1
            data[j + 8] <- n2

    /// `normal_fill_16<float>` in place on the 16 uniforms at `offset`: θ = 2π·u2 in double rounded to float32,
    /// then libm's float32 log, cos and sin; `r·cos θ·std + mean` with std 1 and mean 0 is `r·cos θ` rounded once.
    let libmBlock (block: float32[]) (offset: int) =
        let data = Span(block, offset, 16)
        for j in 0 .. 7 do
            let u1 = 1.0f - data[j]
            let u2 = data[j + 8]
            let radius = MathF.Sqrt(-2.0f * MathF.Log u1)
            let theta = float32 (2.0 * Math.PI * float u2)
            data[j] <- fma (radius * MathF.Cos theta) 1.0f 0.0f
            data[j + 8] <- fma (radius * MathF.Sin theta) 1.0f 0.0f

    /// `normal_fill_16<double>` in place on the 16 uniforms at `offset` (libm's double log, cos, sin; .NET's `Math`
    /// calls them).
    let doubleBlock (block: float[]) (offset: int) =
        let data = Span(block, offset, 16)
        for j in 0 .. 7 do
            let u1 = 1.0 - data[j]
            let u2 = data[j + 8]
            let radius = Math.Sqrt(-2.0 * Math.Log u1)
            let theta = 2.0 * Math.PI * u2
            // `r·cos θ·std + mean` with std 1 and mean 0: the product, plus 0 (which turns −0 into +0).
            data[j] <- radius * Math.Cos theta + 0.0
            data[j + 8] <- radius * Math.Sin theta + 0.0
