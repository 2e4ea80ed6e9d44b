namespace Schedulers.Core

/// Philox4x32-10 as curand defines it (curand_philox4x32_x.h, `curand_Philox4x32_10`): a 128-bit counter under a
/// 64-bit key, ten rounds, four 32-bit output words. torch's CUDA generator draws through it.
module Philox =

    [<Literal>]
    let private MulA = 0xD2511F53UL

    [<Literal>]
    let private MulB = 0xCD9E8D57UL

    [<Literal>]
    let private BumpA = 0x9E3779B9u

    [<Literal>]
    let private BumpB = 0xBB67AE85u

    /// The ten rounds on counter (c0, c1, c2, c3) under key (k0, k1): each round multiplies c0 and c2 into 64-bit
    /// products and mixes their halves with c1, c3 and the key (`_philox4x32round`); the key is bumped by
    /// (0x9E3779B9, 0xBB67AE85) between rounds (`_philox4x32bumpkey`).
    let block (k0: uint32) (k1: uint32) (c0: uint32) (c1: uint32) (c2: uint32) (c3: uint32)
        : struct (uint32 * uint32 * uint32 * uint32) =
        let mutable x0 = c0
        let mutable x1 = c1
        let mutable x2 = c2
        let mutable x3 = c3
        let mutable ka = k0
        let mutable kb = k1
        for r in 0 .. 9 do
            if r > 0 then
                ka <- ka + BumpA
                kb <- kb + BumpB
            let p0 = MulA * uint64 x0
            let p1 = MulB * uint64 x2
            let n0 = uint32 (p1 >>> 32) ^^^ x1 ^^^ ka
            let n2 = uint32 (p0 >>> 32) ^^^ x3 ^^^ kb
            x0 <- n0
            x1 <- uint32 p1
            x2 <- n2
            x3 <- uint32 p0
        struct (x0, x1, x2, x3)
