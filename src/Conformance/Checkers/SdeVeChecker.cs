using Schedulers.Core;

namespace Schedulers.Conformance.Checkers;

/// <summary>
/// What the two ScoreSdeVe checkers (<see cref="SdeVeFlaxChecker"/>, <see cref="SdeVeTorchChecker"/>) share:
/// recognising their file by its framework, skipping a file or case with fields the runner does not understand, and
/// per case its config, its <c>create_state</c> arrays and its runs. A checker supplies the framework's state, its
/// runs, and whatever else its file records.
/// </summary>
public abstract class SdeVeChecker : IGoldenChecker
{
    private readonly string _framework;
    private readonly bool _casesRequired;
    private readonly string[] _rootFields;
    private readonly string[] _runFields;

    /// <summary>A checker of files whose <c>framework</c> is <paramref name="framework"/>, whose root and runs may
    /// hold <paramref name="moreRootFields"/> and <paramref name="moreRunFields"/> besides the shared fields; without
    /// <paramref name="casesRequired"/>, a file may record no <c>cases</c>.</summary>
    private protected SdeVeChecker(string framework, bool casesRequired, string[] moreRootFields, string[] moreRunFields)
    {
        _framework = framework;
        _casesRequired = casesRequired;
        _rootFields = ["framework", "scheduler", "cases", "source", "notes", "sample", .. moreRootFields];
        _runFields = ["num_inference_steps", "timesteps", "discrete_sigmas", "sigmas", "adjacent_sigma_all_indices", "steps", .. moreRunFields];
    }

    /// <inheritdoc />
    public bool Recognises(JsonValue root) =>
        Golden.Field(root, "scheduler") is JsonValue.String { Item: "ScoreSdeVeScheduler" }
        && Golden.Field(root, "framework") is JsonValue.String f && f.Item == _framework;

    /// <inheritdoc />
    public IEnumerable<CaseResult> Check(JsonValue root)
    {
        if (SdeVeGolden.Unknown("root", root, _rootFields) is { } rootReason)
        {
            yield return CaseResult.Skip("(file)", rootReason);
            yield break;
        }
        var sample = SdeVeGolden.Sample(root);
        var cases = _casesRequired ? Golden.Items(Golden.Require(root, "cases", "root"), "cases")
            : Golden.Field(root, "cases") is { } cs ? Golden.Items(cs, "cases") : Array.Empty<JsonValue>();
        for (int c = 0; c < cases.Length; c++)
        {
            var name = $"cases[{c}]";
            var item = cases[c];
            var reason = SdeVeGolden.Unknown(name, item, "config", "create_state", "runs")
                ?? SdeVeGolden.UnknownConfig(Golden.Require(item, "config", name), name + ".config");
            if (reason is not null)
            {
                yield return CaseResult.Skip(name, reason);
                continue;
            }
            var config = SdeVeGolden.ParseConfig(Golden.Require(item, "config", name));
            if (Golden.Field(item, "create_state") is { } created)
            {
                var createName = name + "/create_state";
                yield return SdeVeGolden.Unknown(createName, created, "timesteps", "discrete_sigmas", "sigmas") is { } r
                    ? CaseResult.Skip(createName, r)
                    : CaseChecker.Run(createName, ch => CompareState(ch, created, CreateState(config)));
            }
            var runs = Golden.Field(item, "runs") is { } rs ? Golden.Items(rs, name + ".runs") : Array.Empty<JsonValue>();
            for (int k = 0; k < runs.Length; k++)
            {
                var runName = $"{name}/runs[{k}]";
                if (SdeVeGolden.Unknown(runName, runs[k], _runFields) is { } runReason)
                {
                    yield return CaseResult.Skip(runName, runReason);
                    continue;
                }
                int n = (int)Golden.Number(Golden.Require(runs[k], "num_inference_steps", runName), runName);
                foreach (var result in Run($"{runName}(n={n})", config, n, runs[k], sample)) yield return result;
            }
        }
        foreach (var result in CheckMore(root, sample)) yield return result;
    }

    /// <summary>The state <c>create_state</c> (or the constructor) gives for <paramref name="config"/>.</summary>
    private protected abstract ScoreSdeVeState CreateState(ScoreSdeVeConfig config);

    /// <summary>The results of one recorded run of <paramref name="n"/> steps (its schedule, steps and loops), whose
    /// fields are all understood.</summary>
    private protected abstract IEnumerable<CaseResult> Run(string name, ScoreSdeVeConfig config, int n, JsonValue run, NdArray sample);

    /// <summary>The results of what the file records besides its cases (none unless a checker says otherwise).</summary>
    private protected virtual IEnumerable<CaseResult> CheckMore(JsonValue root, NdArray sample) => [];

    /// <summary>Compares the state arrays the JSON object records.</summary>
    private protected static void CompareState(CaseChecker c, JsonValue expected, ScoreSdeVeState state)
    {
        foreach (var (field, actual) in new[] { ("timesteps", state.Timesteps), ("discrete_sigmas", state.DiscreteSigmas), ("sigmas", state.Sigmas) })
        {
            if (Golden.Field(expected, field) is not { } e) continue;
            if (actual is null) throw new InvalidOperationException($"{field} is None in the state");
            c.Compare(field, GoldenArray.Parse(e, c.Name + "." + field), actual.Value, Tolerance.Schedule);
        }
    }
}
