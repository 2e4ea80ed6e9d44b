using Schedulers.Core;
using TorchSharp;
using static TorchSharp.torch;
using static Schedulers.Tests.HostKernelsTests;

namespace Schedulers.Tests;

/// <summary>
/// The three shell schedulers with the CPU fast path against the same calls op by op: every output bit for bit on
/// random shapes, values and seeds; non-contiguous inputs; and no tensor left alive after a step but its outputs.
/// </summary>
public class ShellFastPathTests
{
    public static TheoryData<int> Seeds() => new() { 1, 2, 3, 4 };

    private static void SameBits(Tensor expected, Tensor actual) => Assert.Equal(Bits(expected), Bits(actual));

    private static ScoreSdeVeScheduler SdeVe(int steps)
    {
        var scheduler = new ScoreSdeVeScheduler(numTrainTimesteps: 100, sigmaMax: 50.0);
        scheduler.SetTimesteps(steps);
        scheduler.SetSigmas(steps);
        return scheduler;
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void ScoreSdeVe_steps_equal_the_op_path_bit_for_bit(int seed)
    {
        var random = new Random(seed);
        var scheduler = SdeVe(10);
        for (int trial = 0; trial < 6; trial++)
        {
            using var scope = NewDisposeScope();
            var shape = RandomShape(random);
            var sample = RandomTensor(random, shape);
            var model = RandomTensor(random, shape);
            var t = scheduler.State.Timesteps!.Value[random.Next(10)];
            var g = (ulong)random.Next();

            var fast = scheduler.StepPred(model, t, sample, new Generator(g));
            var ops = OpByOp(() => scheduler.StepPred(model, t, sample, new Generator(g)));
            SameBits(ops.PrevSample, fast.PrevSample);
            SameBits(ops.PrevSampleMean, fast.PrevSampleMean);

            var z = RandomTensor(random, shape);
            var given = scheduler.StepPred(model, t, sample, z);
            var givenOps = OpByOp(() => scheduler.StepPred(model, t, sample, z));
            SameBits(givenOps.PrevSample, given.PrevSample);
            SameBits(givenOps.PrevSampleMean, given.PrevSampleMean);

            SameBits(OpByOp(() => scheduler.StepCorrect(model, sample, new Generator(g))).PrevSample, scheduler.StepCorrect(model, sample, new Generator(g)).PrevSample);

            var indices = tensor(Enumerable.Range(0, (int)shape[0]).Select(_ => (long)random.Next(10)).ToArray());
            SameBits(OpByOp(() => scheduler.AddNoise(sample, z, indices)), scheduler.AddNoise(sample, z, indices));
        }
    }

    [Fact]
    public void ScoreSdeVe_non_contiguous_model_output_gives_the_contiguous_result()
    {
        using var scope = NewDisposeScope();
        var scheduler = SdeVe(10);
        var random = new Random(3);
        var sample = RandomTensor(random, new long[] { 4, 3, 8, 8 });
        var transposed = RandomTensor(random, new long[] { 4, 3, 8, 8 }).transpose(2, 3);
        Assert.False(HostKernels.Fits(transposed));
        var t = scheduler.State.Timesteps!.Value[2];
        var fromView = scheduler.StepPred(transposed, t, sample, new Generator(9));
        var fromCopy = scheduler.StepPred(transposed.contiguous(), t, sample, new Generator(9));
        SameBits(fromCopy.PrevSample, fromView.PrevSample);
        SameBits(fromCopy.PrevSampleMean, fromView.PrevSampleMean);
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void KarrasVe_churn_step_and_correction_equal_the_op_path_bit_for_bit(int seed)
    {
        var random = new Random(seed);
        var scheduler = new KarrasVeScheduler();
        scheduler.SetTimesteps(20);
        for (int trial = 0; trial < 5; trial++)
        {
            using var scope = NewDisposeScope();
            var shape = RandomShape(random);
            var sample = RandomTensor(random, shape);
            var model = RandomTensor(random, shape);
            var model2 = RandomTensor(random, shape);
            var (sigma, sigmaPrev) = scheduler.SigmasAt(1 + random.Next(19));
            var g = (ulong)random.Next();

            var churn = scheduler.AddNoiseToInput(sample, sigma, new Generator(g));
            var churnOps = OpByOp(() => scheduler.AddNoiseToInput(sample, sigma, new Generator(g)));
            SameBits(churnOps.SampleHat, churn.SampleHat);

            var step = scheduler.Step(model, churn.SigmaHat, sigmaPrev, churn.SampleHat);
            var stepOps = OpByOp(() => scheduler.Step(model, churn.SigmaHat, sigmaPrev, churn.SampleHat));
            SameBits(stepOps.PrevSample, step.PrevSample);
            SameBits(stepOps.Derivative, step.Derivative);
            SameBits(stepOps.PredOriginalSample, step.PredOriginalSample);

            var correct = scheduler.StepCorrect(model2, churn.SigmaHat, sigmaPrev, churn.SampleHat, step.PrevSample, step.Derivative);
            var correctOps = OpByOp(() => scheduler.StepCorrect(model2, churn.SigmaHat, sigmaPrev, churn.SampleHat, step.PrevSample, step.Derivative));
            SameBits(correctOps.PrevSample, correct.PrevSample);
            SameBits(correctOps.PredOriginalSample, correct.PredOriginalSample);
        }
    }

    /// <summary>DPM-Solver configurations covering every update order, both solver types, the SDE variant and thresholding.</summary>
    public static TheoryData<string, int, string, string, bool> DpmConfigs() => new()
    {
        { "dpmsolver++", 3, "midpoint", "epsilon", false },
        { "dpmsolver++", 2, "heun", "v_prediction", true },
        { "sde-dpmsolver++", 2, "midpoint", "epsilon", false },
        { "dpmsolver", 3, "heun", "sample", false },
    };

    [Theory]
    [MemberData(nameof(DpmConfigs))]
    public void DpmSolver_loops_equal_the_op_path_bit_for_bit(string algorithm, int order, string solver, string prediction, bool thresholding)
    {
        var random = new Random(order * 10 + algorithm.Length);
        var shape = new long[] { 2, 3, 5 + random.Next(6), 7 };
        var start = RandomTensor(random, shape);
        DPMSolverMultistepScheduler Make() => DpmSolverTestKit.Scheduler(
            ("algorithm_type", algorithm), ("solver_order", order), ("solver_type", solver), ("prediction_type", prediction),
            ("thresholding", thresholding));
        var fast = Make();
        var ops = Make();
        fast.SetTimesteps(8);
        ops.SetTimesteps(8);
        using var fastGenerator = new Generator(17);
        using var opsGenerator = new Generator(17);
        var x = start;
        var y = start;
        foreach (var t in fast.State.Timesteps)
        {
            using var scope = NewDisposeScope();
            var next = fast.Step(DpmSolverTestKit.Model(x, t), t, x, fastGenerator).PrevSample;
            var nextOps = OpByOp(() => ops.Step(DpmSolverTestKit.Model(y, t), t, y, opsGenerator).PrevSample);
            SameBits(nextOps, next);
            x = next.MoveToOuterDisposeScope();
            y = nextOps.MoveToOuterDisposeScope();
        }
    }

    /// <summary>Asserts that <paramref name="body"/> leaves no tensor alive on this thread beyond those it returns (disposed here).</summary>
    private static void LeavesOnlyItsOutputs(Func<IEnumerable<Tensor>> body)
    {
        using var scope = NewDisposeScope();
        foreach (var output in body().ToList()) output.Dispose();
        Assert.DoesNotContain(scope.DisposablesView.OfType<Tensor>(), t => !t.IsInvalid);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Steps_leave_no_temporary_tensor_alive(bool fastPath)
    {
        using var sample = randn(new long[] { 4, 3, 8, 8 });
        using var model = randn(new long[] { 4, 3, 8, 8 });
        using var noise = randn(new long[] { 4, 3, 8, 8 });
        var sde = SdeVe(10);
        var karras = new KarrasVeScheduler();
        karras.SetTimesteps(20);
        var dpm = DpmSolverTestKit.Scheduler(("algorithm_type", "sde-dpmsolver++"), ("solver_order", 3));
        dpm.SetTimesteps(8);
        HostKernels.Enabled = fastPath;
        try
        {
            var t = sde.State.Timesteps!.Value[4];
            LeavesOnlyItsOutputs(() => { var o = sde.StepPred(model, t, sample, new Generator(1)); return new[] { o.PrevSample, o.PrevSampleMean }; });
            LeavesOnlyItsOutputs(() => { var o = sde.StepPred(model, t, sample, noise); return new[] { o.PrevSample, o.PrevSampleMean }; });
            LeavesOnlyItsOutputs(() => new[] { sde.StepCorrect(model, sample, new Generator(1)).PrevSample });
            LeavesOnlyItsOutputs(() =>
            {
                var (sigma, sigmaPrev) = karras.SigmasAt(10);
                var churn = karras.AddNoiseToInput(sample, sigma, new Generator(2));
                var step = karras.Step(model, churn.SigmaHat, sigmaPrev, churn.SampleHat);
                var correct = karras.StepCorrect(model, churn.SigmaHat, sigmaPrev, churn.SampleHat, step.PrevSample, step.Derivative);
                return new[] { churn.SampleHat, step.PrevSample, step.Derivative, step.PredOriginalSample, correct.PrevSample, correct.PredOriginalSample };
            });
            using var generator = new Generator(3);
            foreach (var timestep in dpm.State.Timesteps.Take(4))
            {
                LeavesOnlyItsOutputs(() => new[] { dpm.Step(model, timestep, sample, generator).PrevSample });
            }
        }
        finally
        {
            HostKernels.Enabled = true;
        }
    }

    [Fact]
    public void Dpm_history_survives_the_callers_dispose_scope()
    {
        var dpm = DpmSolverTestKit.Scheduler(("solver_order", 2));
        dpm.SetTimesteps(6);
        var x = DpmSolverTestKit.Deter();
        var expected = DpmSolverTestKit.Scheduler(("solver_order", 2));
        expected.SetTimesteps(6);
        var y = x;
        foreach (var t in dpm.State.Timesteps.Take(3))
        {
            // Each step in its own scope, the model output disposed with it: the scheduler keeps its own handle.
            using (var scope = NewDisposeScope())
            {
                x = dpm.Step(DpmSolverTestKit.Model(x, t), t, x).PrevSample.MoveToOuterDisposeScope();
            }
            y = expected.Step(DpmSolverTestKit.Model(y, t), t, y).PrevSample;
            SameBits(y, x);
        }
    }
}
