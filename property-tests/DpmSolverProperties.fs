module Schedulers.PropertyTests.DpmSolverProperties

open System
open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open Schedulers.Core

/// A generated DPM-Solver run: a config and a number of inference steps.
type DpmCase =
    { Config: DpmSolverConfig
      Steps: int }
    override c.ToString() =
        let cfg = c.Config
        sprintf "N=%d n=%d %O/%O order %d %O spacing=%O offset=%d final=%O karras=%b exp=%b beta=%b lu=%b flow=%b lof=%b eaf=%b zsnr=%b"
            cfg.NumTrainTimesteps c.Steps cfg.AlgorithmType cfg.SolverType cfg.SolverOrder cfg.BetaSchedule cfg.TimestepSpacing
            cfg.StepsOffset cfg.FinalSigmasType cfg.UseKarrasSigmas cfg.UseExponentialSigmas cfg.UseBetaSigmas cfg.UseLuLambdas
            cfg.UseFlowSigmas cfg.LowerOrderFinal cfg.EulerAtFinal cfg.RescaleBetasZeroSnr

/// Which sigma schedule a generated case uses.
type SigmaKind =
    | Interpolated
    | Karras
    | Exponential
    | BetaSigmas
    | Lu
    | Flow

let private genCase (odeOnly: bool) : Gen<DpmCase> =
    gen {
        let! n = Gen.elements [ 50; 100; 250; 1000 ]
        let! steps = Gen.choose (1, min 40 (n / 2 - 1))
        let! schedule = Gen.elements [ BetaSchedule.Linear; BetaSchedule.ScaledLinear; BetaSchedule.SquaredcosCapV2 ]
        let! spacing = Gen.elements [ TimestepSpacing.Linspace; TimestepSpacing.Leading; TimestepSpacing.Trailing ]
        let! offset = if spacing = TimestepSpacing.Leading then Gen.choose (0, 1) else Gen.constant 0
        let! kind = Gen.elements [ Interpolated; Karras; Exponential; BetaSigmas; Lu; Flow ]
        let! algorithm =
            if odeOnly || kind = Flow then Gen.constant AlgorithmType.DpmSolverPlusPlus
            else
                Gen.elements
                    [ AlgorithmType.DpmSolver; AlgorithmType.DpmSolverPlusPlus; AlgorithmType.SdeDpmSolver; AlgorithmType.SdeDpmSolverPlusPlus ]
        let! order = if algorithm = AlgorithmType.SdeDpmSolver then Gen.choose (1, 2) else Gen.choose (1, 3)
        let! solverType = Gen.elements [ SolverType.Midpoint; SolverType.Heun ]
        let! lowerOrderFinal = ArbMap.defaults |> ArbMap.generate<bool>
        let! eulerAtFinal = ArbMap.defaults |> ArbMap.generate<bool>
        let! finalZero = ArbMap.defaults |> ArbMap.generate<bool>
        let! zeroSnr = Gen.frequency [ 4, Gen.constant false; 1, Gen.constant true ]
        let final =
            if not algorithm.IsDataPrediction then FinalSigmasType.SigmaMin
            elif kind = Flow || finalZero then FinalSigmasType.Zero
            else FinalSigmasType.SigmaMin
        let betaStart, betaEnd = if schedule = BetaSchedule.ScaledLinear then 0.00085, 0.012 else 0.0001, 0.02
        let config =
            { DpmSolverConfig.defaults with
                NumTrainTimesteps = n; BetaSchedule = schedule; BetaStart = betaStart; BetaEnd = betaEnd
                TimestepSpacing = spacing; StepsOffset = offset; AlgorithmType = algorithm; SolverOrder = order
                SolverType = solverType; LowerOrderFinal = lowerOrderFinal; EulerAtFinal = eulerAtFinal
                FinalSigmasType = final; RescaleBetasZeroSnr = zeroSnr && kind <> Flow
                UseKarrasSigmas = (kind = Karras); UseExponentialSigmas = (kind = Exponential)
                UseBetaSigmas = (kind = BetaSigmas); UseLuLambdas = (kind = Lu); UseFlowSigmas = (kind = Flow)
                PredictionType = (if kind = Flow then PredictionType.FlowPrediction else PredictionType.Epsilon)
                FlowShift = (if kind = Flow then 3.0 else 1.0) }
        return { Config = config; Steps = steps }
    }

/// Arbitrary DPM-Solver cases.
type DpmGenerators =
    /// Any valid configuration (every algorithm, order, solver type, spacing and sigma schedule).
    static member DpmCase() : Arbitrary<DpmCase> = genCase false |> Arb.fromGen

/// ODE (dpmsolver++) cases only, for the properties that need a deterministic, data-predicting solver.
type OdeCase = OdeCase of DpmCase

/// Arbitrary ODE cases.
type OdeGenerators =
    /// dpmsolver++ configurations of every order, solver type, spacing and sigma schedule.
    static member OdeCase() : Arbitrary<OdeCase> = genCase true |> Gen.map OdeCase |> Arb.fromGen

let private scheduled (c: DpmCase) = DpmSolverMultistep.create<NdArray> c.Config |> DpmSolverMultistep.setTimesteps c.Steps

let private ops = NdArrayBackend.Default :> IBackend<NdArray, PrngKey>

/// Runs a whole loop on a small sample with a model, recording the order of every step.
let private runLoop (state: DpmSolverState<NdArray>) (model: NdArray -> int64 -> NdArray) (key: PrngKey) (sample: NdArray) =
    let orders = ResizeArray()
    let final, _ = MultistepSampling.run ops key model (fun p -> orders.Add p.Output.Order) sample state
    final, orders.ToArray()

[<Properties(Arbitrary = [| typeof<DpmGenerators>; typeof<OdeGenerators>; typeof<Generators> |], MaxTest = 150)>]
module Schedule =

    [<Property>]
    let ``timesteps lie in [0, N-1], strictly decreasing for the spacings and non-increasing for sigma schedules`` (c: DpmCase) =
        let s = scheduled c
        let ts = s.Timesteps
        let cfg = c.Config
        let inRange = ts |> Array.forall (fun t -> t >= 0L && t <= int64 (cfg.NumTrainTimesteps - 1))
        let spacingOnly = not (cfg.UseKarrasSigmas || cfg.UseExponentialSigmas || cfg.UseBetaSigmas || cfg.UseLuLambdas || cfg.UseFlowSigmas)
        let pairs = ts |> Array.pairwise
        let ordered = if spacingOnly then pairs |> Array.forall (fun (a, b) -> a > b) else pairs |> Array.forall (fun (a, b) -> a >= b)
        (inRange && ordered && ts.Length = s.Sigmas.Length - 1) |> Prop.label (sprintf "%O: %A" c ts)

    [<Property>]
    let ``sigmas are non-increasing and end at the configured final sigma`` (c: DpmCase) =
        let s = scheduled c
        let sig' = s.Sigmas
        let ac0 = s.Tables.AlphasCumprod[0]
        let final = if c.Config.FinalSigmasType = FinalSigmasType.Zero then 0.0f else MathF.Sqrt((1.0f - ac0) / ac0)
        // Lu's smallest sigma is exp of the float32 log of the smallest training sigma, which can land a few ulps
        // below it (float32 log rounding); diffusers then appends sigma_min itself, so that one junction may rise by a few ulps.
        let fewUlpsAbove (a: float32) (b: float32) = BitConverter.SingleToInt32Bits b - BitConverter.SingleToInt32Bits a <= 4
        let nonIncreasing =
            sig' |> Array.pairwise |> Array.mapi (fun i (a, b) ->
                a >= b || (c.Config.UseLuLambdas && i = sig'.Length - 2 && fewUlpsAbove a b)) |> Array.forall id
        (nonIncreasing && sig'[sig'.Length - 1] = final) |> Prop.label (sprintf "%O: %A" c sig')

[<Properties(Arbitrary = [| typeof<DpmGenerators>; typeof<OdeGenerators>; typeof<Generators> |], MaxTest = 100)>]
module Steps =

    let private sample = NdArray.create [| 2; 3 |] [| 0.5f; -1.0f; 0.25f; 2.0f; -0.75f; 1.5f |]

    [<Property>]
    let ``the order at step k is at most min(k+1, solver_order) and obeys lower_order_final and euler_at_final`` (c: DpmCase) (key: PrngKey) =
        let s = scheduled c
        let count = s.Timesteps.Length
        let _, orders = runLoop s (fun x _ -> NdArray.scale 0.5f x) key sample
        let cfg = c.Config
        let shortRun = cfg.LowerOrderFinal && count < 15
        let ok =
            orders
            |> Array.mapi (fun k order ->
                let bound = min (k + 1) cfg.SolverOrder
                let last = k = count - 1
                let lastRule = not last || not (cfg.EulerAtFinal || shortRun || cfg.FinalSigmasType = FinalSigmasType.Zero) || order = 1
                let secondRule = k <> count - 2 || not shortRun || order <= 2
                order >= 1 && order <= bound && lastRule && secondRule)
            |> Array.forall id
        (ok && orders.Length = count) |> Prop.label (sprintf "%O: orders %A" c orders)

    [<Property>]
    let ``a model predicting the constant c ends exactly at c when the final sigma is zero`` (OdeCase c) (key: PrngKey) (NormalFloat value) =
        let value = float32 (Math.Clamp(value, -10.0, 10.0))
        let cfg = { c.Config with PredictionType = PredictionType.Sample; FinalSigmasType = FinalSigmasType.Zero; UseFlowSigmas = false; FlowShift = 1.0 }
        let s = DpmSolverMultistep.create<NdArray> cfg |> DpmSolverMultistep.setTimesteps c.Steps
        let constant = NdArray.full [| 2; 3 |] value
        let final, _ = runLoop s (fun _ _ -> constant) key sample
        (final.ToArray() |> Array.forall (fun v -> v = value)) |> Prop.label (sprintf "%O: %A" c (final.ToArray()))

    [<Property>]
    let ``the Flax order selection equals torch's when the final sigma is sigma_min and euler_at_final is off`` (c: DpmCase) =
        let cfg = { c.Config with FinalSigmasType = FinalSigmasType.SigmaMin; EulerAtFinal = false }
        let count = c.Steps
        [ for k in 0 .. count - 1 ->
            let nums = min k cfg.SolverOrder
            DpmSolverMultistep.orderAt cfg k count nums = DpmSolverMultistepFlax.orderAt cfg k count nums ]
        |> List.forall id

    [<Property>]
    let ``a bounded model gives finite samples at every step`` (c: DpmCase) (key: PrngKey) =
        let s = scheduled c
        let finite = ResizeArray()
        let model (x: NdArray) (t: int64) = NdArray.scale (float32 t / float32 (t + 1L)) x
        MultistepSampling.run ops key model (fun p -> finite.Add(NdArray.isFinite p.Output.PrevSample)) sample s |> ignore
        Seq.forall id finite |> Prop.label (sprintf "%O" c)

    [<Property>]
    let ``the same inputs give the same outputs`` (c: DpmCase) (key: PrngKey) =
        let s = scheduled c
        let model (x: NdArray) (t: int64) = NdArray.scale (float32 t / float32 (t + 1L)) x
        let a, ordersA = runLoop s model key sample
        let b, ordersB = runLoop s model key sample
        let bits (x: NdArray) = x.ToArray() |> Array.map BitConverter.SingleToInt32Bits
        bits a = bits b && ordersA = ordersB

[<Properties(Arbitrary = [| typeof<Generators> |], MaxTest = 150)>]
module Thresholding =

    [<Property>]
    let ``thresholded x0 satisfies |x0| <= s before the division and |x0/s| <= 1 after it`` (key: PrngKey) (NormalFloat scale) (NormalFloat ratio) (NormalFloat maxValue) =
        let scale = float32 (1.0 + abs scale % 5.0)
        let ratio = float32 (abs ratio % 1.0)
        let maxValue = float32 (0.1 + abs maxValue % 4.0)
        let x = NdArray.normal [| 3; 2; 5 |] key |> NdArray.scale scale
        let out = ops.Threshold(x, ratio, maxValue)
        let inner = 10
        Array.init 3 (fun b ->
            let slice = Array.init inner (fun k -> MathF.Abs x[b * inner + k])
            let q = Kernels.quantile ratio (ReadOnlySpan slice)
            let s = MathF.Min(MathF.Max(q, 1.0f), maxValue)
            Array.init inner (fun k ->
                let v = out[b * inner + k]
                let clamped = MathF.Min(MathF.Max(x[b * inner + k], -s), s)
                MathF.Abs clamped <= s && v = clamped / s && MathF.Abs v <= 1.0f)
            |> Array.forall id)
        |> Array.forall id
