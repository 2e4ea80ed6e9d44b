using Schedulers.Core;

namespace Schedulers.Conformance.Checkers;

/// <summary>
/// Checks a real-configs directory (golden README): each config file named in <c>expected.json</c> is loaded into
/// <see cref="DPMSolverMultistepScheduler"/> with <c>FromConfig</c>; every key of <c>resolved_config</c> that is a
/// DPM-Solver field must resolve to that value and every other key must be kept; <c>init_noise_sigma</c> must match;
/// then <c>set_timesteps</c> runs for each recorded step count on the same instance, and timesteps must be equal and
/// sigmas within the schedule tolerance.
/// </summary>
public sealed class RealConfigsChecker : IRealConfigsChecker
{
    /// <inheritdoc />
    public IEnumerable<CaseResult> Check(string directory)
    {
        var expected = Golden.Load(Path.Combine(directory, "expected.json"));
        foreach (var item in Golden.Items(Golden.Require(expected, "cases", "expected.json"), "cases"))
        {
            var file = Golden.Text(Golden.Require(item, "file", "case"), "file");
            var target = Golden.Field(item, "as") is JsonValue.String s ? s.Item : DpmSolverConfig.Schema.ClassName;
            var family = target == DpmSolverConfig.Schema.ClassName ? null : FamilySchedulers.Find(target);
            if (target != DpmSolverConfig.Schema.ClassName && family is null)
            {
                yield return CaseResult.Skip($"{file} as {target}", Pending.Reason(target));
                continue;
            }
            var known = new HashSet<string> { "file", "origin", "as", "resolved_config", "init_noise_sigma", "runs" };
            var unknown = Golden.Members(item, file).Select(m => m.Key).FirstOrDefault(k => !known.Contains(k));
            if (unknown is not null)
            {
                yield return CaseResult.Skip(file, $"field '{unknown}' is not understood by this runner");
                continue;
            }
            yield return family is null
                ? CaseChecker.Run(file, c => CheckCase(c, directory, file, item))
                : CaseChecker.Run($"{file} as {target}", c => CheckFamilyCase(c, family, directory, file, item));
        }
    }

    private static void CheckCase(CaseChecker c, string directory, string file, JsonValue item)
    {
        var scheduler = DPMSolverMultistepScheduler.FromConfig(SchedulerConfigs.ReadFile(Path.Combine(directory, file)));
        CompareResolved(ConfigFile.parse(scheduler.ConfigText()), item, file);
        if (Golden.Field(item, "init_noise_sigma") is { } sigma)
            c.Compare("init_noise_sigma", Golden.Number(sigma, "init_noise_sigma"), scheduler.InitNoiseSigma, Tolerance.Schedule);
        foreach (var run in Golden.Items(Golden.Require(item, "runs", file), "runs"))
        {
            var n = (int)Golden.Number(Golden.Require(run, "num_inference_steps", "run"), "num_inference_steps");
            scheduler.SetTimesteps(n);
            var timesteps = Golden.Items(Golden.Require(run, "timesteps", "run"), "timesteps").Select(v => Golden.Number(v, "timesteps")).ToArray();
            var sigmas = Golden.Items(Golden.Require(run, "sigmas", "run"), "sigmas").Select(v => Golden.Number(v, "sigmas")).ToArray();
            c.Compare($"timesteps (n={n})", timesteps, scheduler.State.Timesteps.Select(t => (double)t).ToArray(), Tolerance.Exact);
            c.Compare($"sigmas (n={n})", sigmas, scheduler.State.Sigmas.Select(v => (double)v).ToArray(), Tolerance.Schedule);
        }
    }

    /// <summary>A family class's <c>from_config</c> on the file: the resolved config, <c>init_noise_sigma</c>, then
    /// timesteps (and sigmas where the class has them) of each run on the same instance.</summary>
    private static void CheckFamilyCase(CaseChecker c, Func<ConfigDict, IFamilyScheduler> family, string directory, string file, JsonValue item)
    {
        using var scope = TorchSharp.torch.NewDisposeScope();
        var scheduler = family(SchedulerConfigs.ReadFile(Path.Combine(directory, file)));
        CompareResolved(ConfigFile.parse(scheduler.ConfigText()), item, file);
        if (Golden.Field(item, "init_noise_sigma") is { } sigma)
            c.Compare("init_noise_sigma", Golden.Number(sigma, "init_noise_sigma"), scheduler.InitNoiseSigma, Tolerance.Schedule);
        foreach (var run in Golden.Items(Golden.Require(item, "runs", file), "runs"))
        {
            var n = (int)Golden.Number(Golden.Require(run, "num_inference_steps", "run"), "num_inference_steps");
            scheduler.SetTimesteps(n);
            var timesteps = Golden.Items(Golden.Require(run, "timesteps", "run"), "timesteps").Select(v => Golden.Number(v, "timesteps")).ToArray();
            // Integer timesteps are compared exactly; fractional ones (Euler's float32 timesteps) with the schedule tolerance.
            var integral = timesteps.All(t => t == Math.Floor(t));
            c.Compare($"timesteps (n={n})", timesteps, scheduler.Timesteps, integral ? Tolerance.Exact : Tolerance.Schedule);
            if (Golden.Field(run, "sigmas") is { } sg)
            {
                var sigmas = Golden.Items(sg, "sigmas").Select(v => Golden.Number(v, "sigmas")).ToArray();
                var ours = scheduler.Sigmas ?? throw new InvalidDataException("the class has no sigmas");
                c.Compare($"sigmas (n={n})", sigmas, ours.Select(v => (double)v).ToArray(), Tolerance.Schedule);
            }
        }
    }

    /// <summary>Every key of <c>resolved_config</c> must resolve to its value (numbers by value).</summary>
    private static void CompareResolved(ConfigDict resolved, JsonValue item, string file)
    {
        foreach (var (key, value) in Golden.Members(Golden.Require(item, "resolved_config", file), "resolved_config"))
        {
            if (key is "_class_name" or "_diffusers_version") continue;
            var actual = resolved.TryGet(key);
            if (!SameValue(value, actual?.Value))
                throw new InvalidDataException($"resolved_config.{key}: expected {Json.writeIndented(value)}, actual {(actual is null ? "(missing)" : Json.writeIndented(actual.Value))}");
        }
    }

    /// <summary>JSON values equal as diffusers means them: numbers by value (so 1 equals 1.0), the rest structurally.</summary>
    private static bool SameValue(JsonValue expected, JsonValue? actual) => (expected, actual) switch
    {
        (_, null) => false,
        (JsonValue.Number e, JsonValue.Number a) => Json.numberValue(e.text).Equals(Json.numberValue(a.text)),
        (JsonValue.Array e, JsonValue.Array a) => e.Item.Length == a.Item.Length && e.Item.Zip(a.Item).All(p => SameValue(p.First, p.Second)),
        (JsonValue.Object e, JsonValue.Object a) => e.Item.Length == a.Item.Length && e.Item.All(m => a.Item.Any(n => n.Item1 == m.Item1 && SameValue(m.Item2, n.Item2))),
        _ => expected.Equals(actual),
    };
}
