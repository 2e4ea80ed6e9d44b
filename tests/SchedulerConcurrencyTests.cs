using Schedulers.Pipelines;
using TorchSharp;
using static TorchSharp.torch;

namespace Schedulers.Tests;

/// <summary>One scheduler instance used from two threads at once: a change that overlaps another change of the same
/// instance is refused with <see cref="InvalidOperationException"/>, and no accepted update is ever lost.</summary>
public sealed class SchedulerConcurrencyTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    /// <summary>Runs <paramref name="work"/> on two threads at once; returns how many calls each way ended.</summary>
    private static (int Accepted, int Refused) OnTwoThreads(Action<int> work)
    {
        int accepted = 0, refused = 0;
        Exception? other = null;
        var threads = Enumerable.Range(0, 2).Select(i => new Thread(() =>
        {
            try
            {
                work(i);
                Interlocked.Increment(ref accepted);
            }
            catch (InvalidOperationException e) when (e.Message.Contains("another call changed this scheduler instance"))
            {
                Interlocked.Increment(ref refused);
            }
            catch (Exception e)
            {
                other = e;
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => Assert.True(t.Join(Patience)));
        Assert.True(other is null, other?.ToString());
        return (accepted, refused);
    }

    [Fact]
    public void Two_overlapping_changes_of_one_state_keep_one_and_refuse_the_other()
    {
        var slot = new StateSlot<string>("start", "Owner");
        using var barrier = new Barrier(2);
        // Each change blocks until both have read the start state, so the two provably overlap.
        var (accepted, refused) = OnTwoThreads(i => slot.Update(state =>
        {
            Assert.True(barrier.SignalAndWait(Patience));
            return state + "+" + i;
        }, "Change"));
        Assert.Equal((1, 1), (accepted, refused));
        Assert.Contains(slot.Current, new[] { "start+0", "start+1" });
    }

    [Fact]
    public void Two_pipeline_runs_on_one_scheduler_that_overlap_refuse_one_and_keep_the_other()
    {
        var scheduler = new ScoreSdeVeScheduler();
        using var barrier = new Barrier(2);
        int calls = 0;
        // The first model call of each run waits for the other run's, so both runs have read the scheduler's state
        // before either replaces it.
        Tensor Model(Tensor x, Tensor sigma)
        {
            if (Interlocked.Increment(ref calls) <= 2) Assert.True(barrier.SignalAndWait(Patience));
            return x.neg().sub(1f);
        }
        var (accepted, refused) = OnTwoThreads(i =>
        {
            using var scope = NewDisposeScope();
            new ScoreSdeVePipeline(Model, scheduler).CallFrom(zeros(1, 1, 2, 2), 3 + i, new Generator((ulong)i));
        });
        Assert.Equal((1, 1), (accepted, refused));
        Assert.NotNull(scheduler.State.Timesteps);
    }

    [Fact]
    public void Stepping_one_DPM_solver_from_two_threads_never_loses_a_step()
    {
        const int steps = 50;
        var scheduler = new DPMSolverMultistepScheduler();
        scheduler.SetTimesteps(steps);
        var first = scheduler.State.Timesteps[0];
        using var barrier = new Barrier(2);
        int accepted = 0, refused = 0;
        var threads = Enumerable.Range(0, 2).Select(_ => new Thread(() =>
        {
            using var scope = NewDisposeScope();
            var x = ones(2, 8);
            for (int k = 0; k < steps / 2; k++)
            {
                // Both threads start each step together, so their steps overlap.
                Assert.True(barrier.SignalAndWait(Patience));
                try
                {
                    scheduler.Step(x.mul(0.5f), first, x);
                    Interlocked.Increment(ref accepted);
                }
                catch (InvalidOperationException e) when (e.Message.Contains("DPMSolverMultistepScheduler.Step was refused"))
                {
                    Interlocked.Increment(ref refused);
                }
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => Assert.True(t.Join(Patience)));
        Assert.Equal(steps, accepted + refused);
        // Every accepted step advanced the schedule once: none was overwritten by another.
        Assert.Equal(accepted, scheduler.StepIndex);
    }

    [Fact]
    public void Concurrent_KarrasVe_set_timesteps_leave_a_state_and_its_tables_in_agreement()
    {
        var scheduler = new KarrasVeScheduler();
        for (int round = 0; round < 20; round++)
        {
            using var barrier = new Barrier(2);
            var (accepted, refused) = OnTwoThreads(i =>
            {
                Assert.True(barrier.SignalAndWait(Patience));
                scheduler.SetTimesteps(10 + i);
            });
            Assert.Equal(2, accepted + refused);
            var n = scheduler.NumInferenceSteps;
            Assert.Equal(n, (int)scheduler.Timesteps!.shape[0]);
            Assert.Equal(n, (int)scheduler.Schedule!.shape[0]);
        }
    }
}
