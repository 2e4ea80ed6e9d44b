using Schedulers.Core;

namespace Schedulers;

/// <summary>The config binding of <see cref="ScoreSdeVeScheduler"/>: its core schema and constructor; loading, saving and
/// <c>FromConfig</c>/<c>FromPretrained</c>/<c>PushToHub</c> come from <see cref="SchedulerBase{TSelf, TConfig}"/>.</summary>
public sealed partial class ScoreSdeVeScheduler : SchedulerBase<ScoreSdeVeScheduler, ScoreSdeVeConfig>, ISchedulerClass<ScoreSdeVeScheduler, ScoreSdeVeConfig>
{
    static ConfigSchema<ScoreSdeVeConfig> ISchedulerClass<ScoreSdeVeScheduler, ScoreSdeVeConfig>.Schema => ScoreSdeVeConfig.Schema;

    static ScoreSdeVeScheduler ISchedulerClass<ScoreSdeVeScheduler, ScoreSdeVeConfig>.Create(ScoreSdeVeConfig config) => new(config);
}
