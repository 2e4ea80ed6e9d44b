module Schedulers.PropertyTests.PndmProperties

open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open Schedulers.Core

/// A PNDM config over the options that change the numbers, and a step count.
type PndmCase = PndmCase of config: PndmConfig * steps: int

/// Generators: every beta schedule, spacing and prediction type, with and without the Runge–Kutta stage, 1–60 steps.
type PndmGenerators =
    static member PndmCase() : Arbitrary<PndmCase> =
        gen {
            let! schedule = Gen.elements [ BetaSchedule.Linear; BetaSchedule.ScaledLinear; BetaSchedule.SquaredcosCapV2 ]
            let! prediction = Gen.elements [ PredictionType.Epsilon; PredictionType.VPrediction ]
            let! spacing = Gen.elements [ TimestepSpacing.Leading; TimestepSpacing.Linspace; TimestepSpacing.Trailing ]
            let! skip = Gen.elements [ true; false ]
            let! alphaOne = Gen.elements [ true; false ]
            let! offset = Gen.choose (0, 1)
            let! steps = Gen.choose (1, 60)
            let config =
                { Pndm.defaults with
                    BetaSchedule = schedule
                    PredictionType = prediction
                    TimestepSpacing = spacing
                    SkipPrkSteps = skip
                    SetAlphaToOne = alphaOne
                    StepsOffset = offset }
            return PndmCase(config, steps)
        }
        |> Arb.fromGen

let private shape = [| 2; 3; 4 |]
let private ops = NdArrayBackend.Default :> IBackend<NdArray, PrngKey>

/// Timesteps non-increasing and within [0, N); their distinct values are the spacing's n timesteps; one step per
/// entry: 12 Runge–Kutta evaluations then n − 3 multistep steps, or n + 1 multistep steps (n for n = 1) when the
/// Runge–Kutta stage is skipped (as it is below four steps).
[<Property(Arbitrary = [| typeof<PndmGenerators> |], MaxTest = 200)>]
let ``timesteps do not increase and stay within the training range`` (PndmCase(config, steps)) =
    let state: PndmState<NdArray> = Pndm.create config |> Pndm.setTimesteps steps
    let ts = state.Timesteps
    let spaced = VpCommon.timesteps config.TimestepSpacing config.NumTrainTimesteps config.StepsOffset steps
    let prk = not config.SkipPrkSteps && steps >= 4
    let expectedLength = if prk then 12 + steps - 3 elif steps = 1 then 1 else steps + 1
    ts.Length = expectedLength
    && Array.forall (fun t -> t >= 0L && t < int64 config.NumTrainTimesteps) ts
    && Array.pairwise ts |> Array.forall (fun (a, b) -> a >= b)
    && (if prk then true else Array.distinct ts = spaced)

/// Runs the whole loop of `Loop.run` with a model that gives a fixed output at every evaluation.
let private runWith (config: PndmConfig) (steps: int) (x: NdArray) (output: ModelQuery -> NdArray) =
    let scheduler = Pndm.scheduler<NdArray> config
    let state = scheduler.SetTimesteps(steps, x.Shape, scheduler.Create Flavour.Torch)
    let model (_: NdArray) (q: ModelQuery) = output q
    (Loop.run scheduler ops model Loop.shared (Prng.key 0L) ignore state x).Sample

/// add_noise at the first timestep, then a model that returns the noise at every evaluation: every transfer
/// (Liu et al. 2022, eq. 9) lands on x_t = √ᾱ·x0 + √(1 − ᾱ)·ε, and every Runge–Kutta and multistep combination of
/// equal outputs is that output (the weights sum to 1), so with set_alpha_to_one the run recovers x0. Leading
/// spacing only: every step goes from t to t − N div n, which is the next timestep of that spacing alone (a
/// linspace or trailing run steps to timesteps it then does not evaluate at, as diffusers does).
[<Property(Arbitrary = [| typeof<PndmGenerators>; typeof<Generators> |], MaxTest = 60)>]
let ``a perfect noise model's run recovers the clean sample`` (PndmCase(config, steps)) (key: PrngKey) =
    let config = { config with PredictionType = PredictionType.Epsilon; SetAlphaToOne = true; TimestepSpacing = TimestepSpacing.Leading }
    let state: PndmState<NdArray> = Pndm.create config |> Pndm.setTimesteps steps
    let keys = Prng.split 2 key
    let x0 = NdArray.normal shape keys[0] |> NdArray.scale 0.5f
    let eps = NdArray.normal shape keys[1]
    let t = state.Timesteps[0]
    let xt = Pndm.addNoiseOn ops state x0 eps [| t; t |]
    let final = runWith config steps xt (fun _ -> NdArray.scale 1.0f eps)
    let err = Array.map2 (fun (a: float32) (b: float32) -> abs (float a - float b)) (final.ToArray()) (x0.ToArray()) |> Array.max
    // Each transfer multiplies the sample by √(ᾱ_prev/ᾱ_t); the float32 rounding of x_t is magnified by 1/√ᾱ_t.
    let a = float state.Common.AlphasCumprod[int t]
    (err <= 2e-5 * (1.0 + 4.0 / sqrt a)) |> Prop.label (sprintf "max |x0 error| %g at t = %d (alpha_bar %g)" err t a)

/// The same state and inputs give the same bits and the same next state; the state and the inputs are not written.
[<Property(Arbitrary = [| typeof<PndmGenerators>; typeof<Generators> |], MaxTest = 60)>]
let ``a step is a pure function of its state and inputs`` (PndmCase(config, steps)) (key: PrngKey) =
    let state0: PndmState<NdArray> = Pndm.create config |> Pndm.setTimesteps steps
    let x = NdArray.normal shape key
    let m = NdArray.normal shape (Prng.foldIn 1u key)
    let copy = x.ToArray(), m.ToArray()
    // Walk part of the run (the history fills), then step twice from the same state.
    let mutable state = state0
    let mutable sample = x
    for i in 0 .. (min 5 (state0.Timesteps.Length - 1)) - 1 do
        let struct (next, r) = Pndm.stepOn ops state m state.Timesteps[i] sample
        state <- next
        sample <- r.PrevSample
    let before = Array.copy state.Common.AlphasCumprod, Array.copy state.Timesteps, state.Counter, state.Ets.Length
    let t = state.Timesteps[state.Counter]
    let struct (na, a) = Pndm.stepOn ops state m t sample
    let struct (nb, b) = Pndm.stepOn ops state m t sample
    a.PrevSample.ToArray() = b.PrevSample.ToArray()
    && na.Counter = nb.Counter && na.Ets.Length = nb.Ets.Length
    && (x.ToArray(), m.ToArray()) = copy
    && (Array.copy state.Common.AlphasCumprod, Array.copy state.Timesteps, state.Counter, state.Ets.Length) = before

/// The relative error of PNDM (epsilon model, leading spacing, set_alpha_to_one false so the run ends at ᾱ_0)
/// against the exact probability-flow solution on a Gaussian target N(0, s²I): in x̄ = x/√ᾱ and σ = √((1 − ᾱ)/ᾱ)
/// the flow is dx̄/dσ = ε̂ with solution x̄(σ) ∝ √(s² + σ²), so the final sample is
/// √ᾱ_0 · x_T/√ᾱ_T · √(s² + σ_0²)/√(s² + σ_T²).
let pndmGaussianError (skipPrk: bool) (s: float) (steps: int) : float =
    let config = { Pndm.defaults with SkipPrkSteps = skipPrk }
    let state: PndmState<NdArray> = Pndm.create config |> Pndm.setTimesteps steps
    let xT = NdArray.normal [| 64; 8 |] (Prng.key 7L)
    let s2 = s * s
    // E[ε | x_t] of x_t = √ᾱ·x0 + √(1 − ᾱ)·ε with x0 ~ N(0, s²I).
    let model (x: NdArray) (t: int64) =
        let a = float state.Common.AlphasCumprod[int t]
        NdArray.scale (float32 (sqrt (1.0 - a) / (a * s2 + 1.0 - a))) x
    let mutable st = state
    let mutable x = xT
    for t in state.Timesteps do
        let struct (next, r) = Pndm.stepOn ops st (model x t) t x
        st <- next
        x <- r.PrevSample
    let aT = float state.Common.AlphasCumprod[int state.Timesteps[0]]
    let sigmaT2 = (1.0 - aT) / aT
    let a0 = float state.Common.AlphasCumprod[0]
    let sigma02 = (1.0 - a0) / a0
    let factor = sqrt a0 / sqrt aT * sqrt (s2 + sigma02) / sqrt (s2 + sigmaT2)
    let exact = xT.ToArray() |> Array.map (fun v -> float v * factor)
    let num = Array.map2 (fun (a: float32) e -> (float a - e) ** 2.0) (x.ToArray()) exact |> Array.sum
    sqrt (num / (exact |> Array.sumBy (fun e -> e * e)))

/// PNDM converges at high order until float32 stops it: from 10 to 40 steps the error falls as about h^3.7 with
/// or without the Runge–Kutta stage (measured values in docs/schedulers/pndm.md).
[<Xunit.Fact>]
let ``PNDM converges at high order on a Gaussian target`` () =
    for skip in [ false; true ] do
        let e10 = pndmGaussianError skip 0.5 10
        let e40 = pndmGaussianError skip 0.5 40
        let order = log (e10 / e40) / log 4.0
        Xunit.Assert.True(order > 3.0, sprintf "skip_prk_steps %b: errors %g, %g, order %g" skip e10 e40 order)

/// A model of the sample and the timestep for the Flax-against-torch runs (any smooth function will do).
let private flaxTestModel (x: NdArray) (t: int64) =
    let c = float32 t / 1000.0f
    x |> NdArray.map (fun v -> 0.7f * tanh v + c)

/// Runs a whole schedule with both steps on the same start, returning each step's previous sample of each.
let private flaxAndTorchRuns (tables: Flavour) (config: PndmConfig) (steps: int) (key: PrngKey) =
    let x0 = NdArray.normal shape key
    let flax0 = PndmFlax.create config |> PndmFlax.setTimesteps steps shape
    let torch0: PndmState<NdArray> = Pndm.createWith tables config |> Pndm.setTimesteps steps
    let timesteps = torch0.Timesteps
    Array.toList timesteps
    |> List.fold
        (fun (flax, torch, xf, xt, acc) t ->
            let struct (flax', rf) = PndmFlax.step flax (flaxTestModel xf t) t xf
            let struct (torch', rt) = Pndm.stepOn ops torch (flaxTestModel xt t) t xt
            flax', torch', rf.PrevSample, rt.PrevSample, (rf.PrevSample.ToArray(), rt.PrevSample.ToArray()) :: acc)
        (flax0, torch0, x0, x0, [])
    |> fun (_, _, _, _, acc) -> List.rev acc, timesteps

/// The Flax class's maths is the torch class's on the same (Flax) tables: bit for bit at every step, except that
/// its multistep steps clamp the previous timestep at 0 — the last step of a run with `set_alpha_to_one` lands on
/// ᾱ_0 instead of 1 (the only step allowed to differ), and every other step, and every step without
/// `set_alpha_to_one`, is identical.
[<Property(Arbitrary = [| typeof<PndmGenerators> |], MaxTest = 60)>]
let ``the Flax class steps as the torch class on the Flax tables, but for the clamped last step`` (PndmCase(config, steps)) (key: PrngKey) =
    let config = { config with TimestepSpacing = TimestepSpacing.Leading }
    let runs, _ = flaxAndTorchRuns Flavour.Flax config steps key
    let last = runs.Length - 1
    runs
    |> List.mapi (fun i (f, t) -> i = last && config.SetAlphaToOne || f = t)
    |> List.forall id
    |> Prop.label (sprintf "steps %d, set_alpha_to_one %b" steps config.SetAlphaToOne)

/// Against the torch flavour (torch.linspace and torch.cumprod, true division) the Flax class agrees to float32
/// rounding when `set_alpha_to_one` is off: within 2e-5 of the largest value at every step of runs of up to 60 steps.
[<Property(Arbitrary = [| typeof<PndmGenerators> |], MaxTest = 60)>]
let ``the Flax class agrees with the torch class within float32 rounding`` (PndmCase(config, steps)) (key: PrngKey) =
    let config = { config with TimestepSpacing = TimestepSpacing.Leading; SetAlphaToOne = false }
    let runs, _ = flaxAndTorchRuns Flavour.Torch config steps key
    let worst, scale =
        runs
        |> List.fold
            (fun (w, s) (f, t) ->
                let d = Array.map2 (fun (p: float32) (q: float32) -> abs (float p - float q)) f t |> Array.max
                max w d, t |> Array.fold (fun m v -> max m (abs (float v))) s)
            (0.0, 1.0)
    (worst <= 2e-5 * scale) |> Prop.label (sprintf "steps %d: worst %g (scale %g)" steps worst scale)

/// The Flax class refuses a spacing it does not have, and a sample of another shape than `set_timesteps` was given.
[<Xunit.Fact>]
let ``the Flax class refuses what it cannot run`` () =
    let e = Xunit.Assert.Throws<System.ArgumentException>(fun () -> PndmFlax.create { Pndm.defaults with TimestepSpacing = TimestepSpacing.Trailing } |> ignore)
    Xunit.Assert.Equal("timestep_spacing", e.ParamName)
    let state = PndmFlax.create Pndm.defaults |> PndmFlax.setTimesteps 10 shape
    let other = NdArray.zeros [| 2; 3; 5 |]
    let e = Xunit.Assert.Throws<System.ArgumentException>(fun () -> PndmFlax.step state other 900L other |> ignore)
    Xunit.Assert.Equal("sample", e.ParamName)
    Xunit.Assert.Throws<System.InvalidOperationException>(fun () -> PndmFlax.step (PndmFlax.create Pndm.defaults) other 900L other |> ignore) |> ignore
