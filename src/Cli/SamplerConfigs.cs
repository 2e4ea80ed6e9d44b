using System.Globalization;
using Schedulers.Core;
using Schedulers.Evaluation;

namespace Schedulers.Cli;

/// <summary>The three scheduler families the <c>sample</c> and <c>compare</c> commands run.</summary>
public enum SchedulerKind
{
    /// <summary>DPMSolverMultistepScheduler (default: DPM-Solver++ 2M).</summary>
    Dpm,
    /// <summary>KarrasVeScheduler's stochastic sampler.</summary>
    Karras,
    /// <summary>ScoreSdeVeScheduler's predictor–corrector sampler.</summary>
    SdeVe,
    /// <summary>The deterministic EDM sampler (Karras et al. 2022, Algorithm 1: Heun on the ρ-schedule).</summary>
    Heun,
    /// <summary>DDIMScheduler, deterministic (η = 0).</summary>
    Ddim,
    /// <summary>DDPMScheduler's ancestral sampler.</summary>
    Ddpm,
    /// <summary>PNDMScheduler.</summary>
    Pndm,
    /// <summary>LMSDiscreteScheduler.</summary>
    Lms,
    /// <summary>EulerDiscreteScheduler.</summary>
    Euler,
}

/// <summary>Builds a <see cref="TargetSampler"/> from the command line: the scheduler name, a
/// <c>scheduler_config.json</c> and <c>key=value</c> overrides by their diffusers names. The σ range of the two VE
/// schedulers defaults to the target's size (their diffusers defaults are sized for images in [−1, 1] with
/// σ_max = 1348 or 100); a key given in the file or on the command line always wins.</summary>
public static class SamplerConfigs
{
    /// <summary>The names <c>--scheduler</c> accepts: the registry's tool names, in <see cref="SchedulerKind"/> order.</summary>
    public static readonly IReadOnlyList<string> SchedulerNames = ["dpm", "karras", "sde-ve", "heun", "ddim", "ddpm", "pndm", "lms", "euler"];

    /// <summary>The registry's entry of a scheduler (its names, keys and compatibles).</summary>
    public static RegisteredScheduler Entry(SchedulerKind kind) =>
        Registry.tryFindName(Name(kind)) is { } entry ? entry.Value : throw new InvalidOperationException($"{Name(kind)} is not in the scheduler registry");

    /// <summary>The scheduler of a <c>--scheduler</c> value; throws a usage error naming the value otherwise.</summary>
    public static SchedulerKind ParseKind(string name) => name.ToLowerInvariant() switch
    {
        "dpm" or "dpm-solver" or "dpmsolver" => SchedulerKind.Dpm,
        "karras" or "karras-ve" or "karrasve" => SchedulerKind.Karras,
        "sde-ve" or "sdeve" or "score-sde-ve" => SchedulerKind.SdeVe,
        "heun" or "edm-heun" or "edm" => SchedulerKind.Heun,
        "ddim" => SchedulerKind.Ddim,
        "ddpm" => SchedulerKind.Ddpm,
        "pndm" => SchedulerKind.Pndm,
        "lms" or "lms-discrete" => SchedulerKind.Lms,
        "euler" or "euler-discrete" => SchedulerKind.Euler,
        _ => throw new UsageException($"--scheduler is '{name}' but must be one of {string.Join(", ", SchedulerNames)}"),
    };

    /// <summary>The command-line name of a scheduler.</summary>
    public static string Name(SchedulerKind kind) => SchedulerNames[(int)kind];

    /// <summary>The diffusers config keys of a scheduler (its schema's keys), which <c>--config</c> sets.</summary>
    public static IReadOnlyList<string> Keys(SchedulerKind kind) => Entry(kind).Keys;

    /// <summary>The keys a config file sets for a scheduler: its own and the carried keys its schema reads from
    /// another class's config (DPM-Solver's <c>sigma_min</c>/<c>sigma_max</c>, which bound its Karras, exponential
    /// and beta sigmas).</summary>
    public static IReadOnlyList<string> FileKeys(SchedulerKind kind) => Entry(kind).FileKeys;

    /// <summary>The classes whose config files a scheduler reads (its schema's <c>compatibles</c>).</summary>
    public static IReadOnlyList<string> Compatibles(SchedulerKind kind) => Entry(kind).Compatibles;

    /// <summary>The size of a target: the largest distance between two component means plus six of the largest
    /// component standard deviation — what a VE noise level must exceed to wash the modes together (Song &amp;
    /// Ermon 2020, technique 1).</summary>
    public static double Diameter(GaussianMixture target)
    {
        double far = 0, std = 0;
        for (int i = 0; i < target.ComponentCount; i++)
        {
            foreach (var v in target.Variances[i]) std = Math.Max(std, Math.Sqrt(v));
            for (int j = i + 1; j < target.ComponentCount; j++)
            {
                double s = 0;
                for (int k = 0; k < target.Dimension; k++)
                {
                    double r = target.Means[i][k] - target.Means[j][k];
                    s += r * r;
                }
                far = Math.Max(far, Math.Sqrt(s));
            }
        }
        return far + 6 * std;
    }

    /// <summary>The target-sized defaults of a scheduler's σ range (none for DPM-Solver, whose VP schedule does
    /// not depend on the data's scale). ScoreSdeVe: sigma_max = the diameter rounded up. KarrasVe: its schedule
    /// holds σ² values that the pipeline uses as σ (diffusers' quirk), so sigma_max = √diameter puts the first σ at
    /// the diameter and sigma_min = 0.1 the last at 0.01. EDM Heun: sigma_max = the diameter rounded up (sigma_min
    /// keeps the paper's 0.002).</summary>
    public static IReadOnlyList<(string Key, string Value)> TargetDefaults(SchedulerKind kind, GaussianMixture target)
    {
        double diameter = Diameter(target);
        return kind switch
        {
            SchedulerKind.SdeVe => [("sigma_max", Text(Math.Ceiling(diameter)))],
            SchedulerKind.Karras => [("sigma_max", Text(Math.Round(Math.Sqrt(diameter), 2))), ("sigma_min", "0.1")],
            SchedulerKind.Heun => [("sigma_max", Text(Math.Ceiling(diameter)))],
            // DDIM clips x0 to [−1, 1] by default (sized for images); a target's samples lie farther out.
            SchedulerKind.Ddim or SchedulerKind.Ddpm => [("clip_sample", "false")],
            _ => [],
        };
    }

    private static string Text(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>Splits a <c>--config key=value</c> argument.</summary>
    public static (string Key, string Value) SplitPair(string pair)
    {
        int eq = pair.IndexOf('=');
        if (eq <= 0) throw new UsageException($"--config is '{pair}' but must be key=value (a diffusers config key)");
        return (pair[..eq].Trim(), pair[(eq + 1)..].Trim());
    }

    /// <summary>A command-line value as JSON: JSON text if it parses (numbers, true/false, null, arrays, quoted
    /// strings), Python's True/False/None, else the text as a string.</summary>
    public static JsonValue ParseValue(string text)
    {
        switch (text)
        {
            case "True": return JsonValue.NewBool(true);
            case "False": return JsonValue.NewBool(false);
            case "None": return JsonValue.Null;
        }
        try
        {
            return Json.parse(text);
        }
        catch (Exception)
        {
            return JsonValue.NewString(text);
        }
    }

    /// <summary>Builds the sampler: the file's keys (read by <see cref="ConfigFileOption.Read"/>), then the
    /// target-sized defaults for keys neither gives, then the overrides in order (an unknown key is an error). All of
    /// them are validated together, as the library validates a config; an error names where the offending value
    /// came from: <c>--config key=value</c> or <c>--config-file 'path'</c>.</summary>
    public static TargetSampler Build(SchedulerKind kind, string? configFile, IEnumerable<string> pairs, GaussianMixture target)
    {
        var keys = new HashSet<string>(Keys(kind));
        var fromFile = configFile is null ? [] : ConfigFileOption.Read(kind, configFile).ToList();
        var overrides = new List<(string Key, string Text, JsonValue Value)>();
        foreach (var pair in pairs)
        {
            var (key, text) = SplitPair(pair);
            if (!keys.Contains(key))
                throw new UsageException($"--config {key}={text}: '{key}' is not a {Name(kind)} config key (known: {string.Join(", ", Keys(kind))})");
            overrides.Add((key, text, ParseValue(text)));
        }
        var given = new HashSet<string>(fromFile.Select(f => f.Key).Concat(overrides.Select(o => o.Key)));
        var defaults = TargetDefaults(kind, target).Where(d => !given.Contains(d.Key)).Select(d => (d.Key, ParseValue(d.Value)));
        var members = fromFile.Concat(defaults).ToList();
        try
        {
            return kind switch
            {
                // The Flax flavour validates with its own rules (it has no final_sigmas_type, so "dpmsolver" needs no
                // sigma_min); configs it cannot run go to the torch flavour and its validation.
                SchedulerKind.Dpm => TargetSampler.NewDpmSolverSampler(Apply(DpmSolverConfig.Schema, members, overrides,
                    c => TargetSampling.dpmRunsFlax(c) ? DpmSolverConfigModule.validateFlax(c) : DpmSolverConfig.Schema.Validate(c))),
                SchedulerKind.Karras => TargetSampler.NewKarrasVeSampler(Apply(KarrasVeConfig.Schema, members, overrides, KarrasVeConfig.Schema.Validate)),
                SchedulerKind.Heun => TargetSampler.NewEdmHeunSampler(Apply(EdmHeunConfig.Schema, members, overrides, EdmHeunConfig.Schema.Validate)),
                SchedulerKind.Ddim => TargetSampler.NewDdimSampler(Apply(DdimConfig.Schema, members, overrides, DdimConfig.Schema.Validate)),
                SchedulerKind.Ddpm => TargetSampler.NewDdpmSampler(Apply(DdpmConfig.Schema, members, overrides, DdpmConfig.Schema.Validate)),
                SchedulerKind.Pndm => TargetSampler.NewPndmSampler(Apply(PndmConfig.Schema, members, overrides, PndmConfig.Schema.Validate)),
                SchedulerKind.Lms => TargetSampler.NewLmsSampler(Apply(LmsConfig.Schema, members, overrides, LmsConfig.Schema.Validate)),
                SchedulerKind.Euler => TargetSampler.NewEulerSampler(Apply(EulerConfig.Schema, members, overrides, EulerConfig.Schema.Validate)),
                _ => TargetSampler.NewScoreSdeVeSampler(Apply(ScoreSdeVeConfig.Schema, members, overrides, ScoreSdeVeConfig.Schema.Validate)),
            };
        }
        catch (SchedulerConfigException e)
        {
            throw new UsageException($"{Where(e.Key, overrides, fromFile, configFile)}: {e.Message}");
        }
        catch (ArgumentException e)
        {
            throw new UsageException($"{Where(e.ParamName, overrides, fromFile, configFile)}: {Clean(e)}");
        }
    }

    /// <summary>The schema's defaults with the file's and target's members, then the overrides (an override's error
    /// names it), then <paramref name="validate"/>.</summary>
    private static TConfig Apply<TConfig>(ConfigSchema<TConfig> schema, List<(string Key, JsonValue Value)> members,
        List<(string Key, string Text, JsonValue Value)> overrides, Func<TConfig, TConfig> validate)
    {
        var config = schema.Defaults;
        foreach (var (key, value) in members) config = schema.Set(key, value, config);
        foreach (var (key, text, value) in overrides)
        {
            try { config = schema.Set(key, value, config); }
            catch (ArgumentException e) { throw new UsageException($"--config {key}={text}: {Clean(e)}"); }
        }
        return validate(config);
    }

    /// <summary>Where the value an error is about came from: <c>--config key=value</c> (the last override of that
    /// key), else <c>--config-file 'path'</c> when the file set it, else <c>--config key</c>.</summary>
    private static string Where(string? key, List<(string Key, string Text, JsonValue Value)> overrides,
        List<(string Key, JsonValue Value)> fromFile, string? configFile)
    {
        if (key is null) return configFile is null ? "--config" : $"--config / {ConfigFileOption.Label(configFile)}";
        var given = overrides.LastOrDefault(o => o.Key == key);
        if (given.Key is not null) return $"--config {key}={given.Text}";
        if (configFile is not null && fromFile.Any(m => m.Key == key)) return ConfigFileOption.Label(configFile);
        return $"--config {key}";
    }

    /// <summary>An ArgumentException's message without .NET's " (Parameter 'x')" suffix.</summary>
    public static string Clean(ArgumentException e) =>
        e.ParamName is null ? e.Message : e.Message.Replace($" (Parameter '{e.ParamName}')", "");

    /// <summary>A human name of the configured scheduler, e.g. "DPM-Solver++ 2M (Flax)" or "KarrasVe (Heun, churn 80)".</summary>
    public static string Describe(TargetSampler sampler) => sampler switch
    {
        TargetSampler.DpmSolverSampler d => DescribeDpm(d.dpm),
        TargetSampler.KarrasVeSampler k => $"KarrasVe (σ {Text(k.karras.SigmaMin)}..{Text(k.karras.SigmaMax)}, churn {Text(k.karras.SChurn)})",
        TargetSampler.EdmHeunSampler h => $"EDM Heun (σ {Text(h.heun.SigmaMin)}..{Text(h.heun.SigmaMax)}, ρ {Text(h.heun.Rho)})",
        TargetSampler.DdimSampler d => $"DDIM (η 0, {d.ddim.PredictionType}, {d.ddim.TimestepSpacing}{(d.ddim.ClipSample ? $", clip {Text(d.ddim.ClipSampleRange)}" : "")})",
        TargetSampler.DdpmSampler d => $"DDPM ({d.ddpm.VarianceType}, {d.ddpm.PredictionType})",
        TargetSampler.PndmSampler p => $"PNDM ({(p.pndm.SkipPrkSteps ? "PLMS" : "PRK + PLMS")}, {p.pndm.PredictionType})",
        TargetSampler.LmsSampler l => $"LMS ({l.lms.PredictionType}{(l.lms.UseKarrasSigmas ? ", Karras σ" : "")})",
        TargetSampler.EulerSampler e => $"Euler ({e.euler.PredictionType}{(e.euler.UseKarrasSigmas ? ", Karras σ" : "")})",
        TargetSampler.ScoreSdeVeSampler s => $"ScoreSdeVe PC (σ {Text(s.sdeVe.SigmaMin)}..{Text(s.sdeVe.SigmaMax)}, {s.sdeVe.CorrectSteps} corrector, snr {Text(s.sdeVe.Snr)})",
        _ => sampler.ToString(),
    };

    private static string DescribeDpm(DpmSolverConfig c)
    {
        var name = $"{(c.AlgorithmType.IsSde ? "SDE-" : "")}DPM-Solver{(c.AlgorithmType.IsDataPrediction ? "++" : "")}";
        var flavour = TargetSampling.dpmRunsFlax(c) ? "Flax" : "torch";
        return $"{name} {c.SolverOrder}M ({c.PredictionType}, {flavour} flavour)";
    }
}
