namespace Schedulers.Core

open System

/// diffusers' `CommonSchedulerState` of the variance-preserving schedulers (DDIM, DDPM, PNDM, LMS, Euler): the
/// training betas, alphas = 1 − β and ᾱ = cumprod(alphas), built with the flavour's linspace and cumprod.
type CommonSchedulerState =
    { /// β_t, float32.
      Betas: float32[]
      /// α_t = 1 − β_t.
      Alphas: float32[]
      /// ᾱ_t = ∏_{s ≤ t} α_s.
      AlphasCumprod: float32[] }

/// The schedule, noise and velocity functions the VP schedulers share (diffusers' `scheduling_utils` and each
/// class's `add_noise`/`get_velocity`).
module VpCommon =

    /// `CommonSchedulerState.create`: the betas of the schedule (`trained` overrides it), the zero-terminal-SNR rescale
    /// when asked (Lin et al. 2023, Algorithm 1; torch flavour), then α and ᾱ with the flavour's cumprod.
    let create (flavour: Flavour) (schedule: BetaSchedule) (betaStart: float) (betaEnd: float) (n: int) (trained: float[] option) (rescaleZeroSnr: bool) =
        let betas = NoiseSchedules.betas flavour.Linspace schedule betaStart betaEnd n trained
        let betas = if rescaleZeroSnr then NoiseSchedules.rescaleZeroTerminalSnr betas else betas
        let alphas = betas |> Array.map (fun b -> 1.0f - b)
        { Betas = betas; Alphas = alphas; AlphasCumprod = flavour.Cumprod alphas }

    /// Checks the training-schedule keys every VP scheduler has, throwing an ArgumentException that names the key:
    /// `num_train_timesteps` at least `minTrain` and within `ConfigLimits`, `trained_betas` (when given) one value per
    /// training step, each in (0, 1), else `beta_start`/`beta_end` in (0, 1), and `steps_offset` ≥ 0.
    let validateSchedule (minTrain: int) (numTrain: int) (trained: float[] option) (betaStart: float) (betaEnd: float) (stepsOffset: int) =
        let fail (key: string) (expected: string) (value: obj) = invalidArg key (sprintf "%s is %O but %s" key value expected)
        if numTrain < minTrain then fail "num_train_timesteps" (sprintf "it must be at least %d" minTrain) numTrain
        ConfigLimits.atMost "num_train_timesteps" (nameof ConfigLimits.MaxNumTrainTimesteps) ConfigLimits.MaxNumTrainTimesteps numTrain
        match trained with
        | Some betas when betas.Length <> numTrain ->
            fail "trained_betas" (sprintf "it must have num_train_timesteps (%d) values" numTrain) (sprintf "an array of %d values" betas.Length)
        | Some betas when betas |> Array.exists (fun b -> not (b > 0.0 && b < 1.0)) ->
            fail "trained_betas" "every beta must lie in the open interval (0, 1)" "an array with a value outside (0, 1)"
        | _ -> ()
        if trained.IsNone && not (betaStart > 0.0 && betaEnd > 0.0 && betaStart < 1.0 && betaEnd < 1.0) then
            fail "beta_start" "beta_start and beta_end must lie in the open interval (0, 1)" betaStart
        if stepsOffset < 0 then fail "steps_offset" "it must be at least 0" stepsOffset

    let private cumprodAt (common: CommonSchedulerState) (timesteps: int64[]) =
        timesteps
        |> Array.map (fun t ->
            if t < 0L || t >= int64 common.AlphasCumprod.Length then
                raise (ArgumentOutOfRangeException("timesteps", t, sprintf "a timestep must lie in [0, %d)" common.AlphasCumprod.Length))
            common.AlphasCumprod[int t])

    let private perBatch (ops: IBackend<'T, 'N>) (like: 'T) (timesteps: int64[]) =
        let shape = ops.Shape like
        let batch = if shape.Length = 0 then 1 else shape[0]
        if timesteps.Length <> batch then
            invalidArg "timesteps" (sprintf "timesteps has %d values but the batch has %d" timesteps.Length batch)

    /// What a VP scheduler's loop tells the model at integer timestep t: t itself and the VE noise level
    /// σ = √((1 − ᾱ_t)/ᾱ_t) of its input.
    let query (common: CommonSchedulerState) (t: int64) : ModelQuery =
        let a = common.AlphasCumprod[int t]
        { Timestep = float t; Sigma = float (MathF.Sqrt((1.0f - a) / a)) }

    /// `add_noise(original, noise, timesteps)`: √ᾱ_t·x + √(1 − ᾱ_t)·ε with one timestep per batch element, the
    /// square roots of float32 values (as `alphas_cumprod[t] ** 0.5` rounds).
    let addNoise (ops: IBackend<'T, 'N>) (common: CommonSchedulerState) (original: 'T) (noise: 'T) (timesteps: int64[]) : 'T =
        Backend.checkSame ops "original_samples" original "noise" noise
        perBatch ops original timesteps
        let ac = cumprodAt common timesteps
        ops.Combine
            [| struct (PerBatch(ac |> Array.map MathF.Sqrt), original)
               struct (PerBatch(ac |> Array.map (fun a -> MathF.Sqrt(1.0f - a))), noise) |]

    /// `get_velocity(sample, noise, timesteps)`: v = √ᾱ_t·ε − √(1 − ᾱ_t)·x (Salimans & Ho 2022), one timestep per
    /// batch element.
    let getVelocity (ops: IBackend<'T, 'N>) (common: CommonSchedulerState) (sample: 'T) (noise: 'T) (timesteps: int64[]) : 'T =
        Backend.checkSame ops "sample" sample "noise" noise
        perBatch ops sample timesteps
        let ac = cumprodAt common timesteps
        ops.Combine
            [| struct (PerBatch(ac |> Array.map MathF.Sqrt), noise)
               struct (PerBatch(ac |> Array.map (fun a -> -MathF.Sqrt(1.0f - a))), sample) |]

    /// The inference timesteps of DDIM, DDPM and PNDM (`set_timesteps`) for `n` of `numTrainTimesteps`:
    /// "linspace": `round(linspace(0, N − 1, n))` descending; "leading": `arange(0, n)·(N div n)` descending, plus
    /// `steps_offset`; "trailing": `round(arange(N, 0, −N/n)) − 1`. Throws when n exceeds N or is below 1.
    let timesteps (spacing: TimestepSpacing) (numTrainTimesteps: int) (stepsOffset: int) (n: int) : int64[] =
        if n < 1 then invalidArg "num_inference_steps" (sprintf "num_inference_steps is %d but must be at least 1" n)
        if n > numTrainTimesteps then
            invalidArg
                "num_inference_steps"
                (sprintf "num_inference_steps is %d but cannot be larger than num_train_timesteps (%d): the schedule has only that many timesteps" n numTrainTimesteps)
        match spacing with
        | TimestepSpacing.Linspace ->
            Schedules.numpyLinspace 0.0 (float (numTrainTimesteps - 1)) n
            |> Array.map (fun v -> int64 (NoiseSchedules.roundHalfEven v))
            |> Array.rev
        | TimestepSpacing.Leading ->
            let ratio = numTrainTimesteps / n
            Array.init n (fun i -> int64 ((n - 1 - i) * ratio + stepsOffset))
        | TimestepSpacing.Trailing -> NoiseSchedules.trailingTimesteps numTrainTimesteps numTrainTimesteps n
