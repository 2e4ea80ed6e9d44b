using Microsoft.FSharp.Core;
using Schedulers.Core;

namespace Schedulers.Conformance.Checkers;

/// <summary>
/// Checks <c>karras_ve_flax.json</c>-shaped files (FlaxKarrasVeScheduler) through the F# core on <see cref="NdArray"/>
/// with JAX keys: the loop's key discipline is <c>key, sub = split(key)</c> before each churn, whose draw is
/// <c>normal(split(sub, 1)[0])</c>; σ values are Python floats, so per-step scalars are float64 (the Flax flavour).
/// </summary>
public sealed class KarrasVeFlaxChecker : IGoldenChecker
{
    /// <inheritdoc />
    public bool Recognises(JsonValue root) => KarrasVeGolden.Recognises(root, "flax");

    /// <inheritdoc />
    public IEnumerable<CaseResult> Check(JsonValue root) => KarrasVeGolden.Check(root, "flax", new CoreBackend());

    private sealed class CoreBackend : IKarrasVeBackend
    {
        private static readonly IBackend<NdArray, PrngKey> Ops = NdArrayBackend.Default;

        private static KarrasVeState State(KarrasVeConfig config, int n) =>
            KarrasVe.setTimesteps(n, KarrasVe.createState(Flavour.Flax, config));

        /// <summary>The golden model −x·s/(s² + 1) with s a Python float: s and s² + 1 are rounded to float32 where
        /// they meet the array, and XLA divides by the scalar by multiplying with its float32 reciprocal.</summary>
        private static NdArray Model(NdArray x, double s)
        {
            var scaled = Ops.Combine(new[] { (Coef.NewScalar(-(float)s), x) });
            return Ops.Combine(new[] { (Coef.NewScalar(1f / (float)(s * s + 1)), scaled) });
        }

        private static KarrasVeStage Stage(KarrasVeOutput<NdArray> o) =>
            new(o.PrevSample.ToArray(), o.Derivative.ToArray(), o.PredOriginalSample.ToArray());

        public (int[] Timesteps, float[] Schedule) SetTimesteps(KarrasVeConfig config, int n)
        {
            var state = State(config, n);
            return (state.Timesteps!.Value, KarrasVe.schedule(state));
        }

        public KarrasVeLoop Loop(KarrasVeConfig config, int n, int[] shape, float[] x0, long seed)
        {
            var steps = new List<KarrasVeLoopStep>();
            var hooks = new KarrasStochasticHooks<NdArray, PrngKey>(
                FuncConvert.FromFunc<NdArray, double, NdArray>(Model),
                FuncConvert.FromFunc<PrngKey, ValueTuple<PrngKey, PrngKey>>(KarrasStochastic.flaxKeyChain),
                FuncConvert.FromAction<StepProgress<KarrasStochasticStep<NdArray>>>(p => steps.Add(new KarrasVeLoopStep(
                    p.Output.Sigma, p.Output.SigmaPrev, p.Output.SigmaHat, p.Output.SampleHat.ToArray(), Stage(p.Output.Step),
                    p.Output.Corrected is null ? null : Stage(p.Output.Corrected.Value)))));
            var final = KarrasStochastic.run(Ops, hooks, State(config, n), Prng.key(seed), NdArrayModule.create(shape, x0));
            return new KarrasVeLoop(steps, final.ToArray());
        }

        public KarrasVeStage Step(KarrasVeConfig config, int n, int[] shape, float[] sampleHat, double sigmaHat, double sigmaPrev)
        {
            var xHat = NdArrayModule.create(shape, sampleHat);
            return Stage(KarrasVe.step(State(config, n), Model(xHat, sigmaHat), sigmaHat, sigmaPrev, xHat));
        }

        public KarrasVeStage StepCorrect(
            KarrasVeConfig config, int n, int[] shape, float[] sampleHat, float[] samplePrev, float[] derivative, double sigmaHat, double sigmaPrev)
        {
            var prev = NdArrayModule.create(shape, samplePrev);
            return Stage(KarrasVe.stepCorrect(
                State(config, n), Model(prev, sigmaPrev), sigmaHat, sigmaPrev, NdArrayModule.create(shape, sampleHat), prev,
                NdArrayModule.create(shape, derivative)));
        }
    }
}
