using Schedulers.Core;

namespace Schedulers;

/// <summary>The config binding of <see cref="KarrasVeScheduler"/>: its core schema and constructor; loading, saving and
/// <c>FromConfig</c>/<c>FromPretrained</c>/<c>PushToHub</c> come from <see cref="SchedulerBase{TSelf, TConfig}"/>.</summary>
public sealed partial class KarrasVeScheduler : SchedulerBase<KarrasVeScheduler, KarrasVeConfig>, ISchedulerClass<KarrasVeScheduler, KarrasVeConfig>
{
    static ConfigSchema<KarrasVeConfig> ISchedulerClass<KarrasVeScheduler, KarrasVeConfig>.Schema => KarrasVeConfig.Schema;

    static KarrasVeScheduler ISchedulerClass<KarrasVeScheduler, KarrasVeConfig>.Create(KarrasVeConfig config) => new(config);
}
