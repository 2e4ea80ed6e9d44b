using Schedulers.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Schedulers.Conformance.Checkers;

/// <summary>
/// Checks <c>karras_ve_torch.json</c>-shaped files (diffusers' KarrasVeScheduler) through the C# shell
/// (<see cref="KarrasVeScheduler"/>) on TorchSharp CPU tensors, with one <see cref="torch.Generator"/> seeded as the
/// file says and shared by every churn, as the diffusers loop does; σ values are float32 0-d tensors there.
/// </summary>
public sealed class KarrasVeTorchChecker : IGoldenChecker
{
    /// <inheritdoc />
    public bool Recognises(JsonValue root) => KarrasVeGolden.Recognises(root, "torch");

    /// <inheritdoc />
    public IEnumerable<CaseResult> Check(JsonValue root) => KarrasVeGolden.Check(root, "torch", new ShellBackend());

    private sealed class ShellBackend : IKarrasVeBackend
    {
        private static KarrasVeScheduler Scheduler(KarrasVeConfig config, int n)
        {
            var scheduler = new KarrasVeScheduler(config);
            scheduler.SetTimesteps(n);
            return scheduler;
        }

        /// <summary>The golden model −x·s/(s² + 1) with s a float32 0-d tensor (so s² + 1 is float32 too).</summary>
        private static Tensor Model(Tensor x, float s) => x.neg().mul(s).div(s * s + 1f);

        private static float[] Host(Tensor t) => t.contiguous().data<float>().ToArray();

        private static KarrasVeStage Stage(KarrasVeOutput o) => new(Host(o.PrevSample), Host(o.Derivative), Host(o.PredOriginalSample));

        private static Tensor Make(int[] shape, float[] data) => tensor(data, shape.Select(d => (long)d).ToArray(), ScalarType.Float32);

        public (int[] Timesteps, float[] Schedule) SetTimesteps(KarrasVeConfig config, int n)
        {
            var scheduler = Scheduler(config, n);
            return (scheduler.Timesteps!.data<long>().Select(t => checked((int)t)).ToArray(), Host(scheduler.Schedule!));
        }

        public KarrasVeLoop Loop(KarrasVeConfig config, int n, int[] shape, float[] x0, long seed)
        {
            using var scope = NewDisposeScope();
            var scheduler = Scheduler(config, n);
            var generator = new torch.Generator(checked((ulong)seed));
            var steps = new List<KarrasVeLoopStep>();
            var x = Make(shape, x0);
            foreach (var t in scheduler.Timesteps!.data<long>().ToArray())
            {
                var (sigma, sigmaPrev) = scheduler.SigmasAt(checked((int)t));
                var (sampleHat, sigmaHat) = scheduler.AddNoiseToInput(x, sigma, generator);
                var output = scheduler.Step(Model(sampleHat, sigmaHat), sigmaHat, sigmaPrev, sampleHat);
                KarrasVeOutput? corrected = null;
                if (sigmaPrev != 0)
                {
                    corrected = scheduler.StepCorrect(
                        Model(output.PrevSample, sigmaPrev), sigmaHat, sigmaPrev, sampleHat, output.PrevSample, output.Derivative);
                }
                steps.Add(new KarrasVeLoopStep(
                    sigma, sigmaPrev, sigmaHat, Host(sampleHat), Stage(output), corrected is null ? null : Stage(corrected)));
                x = (corrected ?? output).PrevSample;
            }
            return new KarrasVeLoop(steps, Host(x));
        }

        public KarrasVeStage Step(KarrasVeConfig config, int n, int[] shape, float[] sampleHat, double sigmaHat, double sigmaPrev)
        {
            using var scope = NewDisposeScope();
            var xHat = Make(shape, sampleHat);
            return Stage(Scheduler(config, n).Step(Model(xHat, (float)sigmaHat), (float)sigmaHat, (float)sigmaPrev, xHat));
        }

        public KarrasVeStage StepCorrect(
            KarrasVeConfig config, int n, int[] shape, float[] sampleHat, float[] samplePrev, float[] derivative, double sigmaHat, double sigmaPrev)
        {
            using var scope = NewDisposeScope();
            var prev = Make(shape, samplePrev);
            return Stage(Scheduler(config, n).StepCorrect(
                Model(prev, (float)sigmaPrev), (float)sigmaHat, (float)sigmaPrev, Make(shape, sampleHat), prev, Make(shape, derivative)));
        }
    }
}
