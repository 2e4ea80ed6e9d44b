using System.Text;
using Microsoft.FSharp.Core;
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
        var (config, kept, hidden) = schema.Load(dict);
        return new LoadedConfig<TConfig>(config, kept, hidden);
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
        ReadFile(ConfigLocator.Locate(pathOrRepoId, subfolder, revision, hub));

    /// <summary>Reads and parses a config file of at most <see cref="ConfigFile.MaxBytes"/>; any I/O or format problem
    /// becomes a <see cref="SchedulerConfigException"/> naming the file.</summary>
    public static ConfigDict ReadFile(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        try
        {
            return ConfigFile.parse(ReadBoundedText(path));
        }
        catch (SchedulerConfigException e)
        {
            throw new SchedulerConfigException($"{path}: {e.Message}", e.Key is null ? null : FSharpOption<string>.Some(e.Key), FSharpOption<string>.Some(path), FSharpOption<Exception>.Some(e));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SchedulerConfigException($"cannot read {path}: {e.Message}", path, e);
        }
    }

    /// <summary>The text of a config file, reading at most <see cref="ConfigFile.MaxBytes"/> + 1 bytes so that an
    /// oversized or endless file (a link to <c>/dev/zero</c>) is refused without being read whole. Byte order marks
    /// are honoured as <see cref="File.ReadAllText(string)"/> does.</summary>
    internal static string ReadBoundedText(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        var content = new MemoryStream();
        var chunk = new byte[65536];
        var n = stream.Read(chunk, 0, chunk.Length);
        while (n > 0 && content.Length <= ConfigFile.MaxBytes)
        {
            content.Write(chunk, 0, n);
            n = content.Length > ConfigFile.MaxBytes ? 0 : stream.Read(chunk, 0, Math.Min(chunk.Length, ConfigFile.MaxBytes + 1 - (int)content.Length));
        }
        if (content.Length > ConfigFile.MaxBytes)
            throw new SchedulerConfigException(TooLarge(path), null, FSharpOption<string>.Some(path), null);
        content.Position = 0;
        using var reader = new StreamReader(content, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        return reader.ReadToEnd();
    }

    /// <summary>The message for a config source larger than <see cref="ConfigFile.MaxBytes"/>.</summary>
    internal static string TooLarge(string source) =>
        $"{source} is larger than {ConfigFile.MaxBytes} bytes (4 MiB), the most a scheduler config may be";

    /// <summary>Writes <paramref name="text"/> to <c>directory/scheduler_config.json</c> (UTF-8, creating the folder if
    /// needed) through <see cref="AtomicFile"/>, so an interrupted save leaves the old file intact, and returns the
    /// file's path. A <paramref name="directory"/> that is a file, or a write that fails, is a
    /// <see cref="SchedulerConfigException"/> naming the path.</summary>
    public static string Save(string directory, string text)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentNullException.ThrowIfNull(text);
        if (File.Exists(directory))
            throw new SchedulerConfigException($"{directory} is a file; save_config needs a directory", null, FSharpOption<string>.Some(directory), null);
        var target = Path.Combine(directory, ConfigFile.FileName);
        try
        {
            AtomicFile.WriteAllBytes(target, Encoding.UTF8.GetBytes(text));
            return target;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SchedulerConfigException($"cannot write {target}: {e.Message}", target, e);
        }
    }

    /// <summary>diffusers' <c>push_to_hub</c> for a config: creates the repository if needed and commits the file.</summary>
    public static void Push(string text, string repoId, string? token, string? commitMessage, string? subfolder, HubSettings? hub)
    {
        var client = new HubClient(hub ?? HubSettings.FromEnvironment());
        client.CreateRepo(repoId, token);
        var path = HubPaths.ConfigPathInRepo(subfolder);
        client.CommitFile(repoId, path, System.Text.Encoding.UTF8.GetBytes(text), commitMessage ?? "Upload scheduler", token);
    }
}
