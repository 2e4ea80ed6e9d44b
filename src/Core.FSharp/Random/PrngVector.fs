namespace Schedulers.Core

open System
open System.Runtime.Intrinsics

/// The JAX PRNG eight lanes at a time (`Vector256`), bit for bit the same as the scalar `Prng` functions: the
/// threefry rounds are integer work, and `normal` repeats XLA:CPU's float32 `log1p`/`erf_inv` with a fused
/// multiply-add exactly where the scalar path has one (both use correctly rounded FMA, so they agree on every
/// input; a property test checks this over random keys, modes and offsets).
module internal PrngVector =

    type private V = Vector256<uint32>
    type private F = Vector256<float32>

    /// A 32-bit rotate: one `vprold` where AVX-512VL exists (on 256-bit registers, so no 512-bit frequency
    /// penalty), else two shifts and an or.
    let inline private rotl (x: V) (r: int) =
        if X86.Avx512F.VL.IsSupported then X86.Avx512F.VL.RotateLeft(x, byte r)
        else Vector256.ShiftLeft(x, r) ||| Vector256.ShiftRightLogical(x, 32 - r)

    /// `Prng.threefry2x32` on eight counters at once.
    let threefry (key: PrngKey) (x0: V) (x1: V) : struct (V * V) =
        let ks0 = Vector256.Create key.K0
        let ks1 = Vector256.Create key.K1
        let ks2 = Vector256.Create(key.K0 ^^^ key.K1 ^^^ 0x1BD11BDAu)
        let mutable a = x0 + ks0
        let mutable b = x1 + ks1
        // Four rounds (rotations R[0..3] or R[4..7]), then a key injection; five times. Written out so the
        // two words stay in registers.
        a <- a + b; b <- rotl b 13 ^^^ a
        a <- a + b; b <- rotl b 15 ^^^ a
        a <- a + b; b <- rotl b 26 ^^^ a
        a <- a + b; b <- rotl b 6 ^^^ a
        a <- a + ks1; b <- b + ks2 + Vector256.Create 1u
        a <- a + b; b <- rotl b 17 ^^^ a
        a <- a + b; b <- rotl b 29 ^^^ a
        a <- a + b; b <- rotl b 16 ^^^ a
        a <- a + b; b <- rotl b 24 ^^^ a
        a <- a + ks2; b <- b + ks0 + Vector256.Create 2u
        a <- a + b; b <- rotl b 13 ^^^ a
        a <- a + b; b <- rotl b 15 ^^^ a
        a <- a + b; b <- rotl b 26 ^^^ a
        a <- a + b; b <- rotl b 6 ^^^ a
        a <- a + ks0; b <- b + ks1 + Vector256.Create 3u
        a <- a + b; b <- rotl b 17 ^^^ a
        a <- a + b; b <- rotl b 29 ^^^ a
        a <- a + b; b <- rotl b 16 ^^^ a
        a <- a + b; b <- rotl b 24 ^^^ a
        a <- a + ks1; b <- b + ks2 + Vector256.Create 4u
        a <- a + b; b <- rotl b 13 ^^^ a
        a <- a + b; b <- rotl b 15 ^^^ a
        a <- a + b; b <- rotl b 26 ^^^ a
        a <- a + b; b <- rotl b 6 ^^^ a
        a <- a + ks2; b <- b + ks0 + Vector256.Create 5u
        struct (a, b)

    let private lanes = Vector256.Create(0u, 1u, 2u, 3u, 4u, 5u, 6u, 7u)

    /// The 32 random bits of flat indices `i .. i+7` of a draw of `total` elements, or `ValueNone` when the eight
    /// indices straddle the halves of the legacy layout (the caller then uses the scalar path).
    let bits8 (mode: ThreefryMode) (key: PrngKey) (total: int64) (i: int64) : V voption =
        match mode with
        | ThreefryMode.Partitionable when (i >>> 32) = ((i + 7L) >>> 32) ->
            let hi = Vector256.Create(uint32 (i >>> 32))
            let lo = Vector256.Create(uint32 i) + lanes
            let struct (y0, y1) = threefry key hi lo
            ValueSome(y0 ^^^ y1)
        | ThreefryMode.Legacy ->
            let m = (total + 1L) / 2L
            if i + 7L < m then
                // First half: block j hashes (j, m + j), with the odd-length pad counter 0 past the end.
                let x0 = Vector256.Create(uint32 i) + lanes
                let second = Vector256.Create(uint32 (m + i)) + lanes
                let x1 = second &&& Vector256.LessThan(second, Vector256.Create(uint32 total))
                let struct (y0, _) = threefry key x0 x1
                ValueSome y0
            elif i >= m then
                // Second half: element m + j is the second word of block j.
                let x0 = Vector256.Create(uint32 (i - m)) + lanes
                let x1 = Vector256.Create(uint32 i) + lanes
                let struct (_, y1) = threefry key x0 x1
                ValueSome y1
            else
                ValueNone
        | _ -> ValueNone

    let inline private f32 (bits: uint32) = Vector256.Create(BitConverter.UInt32BitsToSingle bits)
    let inline private fma (a: F) (b: F) (c: F) = Vector256.FusedMultiplyAdd(a, b, c)

    let private logP = [| 0x3D9021BBu; 0xBDEBD1B8u; 0x3DEF251Au; 0xBDFE5D4Fu; 0x3E11E9BFu; 0xBE2AAE50u; 0x3E4CCEACu; 0xBE7FFFFCu; 0x3EAAAAAAu |] |> Array.map f32
    let private logQ1 = f32 0xB95E8083u
    let private logQ2 = f32 0x3F318000u
    let private sqrtHalf = f32 0x3F3504F3u
    let private one = Vector256.Create 1.0f
    let private half = Vector256.Create 0.5f

    /// `XlaMath.log` on eight lanes.
    let xlaLog (y: F) : F =
        let y = Vector256.Max(y, f32 0x00800000u)
        let b = y.AsUInt32()
        let m = ((b &&& Vector256.Create 0x807FFFFFu) ||| Vector256.Create 0x3F000000u).AsSingle()
        let e0 = one + Vector256.ConvertToSingle(Vector256.ShiftRightLogical(b, 23).AsInt32() - Vector256.Create 127)
        let small = Vector256.LessThan(m, sqrtHalf)
        let e = e0 - (small &&& one)
        let x = Vector256.ConditionalSelect(small, (m - one) + m, m - one)
        let x2 = x * x
        let x3 = x2 * x
        let ya = fma (fma x logP[0] logP[1]) x logP[2]
        let yb = fma (fma x logP[3] logP[4]) x logP[5]
        let yc = fma (fma x logP[6] logP[7]) x logP[8]
        let y1 = fma (fma ya x3 yb) x3 yc
        let y2 = fma y1 x3 (e * logQ1)
        let x4 = fma -half x2 x
        fma e logQ2 (x4 + y2)

    let private log1pNum = [| 0x383DE04Bu; 0x3EFF40C5u; 0x40D284FAu; 0x41EF4B9Cu; 0x4273CC76u; 0x426473ADu; 0x41A05101u |] |> Array.map f32
    let private log1pDen = [| 0x3F800000u; 0x417101ADu; 0x42A6185Bu; 0x435DC32Du; 0x439A8CA3u; 0x43586D8Au; 0x42707982u |] |> Array.map f32
    let private log1pThreshold = f32 0x3ED413CDu

    /// `XlaMath.log1p` on eight lanes (both branches computed, then selected).
    let xlaLog1p (z: F) : F =
        let z2 = z * z
        let mutable num = Vector256<float32>.Zero
        let mutable den = Vector256<float32>.Zero
        for i in 0 .. log1pNum.Length - 1 do
            num <- fma num z log1pNum[i]
            den <- fma den z log1pDen[i]
        let r = (z * z2) * (num / den)
        let near = z + fma -half z2 r
        Vector256.ConditionalSelect(Vector256.LessThan(Vector256.Abs z, log1pThreshold), near, xlaLog (z + one))

    let private erfInvCentral =
        [| 0x32F16588u; 0x34B84B36u; 0xB66C7357u; 0xB6935AC1u; 0x396532DBu; 0xBAA45408u; 0xBB88E4EFu; 0x3E7C8F63u; 0x3FC02E2Fu |] |> Array.map f32
    let private erfInvTail =
        [| 0xB951F09Bu; 0x38D3B56Bu; 0x3AB0DC72u; 0xBB70BDE7u; 0x3BBC127Bu; 0xBBF9C5D7u; 0x3C1AA57Eu; 0x3F8036DBu; 0x40354F7Eu |] |> Array.map f32
    let private normalLow = f32 0xBF7FFFFFu
    let private sqrt2 = f32 0x3FB504F3u
    let private two = Vector256.Create 2.0f
    let private five = Vector256.Create 5.0f
    let private twoHalf = Vector256.Create 2.5f
    let private three = Vector256.Create 3.0f

    /// `Prng.normalOfBits` on eight lanes: √2 · erf_inv(u) with u uniform on (−1, 1) (never ±1, so no infinities).
    let normalOfBits (b: V) : F =
        let f = (Vector256.ShiftRightLogical(b, 9) ||| Vector256.Create 0x3F800000u).AsSingle() - one
        let u = Vector256.Max(normalLow, f * two + normalLow)
        let w = -(xlaLog1p (u * -u))
        let central = Vector256.LessThan(w, five)
        // The tail polynomial (|u| > 0.9966, about one lane in 300) only when some lane needs it: the selected
        // values are the same as evaluating both and selecting.
        let tc = w - twoHalf
        let mutable p = erfInvCentral[0]
        for i in 1 .. erfInvCentral.Length - 1 do
            p <- fma p tc erfInvCentral[i]
        if not (Vector256.EqualsAll(central.AsUInt32(), Vector256<uint32>.AllBitsSet)) then
            let tt = Vector256.Sqrt w - three
            let mutable q = erfInvTail[0]
            for i in 1 .. erfInvTail.Length - 1 do
                q <- fma q tt erfInvTail[i]
            p <- Vector256.ConditionalSelect(central, p, q)
        sqrt2 * (p * u)

/// The JAX PRNG sixteen lanes at a time (`Vector512`), for the bulk bits and normal generators: bit for bit the
/// scalar `Prng` functions. Every constant is written inline (`0x…lf` literals) so the JIT embeds it as a broadcast
/// memory operand, the Horner loops are unrolled, and the key schedule is computed once per block, not per vector.
module internal PrngVector512 =

    type private V = Vector512<uint32>
    type private F = Vector512<float32>

    /// True when the machine executes 512-bit vector instructions (AVX-512F). .NET's own
    /// `Vector512.IsHardwareAccelerated` reports false on processors where 512-bit arithmetic lowers the clock (such
    /// as this project's benchmark machine), but measured there the sixteen-lane threefry and normal are still about
    /// 1.5× faster per element than eight lanes, so the bulk generators use them whenever the instructions exist.
    let isAccelerated = X86.Avx512F.IsSupported

    let inline private rotl (x: V) (r: byte) =
        if X86.Avx512F.IsSupported then X86.Avx512F.RotateLeft(x, r)
        else Vector512.ShiftLeft(x, int r) ||| Vector512.ShiftRightLogical(x, 32 - int r)

    /// A key's threefry schedule broadcast to sixteen lanes, with each injection's round constant folded in
    /// (`ks2 + 1` etc.; integer addition is associative mod 2^32, so this changes no bit).
    [<Struct; NoEquality; NoComparison>]
    type KeySchedule =
        { Ks0: V; Ks1: V; Ks2: V; Ks2p1: V; Ks0p2: V; Ks1p3: V; Ks2p4: V; Ks0p5: V }

    /// The schedule of `key`.
    let schedule (key: PrngKey) : KeySchedule =
        let ks2 = key.K0 ^^^ key.K1 ^^^ 0x1BD11BDAu
        { Ks0 = Vector512.Create key.K0; Ks1 = Vector512.Create key.K1; Ks2 = Vector512.Create ks2
          Ks2p1 = Vector512.Create(ks2 + 1u); Ks0p2 = Vector512.Create(key.K0 + 2u); Ks1p3 = Vector512.Create(key.K1 + 3u)
          Ks2p4 = Vector512.Create(ks2 + 4u); Ks0p5 = Vector512.Create(key.K0 + 5u) }

    /// `Prng.threefry2x32` on sixteen counters at once, the counters already offset by the key (`x0 + ks0`,
    /// `x1 + ks1`).
    let inline private rounds (ks: inref<KeySchedule>) (a0: V) (b0: V) : struct (V * V) =
        let mutable a = a0
        let mutable b = b0
        a <- a + b; b <- rotl b 13uy ^^^ a
        a <- a + b; b <- rotl b 15uy ^^^ a
        a <- a + b; b <- rotl b 26uy ^^^ a
        a <- a + b; b <- rotl b 6uy ^^^ a
        a <- a + ks.Ks1; b <- b + ks.Ks2p1
        a <- a + b; b <- rotl b 17uy ^^^ a
        a <- a + b; b <- rotl b 29uy ^^^ a
        a <- a + b; b <- rotl b 16uy ^^^ a
        a <- a + b; b <- rotl b 24uy ^^^ a
        a <- a + ks.Ks2; b <- b + ks.Ks0p2
        a <- a + b; b <- rotl b 13uy ^^^ a
        a <- a + b; b <- rotl b 15uy ^^^ a
        a <- a + b; b <- rotl b 26uy ^^^ a
        a <- a + b; b <- rotl b 6uy ^^^ a
        a <- a + ks.Ks0; b <- b + ks.Ks1p3
        a <- a + b; b <- rotl b 17uy ^^^ a
        a <- a + b; b <- rotl b 29uy ^^^ a
        a <- a + b; b <- rotl b 16uy ^^^ a
        a <- a + b; b <- rotl b 24uy ^^^ a
        a <- a + ks.Ks1; b <- b + ks.Ks2p4
        a <- a + b; b <- rotl b 13uy ^^^ a
        a <- a + b; b <- rotl b 15uy ^^^ a
        a <- a + b; b <- rotl b 26uy ^^^ a
        a <- a + b; b <- rotl b 6uy ^^^ a
        a <- a + ks.Ks2; b <- b + ks.Ks0p5
        struct (a, b)

    let private lanes = Vector512.Create(0u, 1u, 2u, 3u, 4u, 5u, 6u, 7u, 8u, 9u, 10u, 11u, 12u, 13u, 14u, 15u)

    /// The partitionable-mode bits of flat indices `i .. i+15` (`y0 ^ y1` of counter (i >> 32, i)); the caller keeps
    /// the sixteen indices within one 2^32 block of the high counter word.
    let bits16 (ks: inref<KeySchedule>) (i: int64) : V =
        let struct (a, b) = rounds &ks (Vector512.Create(uint32 (i >>> 32)) + ks.Ks0) (Vector512.Create(uint32 i) + lanes + ks.Ks1)
        a ^^^ b

    /// The legacy-mode words of blocks `j .. j+15` of a draw of `total` elements padded to `2m`: block j hashes
    /// (j, m + j), the pad counter past the end being 0; the first word is element j, the second element m + j.
    let legacyBlocks16 (ks: inref<KeySchedule>) (total: int64) (m: int64) (j: int64) : struct (V * V) =
        let x0 = Vector512.Create(uint32 j) + lanes
        let second = Vector512.Create(uint32 (m + j)) + lanes
        let x1 = second &&& Vector512.LessThan(second, Vector512.Create(uint32 total))
        rounds &ks (x0 + ks.Ks0) (x1 + ks.Ks1)

    let inline fma (a: F) (b: F) (c: F) = Vector512.FusedMultiplyAdd(a, b, c)
    let inline k (x: float32) = Vector512.Create x

    /// `XlaMath.log` on sixteen lanes for arguments known to be normal positive floats (the `max` with the smallest
    /// normal is then the identity and is left out); the same operations in the same order otherwise.
    let inline xlaLogNormalArg (y: F) : F =
        let b = y.AsUInt32()
        let m = ((b &&& Vector512.Create 0x807FFFFFu) ||| Vector512.Create 0x3F000000u).AsSingle()
        let e0 = k 1.0f + Vector512.ConvertToSingle(Vector512.ShiftRightLogical(b, 23).AsInt32() - Vector512.Create 127)
        let small = Vector512.LessThan(m, k 0x3F3504F3lf)
        let e = e0 - (small &&& k 1.0f)
        let x = Vector512.ConditionalSelect(small, (m - k 1.0f) + m, m - k 1.0f)
        let x2 = x * x
        let x3 = x2 * x
        let ya = fma (fma x (k 0x3D9021BBlf) (k 0xBDEBD1B8lf)) x (k 0x3DEF251Alf)
        let yb = fma (fma x (k 0xBDFE5D4Flf) (k 0x3E11E9BFlf)) x (k 0xBE2AAE50lf)
        let yc = fma (fma x (k 0x3E4CCEAClf) (k 0xBE7FFFFClf)) x (k 0x3EAAAAAAlf)
        let y1 = fma (fma ya x3 yb) x3 yc
        let y2 = fma y1 x3 (e * k 0xB95E8083lf)
        let x4 = fma (k -0.5f) x2 x
        fma e (k 0x3F318000lf) (x4 + y2)

    /// u = max(lo, f·2 + lo) of `Prng.normalOfBits`, uniform on (−1, 1), with `f·2 + lo` as one FMA (f·2 is exact).
    let inline uniformOfBits (bits: V) : F =
        let f = (Vector512.ShiftRightLogical(bits, 9) ||| Vector512.Create 0x3F800000u).AsSingle() - k 1.0f
        Vector512.Max(k 0xBF7FFFFFlf, fma f (k 2.0f) (k 0xBF7FFFFFlf))

    /// True on the lanes where XLA's log1p(z) takes its rational branch: |z| < 0.4142, written `z > −0.4142` since
    /// z = −u² ≤ 0.
    let inline isLog1pNear (z: F) = Vector512.GreaterThan(z, k 0xBED413CDlf)

    /// XLA's log1p(z) on its rational branch: z − ½z² + z³·P(z)/Q(z), the Horner loops started at their first
    /// coefficient (fma(0, z, c) = c).
    let inline log1pNear (z: F) : F =
        let z2 = z * z
        let num = fma (fma (fma (fma (fma (fma (k 0x383DE04Blf) z (k 0x3EFF40C5lf)) z (k 0x40D284FAlf)) z (k 0x41EF4B9Clf)) z (k 0x4273CC76lf)) z (k 0x426473ADlf)) z (k 0x41A05101lf)
        let den = fma (fma (fma (fma (fma (fma (k 1.0f) z (k 0x417101ADlf)) z (k 0x42A6185Blf)) z (k 0x435DC32Dlf)) z (k 0x439A8CA3lf)) z (k 0x43586D8Alf)) z (k 0x42707982lf)
        z + fma (k -0.5f) z2 ((z * z2) * (num / den))

    /// XLA's log1p(z) on its other branch, log(1 + z); here 1 + z ≥ 2^-23 is a normal float.
    let inline log1pFar (z: F) : F = xlaLogNormalArg (z + k 1.0f)

    /// √2·erf_inv(u) from w = −log1p(−u²): Giles' central polynomial in w − 2.5, or the tail one in √w − 3 where
    /// w ≥ 5 (|u| > 0.9966, about one lane in 300; evaluated only when some lane needs it, which selects the same
    /// values as evaluating both).
    let inline erfInvScaled (w: F) (u: F) : F =
        let tc = w - k 2.5f
        let mutable p = fma (fma (fma (fma (fma (fma (fma (fma (k 0x32F16588lf) tc (k 0x34B84B36lf)) tc (k 0xB66C7357lf)) tc (k 0xB6935AC1lf)) tc (k 0x396532DBlf)) tc (k 0xBAA45408lf)) tc (k 0xBB88E4EFlf)) tc (k 0x3E7C8F63lf)) tc (k 0x3FC02E2Flf)
        let central = Vector512.LessThan(w, k 5.0f)
        if not (Vector512.EqualsAll(central.AsUInt32(), Vector512<uint32>.AllBitsSet)) then
            let tt = Vector512.Sqrt w - k 3.0f
            let q = fma (fma (fma (fma (fma (fma (fma (fma (k 0xB951F09Blf) tt (k 0x38D3B56Blf)) tt (k 0x3AB0DC72lf)) tt (k 0xBB70BDE7lf)) tt (k 0x3BBC127Blf)) tt (k 0xBBF9C5D7lf)) tt (k 0x3C1AA57Elf)) tt (k 0x3F8036DBlf)) tt (k 0x40354F7Elf)
            p <- Vector512.ConditionalSelect(central, p, q)
        k 0x3FB504F3lf * (p * u)

    /// `Prng.normalOfBits` on sixteen lanes: √2 · erf_inv(u), u uniform on (−1, 1), both log1p branches evaluated
    /// and selected. Only exact rewrites of the scalar steps (see the pieces above).
    let normalOfBits (bits: V) : F =
        let u = uniformOfBits bits
        let z = u * -u
        let w = -(Vector512.ConditionalSelect(isLog1pNear z, log1pNear z, log1pFar z))
        erfInvScaled w u

/// Two sixteen-lane vectors of threefry computed together: each round depends on the previous one, so one vector
/// at a time leaves the processor waiting on latencies; two independent chains side by side fill them.
module internal PrngVector512Pair =

    type private V = Vector512<uint32>

    let inline private rotl (x: V) (r: byte) =
        if X86.Avx512F.IsSupported then X86.Avx512F.RotateLeft(x, r)
        else Vector512.ShiftLeft(x, int r) ||| Vector512.ShiftRightLogical(x, 32 - int r)

    let private lanes = Vector512.Create(0u, 1u, 2u, 3u, 4u, 5u, 6u, 7u, 8u, 9u, 10u, 11u, 12u, 13u, 14u, 15u)
    let private sixteen = Vector512.Create 16u

    /// The partitionable bits of indices `i .. i+31` as two vectors (`PrngVector512.bits16` of i and i + 16); the
    /// caller keeps the 32 indices within one 2^32 block of the high counter word.
    let bits32 (ks: inref<PrngVector512.KeySchedule>) (i: int64) : struct (V * V) =
        let mutable a = Vector512.Create(uint32 (i >>> 32)) + ks.Ks0
        let mutable b = Vector512.Create(uint32 i) + lanes + ks.Ks1
        let mutable c = a
        let mutable d = b + sixteen
        a <- a + b; c <- c + d; b <- rotl b 13uy ^^^ a; d <- rotl d 13uy ^^^ c
        a <- a + b; c <- c + d; b <- rotl b 15uy ^^^ a; d <- rotl d 15uy ^^^ c
        a <- a + b; c <- c + d; b <- rotl b 26uy ^^^ a; d <- rotl d 26uy ^^^ c
        a <- a + b; c <- c + d; b <- rotl b 6uy ^^^ a; d <- rotl d 6uy ^^^ c
        a <- a + ks.Ks1; c <- c + ks.Ks1; b <- b + ks.Ks2p1; d <- d + ks.Ks2p1
        a <- a + b; c <- c + d; b <- rotl b 17uy ^^^ a; d <- rotl d 17uy ^^^ c
        a <- a + b; c <- c + d; b <- rotl b 29uy ^^^ a; d <- rotl d 29uy ^^^ c
        a <- a + b; c <- c + d; b <- rotl b 16uy ^^^ a; d <- rotl d 16uy ^^^ c
        a <- a + b; c <- c + d; b <- rotl b 24uy ^^^ a; d <- rotl d 24uy ^^^ c
        a <- a + ks.Ks2; c <- c + ks.Ks2; b <- b + ks.Ks0p2; d <- d + ks.Ks0p2
        a <- a + b; c <- c + d; b <- rotl b 13uy ^^^ a; d <- rotl d 13uy ^^^ c
        a <- a + b; c <- c + d; b <- rotl b 15uy ^^^ a; d <- rotl d 15uy ^^^ c
        a <- a + b; c <- c + d; b <- rotl b 26uy ^^^ a; d <- rotl d 26uy ^^^ c
        a <- a + b; c <- c + d; b <- rotl b 6uy ^^^ a; d <- rotl d 6uy ^^^ c
        a <- a + ks.Ks0; c <- c + ks.Ks0; b <- b + ks.Ks1p3; d <- d + ks.Ks1p3
        a <- a + b; c <- c + d; b <- rotl b 17uy ^^^ a; d <- rotl d 17uy ^^^ c
        a <- a + b; c <- c + d; b <- rotl b 29uy ^^^ a; d <- rotl d 29uy ^^^ c
        a <- a + b; c <- c + d; b <- rotl b 16uy ^^^ a; d <- rotl d 16uy ^^^ c
        a <- a + b; c <- c + d; b <- rotl b 24uy ^^^ a; d <- rotl d 24uy ^^^ c
        a <- a + ks.Ks1; c <- c + ks.Ks1; b <- b + ks.Ks2p4; d <- d + ks.Ks2p4
        a <- a + b; c <- c + d; b <- rotl b 13uy ^^^ a; d <- rotl d 13uy ^^^ c
        a <- a + b; c <- c + d; b <- rotl b 15uy ^^^ a; d <- rotl d 15uy ^^^ c
        a <- a + b; c <- c + d; b <- rotl b 26uy ^^^ a; d <- rotl d 26uy ^^^ c
        a <- a + b; c <- c + d; b <- rotl b 6uy ^^^ a; d <- rotl d 6uy ^^^ c
        a <- a + ks.Ks2; c <- c + ks.Ks2; b <- b + ks.Ks0p5; d <- d + ks.Ks0p5
        struct (a ^^^ b, c ^^^ d)
