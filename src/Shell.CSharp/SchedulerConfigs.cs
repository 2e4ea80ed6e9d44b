using Schedulers.Core;
using Schedulers.Hub;

namespace Schedulers;

/// <summary>A config as a scheduler class loaded it: its record, the file's own values (so unchanged numbers are
/// saved with their original text) and the keys of other classes that diffusers keeps and saves again.</summary>
/// <typeparam name="TConfig">The scheduler's config record.</typeparam>
public sealed record LoadedConfig<TConfig>(TConfig Config, ConfigDict? Source, IReadOnlyList<Tuple<string, JsonValue>> Hidden)
{
    /// <summary>A config made in code: nothing loaded, nothing hidden.</summary>
    public static LoadedConfig<TConfig> Of(TConfig config) => new(config, null, Array.Empty<Tuple<string, JsonValue>>());
}

/// <summary>Loading, saving and pushing scheduler configs with diffusers' semantics, shared by every scheduler class.</summary>
public static class SchedulerConfigs
{
    /// <summary>
    /// diffusers' <c>from_config</c>: rejects a <c>_class_name</c> that names no scheduler (a model's config, say),
    /// loads any scheduler class's config as diffusers does (its keys that this class does not take are kept), drops
    /// the keys listed in <c>_use_default_values</c>, reads the class's keys with its defaults for missing ones
    /// (invalid values throw <see cref="SchedulerConfigException"/> naming the key) and keeps every other key.
    /// </summary>
    public static LoadedConfig<TConfig> Load<TConfig>(ConfigDict dict, ConfigSchema<TConfig> schema)
    {
        ArgumentNullException.ThrowIfNull(dict);
        ArgumentNullException.ThrowIfNull(schema);
        CheckClassName(dict, schema.Compatibles);
        var (init, hidden) = ConfigFile.extractInit(schema.Keys, dict);
        // The schema reads its keys from everything kept: its carried keys (DPM-Solver's sigma_min/sigma_max) are
        // among the keys of other classes.
        var kept = new ConfigDict(init.Members.Concat(hidden).ToArray());
        return new LoadedConfig<TConfig>(schema.OfDict(kept), kept, hidden);
    }

    /// <summary>Rejects a config whose <c>_class_name</c> names no scheduler (a model's config, say): a scheduler
    /// class of diffusers (any name ending in <c>Scheduler</c>, as diffusers loads any scheduler's config) or one of
    /// <paramref name="compatibles"/> is accepted, and so is a config without the key.</summary>
    public static void CheckClassName(ConfigDict dict, IReadOnlyList<string> compatibles)
    {
        ArgumentNullException.ThrowIfNull(dict);
        var className = dict.ClassNameOrNull;
        if (className is not null && !compatibles.Contains(className) && !className.EndsWith("Scheduler", StringComparison.Ordinal))
            throw new SchedulerConfigException(
                $"_class_name is \"{className}\", which is not a scheduler; expected a scheduler config such as {string.Join(", ", compatibles.Take(3))}", "_class_name");
    }

    /// <summary>Reads a config from a file, a folder (and subfolder), the Hugging Face cache or the Hub.</summary>
    public static ConfigDict Read(string pathOrRepoId, string? subfolder = null, string? revision = null, HubSettings? hub = null) =>
        ConfigFile.read(ConfigLocator.Locate(pathOrRepoId, subfolder, revision, hub));

    /// <summary>Writes <c>directory/scheduler_config.json</c> atomically and returns its path.</summary>
    public static string Save(string directory, string text)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        return ConfigFile.writeAtomic(directory, text);
    }

    /// <summary>diffusers' <c>push_to_hub</c> for a config: creates the repository if needed and commits the file.</summary>
    public static void Push(string text, string repoId, string? token, string? commitMessage, string? subfolder, HubSettings? hub)
    {
        var client = new HubClient(hub ?? HubSettings.FromEnvironment());
        client.CreateRepo(repoId, token);
        var path = HubPaths.configPathInRepo(subfolder is null ? null : Microsoft.FSharp.Core.FSharpOption<string>.Some(subfolder));
        client.CommitFile(repoId, path, System.Text.Encoding.UTF8.GetBytes(text), commitMessage ?? "Upload scheduler", token);
    }
}
