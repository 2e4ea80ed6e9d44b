using Schedulers.Core;
using Schedulers.Evaluation;

namespace Schedulers.Cli;

/// <summary>The step counts a sampler can run, checked before sampling starts, so that a count its scheduler refuses
/// (more DPM-Solver steps than training timesteps, a schedule that would repeat a timestep, past
/// <see cref="ConfigLimits.MaxInferenceSteps"/>) is one usage line instead of a failure part-way through.</summary>
public static class SamplerSteps
{
    /// <summary>The fewest steps a sampler runs: KarrasVe's schedule divides by steps − 1 (diffusers fails at one
    /// step), so it needs two; every other sampler runs from one.</summary>
    public static int Minimum(TargetSampler sampler) => sampler.IsKarrasVeSampler ? 2 : 1;

    /// <summary>Builds the sampler's schedule for <paramref name="steps"/> as its loop will (cheap: no model, one
    /// sample) and turns the scheduler's refusal into a usage error starting with <paramref name="label"/>.</summary>
    public static void Check(TargetSampler sampler, int steps, string label)
    {
        try
        {
            switch (sampler)
            {
                case TargetSampler.DpmSolverSampler d when TargetSampling.dpmRunsFlax(d.dpm):
                    DpmSolverMultistepFlax.setTimesteps(DpmSolverMultistepFlax.createState(d.dpm), steps, [1, 1]);
                    break;
                case TargetSampler.DpmSolverSampler d:
                    DpmSolverMultistep.setTimesteps(steps, DpmSolverMultistep.create<NdArray>(d.dpm));
                    break;
                case TargetSampler.KarrasVeSampler k:
                    KarrasVe.setTimesteps(steps, KarrasVe.createState(Flavour.Flax, k.karras));
                    break;
                case TargetSampler.EdmHeunSampler h:
                    EdmHeun.setTimesteps(steps, EdmHeun.createState(h.heun));
                    break;
                case TargetSampler.DdimSampler d:
                    Ddim.setTimesteps(steps, Ddim.create(d.ddim));
                    break;
                case TargetSampler.DdpmSampler d:
                    SetTimesteps(Ddpm.scheduler<NdArray>(d.ddpm), steps);
                    break;
                case TargetSampler.PndmSampler p:
                    SetTimesteps(Pndm.scheduler<NdArray>(p.pndm), steps);
                    break;
                case TargetSampler.LmsSampler l:
                    SetTimesteps(Lms.scheduler<NdArray>(l.lms), steps);
                    break;
                case TargetSampler.EulerSampler e:
                    SetTimesteps(Euler.scheduler<NdArray>(e.euler), steps);
                    break;
                case TargetSampler.ScoreSdeVeSampler s:
                    ScoreSdeVe.setTimesteps(s.sdeVe, steps, ScoreSdeVe.emptyWith(Flavour.Flax));
                    break;
            }
        }
        catch (ArgumentException e)
        {
            throw new UsageException($"{label}: {SamplerConfigs.Clean(e)}");
        }
    }

    private static void SetTimesteps<TState, TOutput>(IScheduler<TState, NdArray, TOutput> scheduler, int steps) =>
        scheduler.SetTimesteps(steps, [1, 1], scheduler.Create(Flavour.Torch));
}
