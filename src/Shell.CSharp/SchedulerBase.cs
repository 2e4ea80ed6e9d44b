using Microsoft.FSharp.Core;
using Schedulers.Core;
using Schedulers.Hub;

namespace Schedulers;

/// <summary>What a scheduler class tells <see cref="SchedulerBase{TSelf, TConfig}"/>: its config schema (from the
/// core, next to the config record) and how an instance is made from a config.</summary>
/// <typeparam name="TSelf">The scheduler class.</typeparam>
/// <typeparam name="TConfig">Its config record.</typeparam>
public interface ISchedulerClass<TSelf, TConfig>
    where TSelf : SchedulerBase<TSelf, TConfig>, ISchedulerClass<TSelf, TConfig>
{
    /// <summary>The config schema: keys, defaults, JSON form and validation.</summary>
    static abstract ConfigSchema<TConfig> Schema { get; }

    /// <summary>A scheduler with the given config (validated by the scheduler).</summary>
    static abstract TSelf Create(TConfig config);
}

/// <summary>
/// diffusers' <c>ConfigMixin</c> and the config half of <c>SchedulerMixin</c>, written once for every scheduler class:
/// <see cref="FromConfig"/>, <see cref="FromPretrained"/>, <see cref="Compatibles"/>, the config text,
/// <see cref="SaveConfig"/>, <see cref="SavePretrained"/> and <see cref="PushToHub"/>, all from the class's core
/// schema. A class loaded with <see cref="FromConfig"/> keeps the file's number text and the keys of other classes,
/// and saves them again. A scheduler class derives from it and declares its schema and constructor
/// (<see cref="ISchedulerClass{TSelf, TConfig}"/>); everything else it has is its own API.
/// </summary>
/// <typeparam name="TSelf">The scheduler class.</typeparam>
/// <typeparam name="TConfig">Its config record.</typeparam>
public abstract class SchedulerBase<TSelf, TConfig>
    where TSelf : SchedulerBase<TSelf, TConfig>, ISchedulerClass<TSelf, TConfig>
{
    /// <summary>The config as loaded (its source values and hidden keys), or null for a config made in code.</summary>
    private LoadedConfig<TConfig>? _loaded;

    /// <summary>The configuration record (diffusers' <c>config</c>).</summary>
    public abstract TConfig Config { get; }

    /// <summary>diffusers' <c>compatibles</c>: the classes whose configs this class is meant to load.</summary>
    public static IReadOnlyList<string> Compatibles => TSelf.Schema.Compatibles;

    /// <summary>The classes of <see cref="Compatibles"/> this library has (this one included): each loads this class's
    /// config with <c>FromConfig</c>, and this class loads theirs.</summary>
    public static IReadOnlyList<Type> CompatibleClasses => SchedulerClasses.Of(TSelf.Schema.Compatibles);

    /// <summary>diffusers' <c>from_config</c>: a scheduler from a parsed config. Keys of other classes are kept and saved
    /// again; an invalid value throws <see cref="SchedulerConfigException"/> naming its key.</summary>
    public static TSelf FromConfig(ConfigDict config)
    {
        var loaded = SchedulerConfigs.Load(config, TSelf.Schema);
        var scheduler = TSelf.Create(loaded.Config);
        scheduler._loaded = loaded;
        return scheduler;
    }

    /// <summary>diffusers' <c>from_pretrained</c>: reads <c>scheduler_config.json</c> from a file, a folder (and its
    /// <paramref name="subfolder"/>, typically <c>"scheduler"</c>), the Hugging Face cache, or the Hub
    /// (<c>HF_ENDPOINT</c>, <c>HF_TOKEN</c>, <c>HF_HUB_OFFLINE</c>).</summary>
    public static TSelf FromPretrained(string pathOrRepoId, string? subfolder = null, string? revision = null, HubSettings? hub = null) =>
        FromConfig(SchedulerConfigs.Read(pathOrRepoId, subfolder, revision, hub));

    /// <summary>The exact text <see cref="SaveConfig"/> writes.</summary>
    public string ConfigText()
    {
        var source = _loaded?.Source is { } loaded ? FSharpOption<ConfigDict>.Some(loaded) : FSharpOption<ConfigDict>.None;
        return TSelf.Schema.Text(Config, source, _loaded?.Hidden ?? Array.Empty<Tuple<string, JsonValue>>());
    }

    /// <summary>diffusers' <c>save_config</c>: writes <c>directory/scheduler_config.json</c> atomically; returns its path.</summary>
    public string SaveConfig(string directory) => SchedulerConfigs.Save(directory, ConfigText());

    /// <summary>diffusers' <c>save_pretrained</c> (the same as <see cref="SaveConfig"/> for a scheduler).</summary>
    public string SavePretrained(string directory) => SaveConfig(directory);

    /// <summary>diffusers' <c>push_to_hub</c>: creates the repository if needed and commits the config to it.</summary>
    public void PushToHub(string repoId, string? token = null, string? commitMessage = null, string? subfolder = null, HubSettings? hub = null) =>
        SchedulerConfigs.Push(ConfigText(), repoId, token, commitMessage, subfolder, hub);
}
