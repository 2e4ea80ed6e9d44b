using Schedulers.Core;

namespace Schedulers.Hub;

/// <summary>
/// The Flax classes' <c>from_pretrained</c>: the config record and <c>create_state()</c> of the core's Flax flavour,
/// from a file, a folder (and its <c>subfolder</c>, typically <c>"scheduler"</c>), the Hugging Face cache or the Hub,
/// found and read as the torch classes' <c>FromPretrained</c> finds and reads it (<see cref="SchedulerConfigs.Read"/>,
/// <see cref="SchedulerConfigs.Load{TConfig}(ConfigDict, ConfigSchema{TConfig})"/>). In F#: <c>let config, state = FlaxPretrained.DpmSolver(folder, "scheduler")</c>.
/// </summary>
public static class FlaxPretrained
{
    private static TConfig Load<TConfig>(string pathOrRepoId, string? subfolder, string? revision, HubSettings? hub, ConfigSchema<TConfig> schema) =>
        SchedulerConfigs.Load(SchedulerConfigs.Read(pathOrRepoId, subfolder, revision, hub), schema).Config;

    /// <summary><c>FlaxScoreSdeVeScheduler.from_pretrained</c>: the config and <c>create_state()</c>.</summary>
    public static Tuple<ScoreSdeVeConfig, ScoreSdeVeState> ScoreSdeVe(string pathOrRepoId, string? subfolder = null, string? revision = null, HubSettings? hub = null)
    {
        var config = Load(pathOrRepoId, subfolder, revision, hub, ScoreSdeVeConfig.Schema);
        return Tuple.Create(config, Schedulers.Core.ScoreSdeVe.createState(config));
    }

    /// <summary><c>FlaxKarrasVeScheduler.from_pretrained</c>: the config and <c>create_state()</c>.</summary>
    public static Tuple<KarrasVeConfig, KarrasVeState> KarrasVe(string pathOrRepoId, string? subfolder = null, string? revision = null, HubSettings? hub = null)
    {
        var config = Load(pathOrRepoId, subfolder, revision, hub, KarrasVeConfig.Schema);
        return Tuple.Create(config, Schedulers.Core.KarrasVe.createState(Flavour.Flax, config));
    }

    /// <summary><c>FlaxDPMSolverMultistepScheduler.from_pretrained</c>: the config and <c>create_state()</c>.</summary>
    public static Tuple<DpmSolverConfig, FlaxDpmSolverState> DpmSolver(string pathOrRepoId, string? subfolder = null, string? revision = null, HubSettings? hub = null)
    {
        var config = Load(pathOrRepoId, subfolder, revision, hub, DpmSolverConfig.Schema);
        return Tuple.Create(config, DpmSolverMultistepFlax.createState(config));
    }
}
