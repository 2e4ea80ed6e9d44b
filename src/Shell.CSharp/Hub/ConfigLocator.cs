using Schedulers.Core;

namespace Schedulers.Hub;

/// <summary>
/// Finds a <c>scheduler_config.json</c> the way diffusers' <c>load_config</c> does: an existing file is read as it
/// is; a folder gives <c>folder/subfolder/scheduler_config.json</c> (when a subfolder is given and has it) or
/// <c>folder/scheduler_config.json</c>; anything else is a Hub repository id, looked up in the Hugging Face cache
/// and downloaded into it unless offline.
/// </summary>
public static class ConfigLocator
{
    /// <summary>The local path of the config for <paramref name="pathOrRepoId"/>.</summary>
    public static string Locate(string pathOrRepoId, string? subfolder = null, string? revision = null, HubSettings? settings = null, HttpClient? http = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(pathOrRepoId);
        if (File.Exists(pathOrRepoId)) return pathOrRepoId;
        if (Directory.Exists(pathOrRepoId)) return InFolder(pathOrRepoId, subfolder);
        var client = new HubClient(settings ?? HubSettings.FromEnvironment(), http);
        return client.DownloadConfig(pathOrRepoId, HubPaths.ConfigPathInRepo(subfolder), revision ?? "main");
    }

    /// <summary><c>folder/subfolder/scheduler_config.json</c> when it exists, else <c>folder/scheduler_config.json</c>;
    /// a folder with neither is an error naming it.</summary>
    private static string InFolder(string folder, string? subfolder)
    {
        if (subfolder is not null && Path.Combine(folder, subfolder, ConfigFile.FileName) is var inSub && File.Exists(inSub)) return inSub;
        var direct = Path.Combine(folder, ConfigFile.FileName);
        if (File.Exists(direct)) return direct;
        var where = subfolder is null ? "" : $" or its subfolder {subfolder}";
        throw new SchedulerConfigException($"no file named {ConfigFile.FileName} found in directory {folder}{where}");
    }
}
