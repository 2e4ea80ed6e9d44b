using Schedulers.Core;

namespace Schedulers.Cli;

/// <summary>Reads <c>--config-file</c> with the library's checks, so that a file is held to the same rules as
/// <c>FromConfig</c> and as <c>--config</c>: it must be a scheduler's config (a model's <c>_class_name</c> is
/// refused), keys listed in <c>_use_default_values</c> are dropped, the scheduler's own keys are applied, and keys of
/// other scheduler classes are left out as diffusers leaves them out. A key one letter away from one of the
/// scheduler's keys (<c>solver_ordr</c>) is refused as a misspelling rather than ignored. Every error is one usage
/// line naming the file and the key.</summary>
public static class ConfigFileOption
{
    /// <summary>The members of <paramref name="path"/> that configure <paramref name="kind"/>, in file order.</summary>
    public static IReadOnlyList<(string Key, JsonValue Value)> Read(SchedulerKind kind, string path)
    {
        if (Directory.Exists(path))
            throw new UsageException($"--config-file '{path}' is a folder, not a file; give the {ConfigFile.FileName} inside it");
        if (!File.Exists(path)) throw new UsageException($"--config-file '{path}' does not exist");
        try
        {
            var dict = Schedulers.SchedulerConfigs.ReadFile(path);
            Schedulers.SchedulerConfigs.CheckClassName(dict, SamplerConfigs.Compatibles(kind));
            var own = SamplerConfigs.FileKeys(kind);
            var (init, hidden) = ConfigFile.extractInit(own, dict);
            foreach (var (key, _) in hidden)
                if (Misspelt(key, own) is { } meant)
                    throw new UsageException($"{Label(path)}: {key} is not a {SamplerConfigs.Name(kind)} config key; did you mean {meant}?");
            return init.Members.Select(m => (m.Item1, m.Item2)).ToList();
        }
        catch (SchedulerConfigException e)
        {
            // SchedulerConfigs.ReadFile puts the path before its message; the label already names the file.
            var message = e.Message.StartsWith(path + ": ", StringComparison.Ordinal) ? e.Message[(path.Length + 2)..] : e.Message;
            throw new UsageException($"{Label(path)}: {message}");
        }
    }

    /// <summary>How errors about the file's values name it.</summary>
    public static string Label(string path) => $"--config-file '{path}'";

    /// <summary>The key <paramref name="key"/> looks like a misspelling of: one insertion, deletion, substitution or
    /// swap of neighbours away, or the same but for case. Distance one is where typing slips land, while the keys of
    /// other diffusers schedulers (<c>timestep_scaling</c> beside <c>timestep_spacing</c>) lie at least two away.</summary>
    public static string? Misspelt(string key, IEnumerable<string> keys) =>
        key.StartsWith('_') ? null : keys.FirstOrDefault(k => k != key && (string.Equals(k, key, StringComparison.OrdinalIgnoreCase) || WithinOneEdit(k, key)));

    private static bool WithinOneEdit(string a, string b)
    {
        if (Math.Abs(a.Length - b.Length) > 1) return false;
        int i = 0;
        while (i < a.Length && i < b.Length && a[i] == b[i]) i++;
        if (a.Length == b.Length)
            return a[(i + 1)..] == b[(i + 1)..]
                || (i + 1 < a.Length && a[i] == b[i + 1] && a[i + 1] == b[i] && a[(i + 2)..] == b[(i + 2)..]);
        return a.Length > b.Length ? a[(i + 1)..] == b[i..] : a[i..] == b[(i + 1)..];
    }
}
