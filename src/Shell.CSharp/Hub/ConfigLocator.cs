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
        if (File.Exists(pathOrRepoId) || Directory.Exists(pathOrRepoId))
            return Pretrained.tryLocateLocal(pathOrRepoId, Option(subfolder), Option(revision), "")!.Value;
        var pathInRepo = Pretrained.configPathInRepo(Option(subfolder));
        var client = new HubClient(settings ?? HubSettings.FromEnvironment(), http);
        return client.DownloadConfig(pathOrRepoId, pathInRepo, revision ?? "main");
    }

    private static Microsoft.FSharp.Core.FSharpOption<string>? Option(string? value) =>
        value is null ? null : Microsoft.FSharp.Core.FSharpOption<string>.Some(value);
}
