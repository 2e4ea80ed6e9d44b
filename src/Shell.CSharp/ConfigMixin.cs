using Microsoft.FSharp.Core;
using Schedulers.Core;
using Schedulers.Hub;

namespace Schedulers;

/// <summary>How one scheduler class maps its config record to diffusers' <c>scheduler_config.json</c>.</summary>
/// <typeparam name="TConfig">The scheduler's config record.</typeparam>
public sealed record ConfigBinding<TConfig>(
    string ClassName,
    IReadOnlyCollection<string> Keys,
    IReadOnlyList<string> Compatibles,
    Func<ConfigDict, TConfig> OfDict,
    Func<FSharpOption<ConfigDict>?, TConfig, Tuple<string, JsonValue>[]> ToMembers)
{
    /// <summary>diffusers' <c>from_config</c> for this class (see <see cref="SchedulerConfigs.Load{TConfig}"/>).</summary>
    public LoadedConfig<TConfig> Load(ConfigDict dict) => SchedulerConfigs.Load(dict, Keys, Compatibles, OfDict);

    /// <summary>The text <c>save_config</c> writes for <paramref name="config"/>, keeping what <paramref name="loaded"/> carried.</summary>
    public string Text(TConfig config, LoadedConfig<TConfig>? loaded) =>
        SchedulerConfigs.Text(ClassName,
            ToMembers(loaded?.Source is { } source ? FSharpOption<ConfigDict>.Some(source) : null, config),
            loaded?.Hidden ?? Array.Empty<Tuple<string, JsonValue>>());
}

/// <summary>
/// diffusers' <c>ConfigMixin</c> for the scheduler classes: the config text, <c>save_config</c>,
/// <c>save_pretrained</c> and <c>push_to_hub</c>, written once. A class loaded with <c>FromConfig</c> keeps the
/// file's number text and the keys of other classes, and saves them again.
/// </summary>
/// <typeparam name="TConfig">The scheduler's config record.</typeparam>
public abstract class ConfigMixin<TConfig>
{
    /// <summary>The class's JSON binding.</summary>
    private protected abstract ConfigBinding<TConfig> Binding { get; }

    /// <summary>The config as loaded (its source values and hidden keys), or null for a config made in code.</summary>
    private protected LoadedConfig<TConfig>? Loaded { get; set; }

    /// <summary>The configuration record (diffusers' <c>config</c>).</summary>
    public abstract TConfig Config { get; }

    /// <summary>The exact text <see cref="SaveConfig"/> writes.</summary>
    public string ConfigText() => Binding.Text(Config, Loaded);

    /// <summary>diffusers' <c>save_config</c>: writes <c>directory/scheduler_config.json</c> atomically; returns its path.</summary>
    public string SaveConfig(string directory) => SchedulerConfigs.Save(directory, ConfigText());

    /// <summary>diffusers' <c>save_pretrained</c> (the same as <see cref="SaveConfig"/> for a scheduler).</summary>
    public string SavePretrained(string directory) => SaveConfig(directory);

    /// <summary>diffusers' <c>push_to_hub</c>: creates the repository if needed and commits the config to it.</summary>
    public void PushToHub(string repoId, string? token = null, string? commitMessage = null, string? subfolder = null, HubSettings? hub = null) =>
        SchedulerConfigs.Push(ConfigText(), repoId, token, commitMessage, subfolder, hub);
}
