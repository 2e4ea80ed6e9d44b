using Schedulers.Core;
using Schedulers.Hub;
using ConfigJson = Schedulers.Core.Config;

namespace Schedulers;

/// <summary>Config loading, saving and pushing for <see cref="DPMSolverMultistepScheduler"/>, with diffusers' semantics.</summary>
public sealed partial class DPMSolverMultistepScheduler
{
    private LoadedConfig<DpmSolverConfig>? _loaded;

    /// <summary>diffusers' <c>compatibles</c>: the 15 <c>KarrasDiffusionSchedulers</c> (and the Flax class) whose configs
    /// this class loads.</summary>
    public static IReadOnlyList<string> Compatibles { get; } = ConfigJson.DpmSolver.compatibles;

    /// <summary>diffusers' <c>from_config</c>: a scheduler from a parsed config of this or a compatible class. Keys of
    /// other classes are kept and saved again (and <c>sigma_min</c>/<c>sigma_max</c> among them bound the Karras,
    /// exponential and beta sigmas); an invalid value throws <see cref="SchedulerConfigException"/> naming its key.</summary>
    public static DPMSolverMultistepScheduler FromConfig(ConfigDict config)
    {
        var loaded = SchedulerConfigs.Load(config, ConfigJson.DpmSolver.keys, Compatibles, ConfigJson.DpmSolver.ofDict);
        return new DPMSolverMultistepScheduler(loaded.Config) { _loaded = loaded };
    }

    /// <summary>diffusers' <c>from_pretrained</c>: reads <c>scheduler_config.json</c> from a file, a folder (and its
    /// <paramref name="subfolder"/>, typically <c>"scheduler"</c>), the Hugging Face cache, or the Hub.</summary>
    public static DPMSolverMultistepScheduler FromPretrained(string pathOrRepoId, string? subfolder = null, string? revision = null, HubSettings? hub = null) =>
        FromConfig(SchedulerConfigs.Read(pathOrRepoId, subfolder, revision, hub));

    /// <summary>The exact text <see cref="SaveConfig"/> writes.</summary>
    public string ConfigText() =>
        SchedulerConfigs.Text(ConfigJson.DpmSolver.ClassName,
            ConfigJson.DpmSolver.toMembers(_loaded?.Source is { } s ? Microsoft.FSharp.Core.FSharpOption<ConfigDict>.Some(s) : null, Config).Select(m => Tuple.Create(m.Item1, m.Item2)),
            _loaded?.Hidden ?? Array.Empty<Tuple<string, JsonValue>>());

    /// <summary>diffusers' <c>save_config</c>: writes <c>directory/scheduler_config.json</c> atomically; returns its path.</summary>
    public string SaveConfig(string directory) => SchedulerConfigs.Save(directory, ConfigText());

    /// <summary>diffusers' <c>save_pretrained</c> (the same as <see cref="SaveConfig"/> for a scheduler).</summary>
    public string SavePretrained(string directory) => SaveConfig(directory);

    /// <summary>diffusers' <c>push_to_hub</c>: creates the repository if needed and commits the config to it.</summary>
    public void PushToHub(string repoId, string? token = null, string? commitMessage = null, string? subfolder = null, HubSettings? hub = null) =>
        SchedulerConfigs.Push(ConfigText(), repoId, token, commitMessage, subfolder, hub);
}
