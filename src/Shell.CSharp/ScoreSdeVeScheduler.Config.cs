using Schedulers.Core;
using Schedulers.Hub;
using ConfigJson = Schedulers.Core.Config;

namespace Schedulers;

/// <summary>Config loading, saving and pushing for <see cref="ScoreSdeVeScheduler"/>, with diffusers' semantics.</summary>
public sealed partial class ScoreSdeVeScheduler
{
    private LoadedConfig<ScoreSdeVeConfig>? _loaded;

    /// <summary>diffusers' <c>compatibles</c>: the classes whose configs this class loads (only its own, torch and Flax).</summary>
    public static IReadOnlyList<string> Compatibles { get; } = new[] { ConfigJson.ScoreSdeVe.ClassName, "FlaxScoreSdeVeScheduler" };

    /// <summary>diffusers' <c>from_config</c>: a scheduler from a parsed config. Keys of other classes are kept and saved
    /// again; an invalid value throws <see cref="SchedulerConfigException"/> naming its key.</summary>
    public static ScoreSdeVeScheduler FromConfig(ConfigDict config)
    {
        var loaded = SchedulerConfigs.Load(config, ConfigJson.ScoreSdeVe.keys, Compatibles, ConfigJson.ScoreSdeVe.ofDict);
        return new ScoreSdeVeScheduler(loaded.Config) { _loaded = loaded };
    }

    /// <summary>diffusers' <c>from_pretrained</c>: reads <c>scheduler_config.json</c> from a file, a folder (and its
    /// <paramref name="subfolder"/>), the Hugging Face cache, or the Hub (<c>HF_ENDPOINT</c>, <c>HF_TOKEN</c>,
    /// <c>HF_HUB_OFFLINE</c>).</summary>
    public static ScoreSdeVeScheduler FromPretrained(string pathOrRepoId, string? subfolder = null, string? revision = null, HubSettings? hub = null) =>
        FromConfig(SchedulerConfigs.Read(pathOrRepoId, subfolder, revision, hub));

    /// <summary>The exact text <see cref="SaveConfig"/> writes.</summary>
    public string ConfigText() =>
        SchedulerConfigs.Text(ConfigJson.ScoreSdeVe.ClassName,
            ConfigJson.ScoreSdeVe.toMembers(_loaded?.Source is { } s ? Microsoft.FSharp.Core.FSharpOption<ConfigDict>.Some(s) : null, Config).Select(m => Tuple.Create(m.Item1, m.Item2)),
            _loaded?.Hidden ?? Array.Empty<Tuple<string, JsonValue>>());

    /// <summary>diffusers' <c>save_config</c>: writes <c>directory/scheduler_config.json</c> atomically; returns its path.</summary>
    public string SaveConfig(string directory) => SchedulerConfigs.Save(directory, ConfigText());

    /// <summary>diffusers' <c>save_pretrained</c> (the same as <see cref="SaveConfig"/> for a scheduler).</summary>
    public string SavePretrained(string directory) => SaveConfig(directory);

    /// <summary>diffusers' <c>push_to_hub</c>: creates the repository if needed and commits the config to it.</summary>
    public void PushToHub(string repoId, string? token = null, string? commitMessage = null, string? subfolder = null, HubSettings? hub = null) =>
        SchedulerConfigs.Push(ConfigText(), repoId, token, commitMessage, subfolder, hub);
}
