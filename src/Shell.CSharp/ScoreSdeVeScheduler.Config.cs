using Schedulers.Core;
using Schedulers.Hub;
using ConfigJson = Schedulers.Core.Config;

namespace Schedulers;

/// <summary>Config loading for <see cref="ScoreSdeVeScheduler"/> with diffusers' semantics (saving is in <see cref="ConfigMixin{TConfig}"/>).</summary>
public sealed partial class ScoreSdeVeScheduler
{
    private static readonly ConfigBinding<ScoreSdeVeConfig> JsonBinding = new(
        ConfigJson.ScoreSdeVe.ClassName, ConfigJson.ScoreSdeVe.keys, new[] { ConfigJson.ScoreSdeVe.ClassName },
        ConfigJson.ScoreSdeVe.ofDict, (source, config) => ConfigJson.ScoreSdeVe.toMembers(source, config).Select(m => Tuple.Create(m.Item1, m.Item2)).ToArray());

    /// <inheritdoc />
    private protected override ConfigBinding<ScoreSdeVeConfig> Binding => JsonBinding;

    /// <summary>diffusers' <c>compatibles</c>: the classes whose configs this class is meant to load.</summary>
    public static IReadOnlyList<string> Compatibles => JsonBinding.Compatibles;

    /// <summary>diffusers' <c>from_config</c>: a scheduler from a parsed config. Keys of other classes are kept and saved
    /// again; an invalid value throws <see cref="SchedulerConfigException"/> naming its key.</summary>
    public static ScoreSdeVeScheduler FromConfig(ConfigDict config)
    {
        var loaded = JsonBinding.Load(config);
        return new ScoreSdeVeScheduler(loaded.Config) { Loaded = loaded };
    }

    /// <summary>diffusers' <c>from_pretrained</c>: reads <c>scheduler_config.json</c> from a file, a folder (and its
    /// <paramref name="subfolder"/>, typically <c>"scheduler"</c>), the Hugging Face cache, or the Hub
    /// (<c>HF_ENDPOINT</c>, <c>HF_TOKEN</c>, <c>HF_HUB_OFFLINE</c>).</summary>
    public static ScoreSdeVeScheduler FromPretrained(string pathOrRepoId, string? subfolder = null, string? revision = null, HubSettings? hub = null) =>
        FromConfig(SchedulerConfigs.Read(pathOrRepoId, subfolder, revision, hub));
}
