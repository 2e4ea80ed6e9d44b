namespace Schedulers.PropertyTests

open System
open Schedulers.Core
open Xunit
open Xunit.Abstractions

/// Convergence of the multistep DPM-Solver++ on 1-D Gaussian data x0 ~ N(μ, s²) with its exact noise model
/// ε(x, t) = σ_t (x − α_t μ)/(α_t² s² + σ_t²): the probability-flow ODE keeps z = (x − α μ)/√(α² s² + σ²) constant, so
/// the exact end point is known and the global error of K uniform-λ steps falls as K^(−order).
type DpmSolverConvergence(output: ITestOutputHelper) =
    let mu, s = 0.5, 0.3
    let lambdaStart, lambdaEnd = -2.5, 2.5
    let ops = NdArrayBackend.Default :> IBackend<NdArray, PrngKey>
    let start = NdArray.init [| 1; 64 |] (fun i -> float32 (-3.0 + 6.0 * float i / 63.0))

    let point (lambda: float) : VpPoint =
        let alpha = 1.0 / sqrt (1.0 + Math.Exp(-2.0 * lambda))
        { Alpha = float32 alpha; Sigma = float32 (alpha * Math.Exp(-lambda)); Lambda = float32 lambda }

    let exact (x: float32) =
        let p0, p1 = point lambdaStart, point lambdaEnd
        let spread (p: VpPoint) = sqrt (float p.Alpha ** 2.0 * s * s + float p.Sigma ** 2.0)
        float p1.Alpha * mu + spread p1 * (float x - float p0.Alpha * mu) / spread p0

    /// The largest end-point error of K steps of order `order` (warm-up: order min(k+1, order)).
    let error (order: int) (steps: int) =
        let config = { DpmSolverConfig.defaults with SolverOrder = order }
        let lambdas = Array.init (steps + 1) (fun k -> lambdaStart + (lambdaEnd - lambdaStart) * float k / float steps)
        let points = lambdas |> Array.map point
        let mutable x = start
        let mutable history = []
        for k in 0 .. steps - 1 do
            let p = points[k]
            let eps =
                x.ToArray()
                |> Array.map (fun v -> float32 (float p.Sigma * (float v - float p.Alpha * mu) / (float p.Alpha ** 2.0 * s * s + float p.Sigma ** 2.0)))
                |> NdArray.create x.Shape
            let m = DpmSolverUpdate.convert ops config p 0.0f eps x
            history <- m :: history
            let used = min (k + 1) order
            let plan = DpmSolverUpdate.plan Flavour.Torch AlgorithmType.DpmSolverPlusPlus SolverType.Midpoint used points[k + 1] (Array.init used (fun j -> points[k - j]))
            x <- DpmSolverUpdate.apply ops plan x (List.take used history |> List.toArray) ValueNone
        Array.map2 (fun (a: float32) (b: float32) -> abs (float a - exact b)) (x.ToArray()) (start.ToArray()) |> Array.max

    /// The least-squares slope of −log(error) against log(steps) over 20, 40, 80 and 160 uniform-λ steps.
    let measuredOrder (order: int) =
        let steps = [| 20; 40; 80; 160 |]
        let xs = steps |> Array.map (float >> Math.Log)
        let errors = steps |> Array.map (error order)
        let ys = errors |> Array.map Math.Log
        let mx, my = Array.average xs, Array.average ys
        let slope = -(Array.fold2 (fun acc x y -> acc + (x - mx) * (y - my)) 0.0 xs ys / (xs |> Array.sumBy (fun x -> (x - mx) ** 2.0)))
        output.WriteLine(sprintf "order %d: errors %A at %A steps, measured order %.3f" order errors steps slope)
        slope

    [<Fact>]
    member _.``first-order error falls with slope at least 0.8``() =
        Assert.True(measuredOrder 1 >= 0.8)

    [<Fact>]
    member _.``second-order error falls with slope at least 1.6``() =
        Assert.True(measuredOrder 2 >= 1.6)

    [<Fact>]
    member _.``third order ends closer than second order at 160 steps``() =
        let order3 = measuredOrder 3
        let e2, e3 = error 2 160, error 3 160
        output.WriteLine(sprintf "160 steps: order 2 error %.3e, order 3 error %.3e (measured order 3: %.3f)" e2 e3 order3)
        Assert.True(e3 < e2)
