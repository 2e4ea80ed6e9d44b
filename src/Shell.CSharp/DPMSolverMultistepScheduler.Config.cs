using Schedulers.Core;
using Schedulers.Hub;
using ConfigJson = Schedulers.Core.Config;

namespace Schedulers;

/// <summary>Config loading for <see cref="DPMSolverMultistepScheduler"/> with diffusers' semantics (saving is in <see cref="ConfigMixin{TConfig}"/>).</summary>
public sealed partial class DPMSolverMultistepScheduler
{
    private static readonly ConfigBinding<DpmSolverConfig> JsonBinding = new(
        ConfigJson.DpmSolver.ClassName, ConfigJson.DpmSolver.keys, ConfigJson.DpmSolver.compatibles,
        ConfigJson.DpmSolver.ofDict, (source, config) => ConfigJson.DpmSolver.toMembers(source, config).Select(m => Tuple.Create(m.Item1, m.Item2)).ToArray());

    /// <inheritdoc />
    private protected override ConfigBinding<DpmSolverConfig> Binding => JsonBinding;

    /// <summary>diffusers' <c>compatibles</c>: the classes whose configs this class is meant to load.</summary>
    public static IReadOnlyList<string> Compatibles => JsonBinding.Compatibles;

    /// <summary>diffusers' <c>from_config</c>: a scheduler from a parsed config. Keys of other classes are kept and saved
    /// again; an invalid value throws <see cref="SchedulerConfigException"/> naming its key.</summary>
    public static DPMSolverMultistepScheduler FromConfig(ConfigDict config)
    {
        var loaded = JsonBinding.Load(config);
        return new DPMSolverMultistepScheduler(loaded.Config) { Loaded = loaded };
    }

    /// <summary>diffusers' <c>from_pretrained</c>: reads <c>scheduler_config.json</c> from a file, a folder (and its
    /// <paramref name="subfolder"/>, typically <c>"scheduler"</c>), the Hugging Face cache, or the Hub
    /// (<c>HF_ENDPOINT</c>, <c>HF_TOKEN</c>, <c>HF_HUB_OFFLINE</c>).</summary>
    public static DPMSolverMultistepScheduler FromPretrained(string pathOrRepoId, string? subfolder = null, string? revision = null, HubSettings? hub = null) =>
        FromConfig(SchedulerConfigs.Read(pathOrRepoId, subfolder, revision, hub));
}
