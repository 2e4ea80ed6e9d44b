using Schedulers.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Schedulers.Conformance.Checkers;

/// <summary>
/// A scheduler of the compatible family as the family checker drives it: the torch class behind one interface, so
/// one checker runs every family file (golden README, "Compatible family files").
/// </summary>
public interface IFamilyScheduler
{
    /// <summary>The resolved config value of a key of the class (its schema's JSON form), or null when the class has no
    /// such key.</summary>
    JsonValue? ConfigValue(string key);

    /// <summary>The text <c>save_config</c> writes (the resolved config, with the keys of other classes kept).</summary>
    string ConfigText();

    /// <summary><c>set_timesteps(num_inference_steps)</c>.</summary>
    void SetTimesteps(int numInferenceSteps);

    /// <summary><c>set_timesteps(**set_timesteps_kwargs)</c>: custom <c>timesteps</c> or <c>sigmas</c>, where the class
    /// takes them.</summary>
    void SetTimesteps(JsonValue setTimestepsKwargs) =>
        throw new InvalidOperationException("this class's set_timesteps takes no custom timesteps or sigmas");

    /// <summary><c>timesteps</c>, as doubles.</summary>
    double[] Timesteps { get; }

    /// <summary><c>sigmas</c> where the class has them.</summary>
    float[]? Sigmas { get; }

    /// <summary><c>init_noise_sigma</c>.</summary>
    double InitNoiseSigma { get; }

    /// <summary>Whether the model returns a learned variance as extra channels.</summary>
    bool LearnedVariance { get; }

    /// <summary><c>scale_model_input(x, t)</c>.</summary>
    Tensor ScaleModelInput(Tensor sample, double timestep);

    /// <summary><c>step(model_output, t, x, **step_kwargs, generator)</c>: prev_sample and, where the class returns it,
    /// pred_original_sample. Returns null when <paramref name="kwargs"/> holds an argument the class does not take.</summary>
    (Tensor Prev, Tensor? Pred)? Step(Tensor modelOutput, double timestep, Tensor sample, JsonValue? kwargs, Generator? generator);

    /// <summary><c>add_noise(original, noise, timesteps)</c>.</summary>
    Tensor AddNoise(Tensor original, Tensor noise, long[] timesteps);

    /// <summary><c>get_velocity(sample, noise, timesteps)</c>, or null where the class has none.</summary>
    Tensor? GetVelocity(Tensor sample, Tensor noise, long[] timesteps);
}

/// <summary>The family classes this build has, by diffusers class name: a config dict in, a scheduler out.</summary>
public static class FamilySchedulers
{
    private static readonly Dictionary<string, Func<ConfigDict, IFamilyScheduler>> ByClass = new()
    {
        ["DDIMScheduler"] = d => new DdimFamily(DDIMScheduler.FromConfig(d)),
        ["DDPMScheduler"] = d => new DDPMSchedulerFamily(DDPMScheduler.FromConfig(d)),
        ["PNDMScheduler"] = d => new PNDMSchedulerFamily(PNDMScheduler.FromConfig(d)),
        ["LMSDiscreteScheduler"] = d => new LMSDiscreteSchedulerFamily(LMSDiscreteScheduler.FromConfig(d)),
        ["EulerDiscreteScheduler"] = d => new EulerDiscreteSchedulerFamily(EulerDiscreteScheduler.FromConfig(d)),
    };

    /// <summary>The factory of a class, or null when this build does not have it.</summary>
    public static Func<ConfigDict, IFamilyScheduler>? Find(string className) =>
        ByClass.TryGetValue(className, out var make) ? make : null;

    private sealed class DdimFamily(DDIMScheduler s) : IFamilyScheduler
    {
        public JsonValue? ConfigValue(string key) =>
            DdimConfig.Schema.AllKeys.Contains(key) ? DdimConfig.Schema.Get(key, s.Config) : null;
        public string ConfigText() => s.ConfigText();
        public void SetTimesteps(int n) => s.SetTimesteps(n);
        public double[] Timesteps => s.Timesteps.Select(t => (double)t).ToArray();
        public float[]? Sigmas => null;
        public double InitNoiseSigma => s.InitNoiseSigma;
        public bool LearnedVariance => false;
        public Tensor ScaleModelInput(Tensor sample, double timestep) => s.ScaleModelInput(sample, (long)timestep);

        public (Tensor Prev, Tensor? Pred)? Step(Tensor modelOutput, double timestep, Tensor sample, JsonValue? kwargs, Generator? generator)
        {
            double eta = 0;
            bool clipped = false;
            foreach (var (key, value) in kwargs is null ? [] : Golden.Members(kwargs, "step_kwargs"))
            {
                switch (key)
                {
                    case "eta": eta = Golden.Number(value, key); break;
                    case "use_clipped_model_output": clipped = value is JsonValue.Bool { Item: true }; break;
                    default: return null;
                }
            }
            var r = s.Step(modelOutput, (long)timestep, sample, eta, clipped, generator);
            return (r.PrevSample, r.PredOriginalSample);
        }

        public Tensor AddNoise(Tensor original, Tensor noise, long[] timesteps) => s.AddNoise(original, noise, timesteps);
        public Tensor? GetVelocity(Tensor sample, Tensor noise, long[] timesteps) => s.GetVelocity(sample, noise, timesteps);
    }
}

/// <summary>
/// Checks the compatible family's torch files (<c>ddim_torch.json</c>, …) through the shell classes on TorchSharp CPU:
/// per case the resolved config, timesteps, sigmas, <c>init_noise_sigma</c> and the whole loop
/// <c>x ← step(model(scale_model_input(x, t), t), t, x)</c> with the model <c>x·t/(t + 1)</c>, step by step; and the
/// <c>add_noise</c>/<c>get_velocity</c> extras. A class this build lacks is left to the pending checker.
/// </summary>
public sealed class FamilyChecker : IGoldenChecker
{
    private static readonly HashSet<string> CaseFields =
        ["config_overrides", "num_inference_steps", "set_timesteps_kwargs", "step_kwargs", "generator_seed", "config", "timesteps", "sigmas", "init_noise_sigma", "initial", "steps", "final", "error"];

    /// <inheritdoc />
    public bool Recognises(JsonValue root) =>
        Golden.Field(root, "framework") is JsonValue.String { Item: "torch" }
        && Golden.Field(root, "compatibles") is JsonValue.Array
        && Golden.Field(root, "scheduler") is JsonValue.String s
        && FamilySchedulers.Find(s.Item) is not null;

    /// <inheritdoc />
    public IEnumerable<CaseResult> Check(JsonValue root)
    {
        var className = ((JsonValue.String)Golden.Field(root, "scheduler")!).Item;
        var make = FamilySchedulers.Find(className)!;
        if (Golden.Field(root, "compatibles") is { } listed)
            yield return CaseChecker.Run("compatibles", c => CheckCompatibles(c, className, listed));
        var cases = Golden.Items(Golden.Require(root, "cases", "root"), "cases");
        for (int i = 0; i < cases.Length; i++)
        {
            var name = $"cases[{i}]";
            var item = cases[i];
            var unknown = Golden.Members(item, name).Select(m => m.Key).FirstOrDefault(k => !CaseFields.Contains(k));
            if (unknown is not null)
            {
                yield return CaseResult.Skip(name, $"field '{unknown}' is not understood by this runner");
                continue;
            }
            yield return CaseChecker.Run(name, c => CheckCase(c, make, item));
        }
        var extras = Golden.Field(root, "extras") is { } e ? Golden.Items(e, "extras") : [];
        for (int i = 0; i < extras.Length; i++)
        {
            var item = extras[i];
            yield return CaseChecker.Run($"extras[{i}]", c => CheckExtras(c, make, item));
        }
    }

    /// <summary>The class's <c>compatibles</c> must list every class diffusers lists.</summary>
    private static void CheckCompatibles(CaseChecker c, string className, JsonValue listed)
    {
        var ours = Registry.tryFindClass(className) is { } entry ? entry.Value.Compatibles.ToHashSet() : [];
        var missing = Golden.Items(listed, "compatibles").Select(v => Golden.Text(v, "compatibles")).Where(n => !ours.Contains(n)).ToList();
        if (missing.Count > 0) throw new InvalidOperationException($"compatibles lacks {string.Join(", ", missing)}");
    }

    private static IFamilyScheduler Create(Func<ConfigDict, IFamilyScheduler> make, JsonValue item, string where)
    {
        var overrides = Golden.Field(item, "config_overrides") is { } o ? Golden.Members(o, where + ".config_overrides") : [];
        return make(new ConfigDict(overrides.Select(m => Tuple.Create(m.Key, m.Value)).ToArray()));
    }

    /// <summary>diffusers' test model <c>x·t/(t+1)</c>: the factor t/(t + 1) in float64, rounded to float32 as it
    /// meets the tensor, then one float32 product; a learned variance doubles the channels.</summary>
    private static Tensor Model(Tensor x, double t, bool learned)
    {
        var m = x.mul((float)(t / (t + 1)));
        if (!learned) return m;
        using (m)
        using (var half = m.mul(0.5f))
        {
            return cat(new[] { m, half }, 1);
        }
    }

    private static Tensor ToTensor(GoldenArray a) => tensor(a.ToFloat32(), a.Shape.Select(d => (long)d).ToArray(), ScalarType.Float32);

    private static float[] Host(Tensor t) => t.cpu().data<float>().ToArray();

    private static void CompareConfig(CaseChecker c, IFamilyScheduler s, JsonValue expected)
    {
        foreach (var (key, value) in Golden.Members(expected, "config"))
        {
            if (s.ConfigValue(key) is not { } ours) continue;
            bool same = (value, ours) switch
            {
                (JsonValue.Number a, JsonValue.Number b) => Json.numberValue(a.text) == Json.numberValue(b.text),
                _ => Json.writeIndented(value) == Json.writeIndented(ours),
            };
            if (!same) throw new InvalidOperationException($"config.{key} is {Json.writeIndented(ours)} but the reference resolved {Json.writeIndented(value)}");
        }
    }

    private static void CheckCase(CaseChecker c, Func<ConfigDict, IFamilyScheduler> make, JsonValue item)
    {
        using var scope = NewDisposeScope();
        var s = Create(make, item, c.Name);
        if (Golden.Field(item, "config") is { } config) CompareConfig(c, s, config);
        var custom = Golden.Field(item, "set_timesteps_kwargs");
        int? n = Golden.Field(item, "num_inference_steps") is JsonValue.Number num ? (int)Json.numberValue(num.text)
            : custom is not null ? null : throw new InvalidOperationException("the case gives neither num_inference_steps nor set_timesteps_kwargs");
        void SetTimesteps()
        {
            if (n is { } steps) s.SetTimesteps(steps);
            else s.SetTimesteps(custom!);
        }
        if (Golden.Field(item, "error") is not null)
        {
            // The reference itself raised: the project's run must complete with finite values.
            SetTimesteps();
            RunLoop(c, s, item, checkSteps: false);
            return;
        }
        SetTimesteps();
        if (Golden.Field(item, "timesteps") is { } ts)
        {
            // Integer timesteps are exact; float32 ones (LMS, Euler) are a schedule array (golden README, "Tolerances").
            var expected = GoldenArray.Parse(ts, "timesteps");
            c.Compare("timesteps", expected.Data, s.Timesteps, expected.Dtype.StartsWith("float", StringComparison.Ordinal) ? Tolerance.Schedule : Tolerance.Exact);
        }
        if (Golden.Field(item, "sigmas") is { } sg)
        {
            var sigmas = s.Sigmas ?? throw new InvalidOperationException("the class has no sigmas");
            c.Compare("sigmas", GoldenArray.Parse(sg, "sigmas"), sigmas, Tolerance.Schedule);
        }
        if (Golden.Field(item, "init_noise_sigma") is { } ins)
            c.Compare("init_noise_sigma", Golden.Number(ins, "init_noise_sigma"), s.InitNoiseSigma, Tolerance.Schedule);
        RunLoop(c, s, item, checkSteps: true);
    }

    private static void RunLoop(CaseChecker c, IFamilyScheduler s, JsonValue item, bool checkSteps)
    {
        // A case recording an error has no arrays: it starts, as the others do, from the shared sample times
        // init_noise_sigma (the README's `initial`).
        var x = Golden.Field(item, "initial") is not null || checkSteps
            ? ToTensor(GoldenArray.Parse(Golden.Require(item, "initial", c.Name), "initial"))
            : SharedSample().mul(s.InitNoiseSigma);
        var generator = Golden.Field(item, "generator_seed") is { } seed ? new torch.Generator((ulong)Golden.Number(seed, "generator_seed")) : null;
        var kwargs = Golden.Field(item, "step_kwargs");
        var steps = checkSteps && Golden.Field(item, "steps") is { } st ? Golden.Items(st, "steps") : [];
        var timesteps = s.Timesteps;
        for (int i = 0; i < timesteps.Length; i++)
        {
            var t = timesteps[i];
            var scaled = s.ScaleModelInput(x, t);
            var output = Model(scaled, t, s.LearnedVariance);
            var r = s.Step(output, t, x, kwargs, generator) ?? throw new InvalidOperationException("step_kwargs names an argument this class does not take");
            var (prevSample, predOriginal) = r;
            if (i < steps.Length)
            {
                var expected = steps[i];
                var where = $"steps[{i}]";
                c.Compare(where + ".timestep", Golden.Number(Golden.Require(expected, "timestep", where), where), t, Tolerance.Schedule);
                if (Golden.Field(expected, "scaled_sum_abs") is { } ssa)
                    c.Compare(where + ".scaled_sum_abs", Golden.Number(ssa, where), Host(scaled).Sum(v => Math.Abs((double)v)), Tolerance.Loop);
                if (Golden.Field(expected, "prev_sample") is { } prev)
                    c.Compare(where + ".prev_sample", GoldenArray.Parse(prev, where), Host(prevSample), Tolerance.Loop);
                if (Golden.Field(expected, "pred_original_sample") is { } pred)
                {
                    var ours = predOriginal ?? throw new InvalidOperationException("the class returns no pred_original_sample");
                    c.Compare(where + ".pred_original_sample", GoldenArray.Parse(pred, where), Host(ours), Tolerance.Loop);
                }
                if (Golden.Field(expected, "prev_sample_sum_abs") is { } psa)
                    c.Compare(where + ".prev_sample_sum_abs", Golden.Number(psa, where), Host(prevSample).Sum(v => Math.Abs((double)v)), Tolerance.Loop);
            }
            x = prevSample;
        }
        var final = Host(x);
        // Where the reference recorded its final sample, that is the answer (NaN where diffusers' own maths gives NaN).
        if (checkSteps && Golden.Field(item, "final") is { } f)
            c.Compare("final", GoldenArray.Parse(f, "final"), final, Tolerance.Loop);
        else if (final.Any(v => !float.IsFinite(v))) throw new InvalidOperationException("the final sample is not finite");
    }

    private static void CheckExtras(CaseChecker c, Func<ConfigDict, IFamilyScheduler> make, JsonValue item)
    {
        using var scope = NewDisposeScope();
        var s = Create(make, item, c.Name);
        s.SetTimesteps((int)Golden.Number(Golden.Require(item, "num_inference_steps", c.Name), "num_inference_steps"));
        var root = Golden.Require(item, "noise", c.Name);
        var noise = ToTensor(GoldenArray.Parse(root, "noise"));
        var timesteps = GoldenArray.Parse(Golden.Require(item, "timesteps", c.Name), "timesteps").Data.Select(d => (long)d).ToArray();
        var original = FamilySample(noise.shape);
        if (Golden.Field(item, "add_noise") is { } added)
            c.Compare("add_noise", GoldenArray.Parse(added, "add_noise"), Host(s.AddNoise(original, noise, timesteps)), Tolerance.Step);
        if (Golden.Field(item, "get_velocity") is { } velocity)
        {
            var ours = s.GetVelocity(original, noise, timesteps) ?? throw new InvalidOperationException("the class has no get_velocity");
            c.Compare("get_velocity", GoldenArray.Parse(velocity, "get_velocity"), Host(ours), Tolerance.Step);
        }
    }

    /// <summary>The shared sample of the family files (diffusers' <c>dummy_sample_deter</c>) in its own shape.</summary>
    private static Tensor SharedSample()
    {
        var sample = SdeVeGolden.DummySampleDeter();
        return tensor(sample.ToArray(), sample.Shape.Select(d => (long)d).ToArray(), ScalarType.Float32);
    }

    /// <summary>The shared sample of the family files (diffusers' <c>dummy_sample_deter</c>, the files' <c>original</c>).</summary>
    private static Tensor FamilySample(long[] shape)
    {
        var sample = SdeVeGolden.DummySampleDeter();
        if (!sample.Shape.Select(d => (long)d).SequenceEqual(shape))
            throw new GoldenFormatException($"the shared sample has shape [{string.Join(",", sample.Shape)}] but noise has [{string.Join(",", shape)}]");
        return tensor(sample.ToArray(), shape, ScalarType.Float32);
    }
}
