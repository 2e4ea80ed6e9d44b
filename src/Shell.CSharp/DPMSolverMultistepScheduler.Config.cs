using Schedulers.Core;

namespace Schedulers;

/// <summary>The config binding of <see cref="DPMSolverMultistepScheduler"/>: its core schema and constructor; loading, saving and
/// <c>FromConfig</c>/<c>FromPretrained</c>/<c>PushToHub</c> come from <see cref="SchedulerBase{TSelf, TConfig}"/>.</summary>
public sealed partial class DPMSolverMultistepScheduler : SchedulerBase<DPMSolverMultistepScheduler, DpmSolverConfig>, ISchedulerClass<DPMSolverMultistepScheduler, DpmSolverConfig>
{
    static ConfigSchema<DpmSolverConfig> ISchedulerClass<DPMSolverMultistepScheduler, DpmSolverConfig>.Schema => DpmSolverConfig.Schema;

    static DPMSolverMultistepScheduler ISchedulerClass<DPMSolverMultistepScheduler, DpmSolverConfig>.Create(DpmSolverConfig config) => new(config);
}
