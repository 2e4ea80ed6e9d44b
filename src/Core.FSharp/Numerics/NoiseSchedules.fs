namespace Schedulers.Core

open System

/// `beta_schedule`: how the training betas are built (diffusers' spellings are the `Text` of each case).
[<RequireQualifiedAccess>]
type BetaSchedule =
    /// "linear": evenly from `beta_start` to `beta_end`.
    | Linear
    /// "scaled_linear": evenly between the square roots, squared (latent diffusion).
    | ScaledLinear
    /// "squaredcos_cap_v2": the cosine schedule (Nichol & Dhariwal 2021).
    | SquaredcosCapV2

    /// The diffusers spelling.
    member b.Text =
        match b with
        | Linear -> "linear"
        | ScaledLinear -> "scaled_linear"
        | SquaredcosCapV2 -> "squaredcos_cap_v2"

    /// The diffusers spelling.
    override b.ToString() = b.Text

/// Variance-preserving noise schedules as diffusers builds them: betas (linear, scaled_linear, squaredcos_cap_v2,
/// trained), the zero-terminal-SNR rescale, and the inference sigma schedules (default interpolation, Karras,
/// exponential, beta, Lu lambdas, flow) with the timestep spacings. Each function rounds as the reference does:
/// float32 torch tensors, float64 numpy arrays, or float32 jnp arrays.
module NoiseSchedules =

    /// numpy's `round` (half to even) of a float64.
    let roundHalfEven (x: float) : float = Math.Round(x, MidpointRounding.ToEven)

    /// `betas_for_alpha_bar(n)` with the cosine ᾱ(t) = cos²(((t + 0.008)/1.008)·π/2) (Nichol & Dhariwal 2021,
    /// eq. 17), each beta capped at 0.999, computed in float64 and rounded to float32.
    let cosineBetas (n: int) : float32[] =
        let alphaBar (t: float) = Math.Pow(Math.Cos((t + 0.008) / 1.008 * Math.PI / 2.0), 2.0)
        Array.init n (fun i ->
            let t1 = float i / float n
            let t2 = float (i + 1) / float n
            float32 (min (1.0 - alphaBar t2 / alphaBar t1) 0.999))

    /// A scheduler's betas: `linspace` in float32 (scaled_linear: of the square roots, then squared in float32),
    /// the cosine schedule, or the trained betas as float32. `linspace` is the flavour's (`Flavour.Linspace`):
    /// `torch.linspace` for the torch classes, `jnp.linspace` as XLA:CPU computes it for the Flax classes.
    let betas (linspace: float32 -> float32 -> int -> float32[]) (schedule: BetaSchedule) (betaStart: float) (betaEnd: float) (n: int) (trained: float[] option) : float32[] =
        match trained with
        | Some betas -> betas |> Array.map float32
        | None ->
            match schedule with
            | BetaSchedule.Linear -> linspace (float32 betaStart) (float32 betaEnd) n
            | BetaSchedule.ScaledLinear -> linspace (float32 (sqrt betaStart)) (float32 (sqrt betaEnd)) n |> Array.map (fun b -> b * b)
            | BetaSchedule.SquaredcosCapV2 -> cosineBetas n

    /// `rescale_zero_terminal_snr(betas)` (Lin et al. 2023, Algorithm 1) in float32 as torch runs it: shift √ᾱ so its
    /// last value is 0, scale it so its first value is unchanged, and rebuild the betas from the new ᾱ.
    let rescaleZeroTerminalSnr (betas: float32[]) : float32[] =
        let n = betas.Length
        if n < 2 then invalidArg "betas" (sprintf "rescale_betas_zero_snr needs at least 2 betas but there are %d" n)
        let sqrtBar = betas |> Array.map (fun b -> 1.0f - b) |> Schedules.torchCumprod |> Array.map MathF.Sqrt
        let first = sqrtBar[0]
        let last = sqrtBar[n - 1]
        let factor = first / (first - last)
        let bar = sqrtBar |> Array.map (fun a -> let s = (a - last) * factor in s * s)
        Array.init n (fun i -> if i = 0 then 1.0f - bar[0] else 1.0f - bar[i] / bar[i - 1])

    /// `_sigma_to_t`: the fractional training timestep whose log-sigma (interpolated linearly between the two
    /// neighbouring entries of the ascending `logSigmas`) equals ln σ, clipped to the table.
    let sigmaToT (logSigmas: float32[]) (sigma: float) : float =
        let logSigma = Math.Log(max sigma 1e-10)
        let n = logSigmas.Length
        // numpy's cumsum(dists >= 0).argmax(): the last index whose log-sigma is ≤ ln σ, or 0 if there is none.
        let mutable low = 0
        let mutable best = 0
        let mutable count = 0
        for i in 0 .. n - 1 do
            if logSigma - float logSigmas[i] >= 0.0 then
                count <- count + 1
                if count > best then
                    best <- count
                    low <- i
        let low = min low (n - 2)
        let high = low + 1
        let lo = logSigmas[low]
        let hi = logSigmas[high]
        let w = (float lo - logSigma) / float (lo - hi)
        let w = Math.Clamp(w, 0.0, 1.0)
        (1.0 - w) * float low + w * float high

    /// Karras et al. (2022) eq. 5 with ρ = 7: σᵢ = (σ_max^(1/ρ) + rampᵢ·(σ_min^(1/ρ) − σ_max^(1/ρ)))^ρ, ramp =
    /// linspace(0, 1, n), in float64.
    let karrasSigmas (sigmaMin: float) (sigmaMax: float) (n: int) : float[] =
        let rho = 7.0
        let minInv = Math.Pow(sigmaMin, 1.0 / rho)
        let maxInv = Math.Pow(sigmaMax, 1.0 / rho)
        Schedules.numpyLinspace 0.0 1.0 n |> Array.map (fun r -> Math.Pow(maxInv + r * (minInv - maxInv), rho))

    /// Sigmas evenly spaced in log: exp(linspace(ln σ_max, ln σ_min, n)).
    let exponentialSigmas (sigmaMin: float) (sigmaMax: float) (n: int) : float[] =
        Schedules.numpyLinspace (Math.Log sigmaMax) (Math.Log sigmaMin) n |> Array.map Math.Exp

    /// Beta sigmas (Lee et al. 2024): σᵢ = σ_min + ppf_Beta(0.6, 0.6)(1 − linspace(0, 1, n)ᵢ)·(σ_max − σ_min).
    let betaSigmas (sigmaMin: float) (sigmaMax: float) (n: int) : float[] =
        Schedules.numpyLinspace 0.0 1.0 n
        |> Array.map (fun r ->
            let p = 1.0 - r
            let ppf =
                if p <= 0.0 then 0.0
                elif p >= 1.0 then 1.0
                else MathNet.Numerics.Distributions.Beta.InvCDF(0.6, 0.6, p)
            sigmaMin + ppf * (sigmaMax - sigmaMin))

    /// Lu et al. (2022) uniform log-SNR steps: λᵢ = λ_max + rampᵢ·(λ_min − λ_max) (ρ = 1) over the log-sigmas.
    let luLambdas (lambdaMin: float) (lambdaMax: float) (n: int) : float[] =
        Schedules.numpyLinspace 0.0 1.0 n |> Array.map (fun r -> lambdaMax + r * (lambdaMin - lambdaMax))

    /// Flow-matching sigmas: s = 1 − linspace(1, 1/N, n + 1), shifted σ = shift·s/(1 + (shift − 1)·s), descending,
    /// the final (zero) entry dropped. float64.
    let flowSigmas (numTrainTimesteps: int) (shift: float) (n: int) : float[] =
        let alphas = Schedules.numpyLinspace 1.0 (1.0 / float numTrainTimesteps) (n + 1)
        let shifted = alphas |> Array.map (fun a -> let s = 1.0 - a in shift * s / (1.0 + (shift - 1.0) * s))
        Array.init n (fun i -> shifted[n - i])

    /// "linspace" spacing: round(linspace(0, last − 1, n + 1)) (half to even), descending, smallest dropped.
    let linspaceTimesteps (last: int) (n: int) : int64[] =
        let values = Schedules.numpyLinspace 0.0 (float (last - 1)) (n + 1)
        Array.init n (fun i -> int64 (roundHalfEven values[n - i]))

    /// "leading" spacing: k·(last div (n + 1)) for k = n … 1, plus `steps_offset`.
    let leadingTimesteps (last: int) (n: int) (stepsOffset: int) : int64[] =
        let ratio = last / (n + 1)
        Array.init n (fun i -> int64 ((n - i) * ratio) + int64 stepsOffset)

    /// "trailing" spacing: round(arange(last, 0, −N/n)) − 1 (numpy arange: `last − j·ratio` while positive). The
    /// count is ceil(last·n/N) in exact integer arithmetic: numpy's float64 ceil((0 − last)/−ratio) can come out one
    /// too large (N = 100, n = 31 gives 31.000000000000004) and then diffusers emits a timestep of −1.
    let trailingTimesteps (numTrainTimesteps: int) (last: int) (n: int) : int64[] =
        let ratio = float numTrainTimesteps / float n
        let count = int ((int64 last * int64 n + int64 numTrainTimesteps - 1L) / int64 numTrainTimesteps)
        Array.init (max count 0) (fun j -> int64 (roundHalfEven (float last + float j * -ratio)) - 1L)

    /// numpy's `interp(t, arange(len(table)), table)` in float64 at one point: the table's value at an integer t,
    /// `slope·(t − j) + table[j]` between j = ⌊t⌋ and j + 1, and the end values outside [0, len − 1].
    let interpAtTimesteps (table: float32[]) (t: float) : float =
        let n = table.Length
        if Double.IsNaN t then nan
        elif t <= 0.0 then float table[0]
        elif t >= float (n - 1) then float table[n - 1]
        else
            let j = int (Math.Floor t)
            if t = float j then float table[j]
            else
                let slope = float table[j + 1] - float table[j]
                slope * (t - float j) + float table[j]
