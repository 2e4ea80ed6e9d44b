using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Schedulers.Cli.Models;
using Schedulers.Models;
using Schedulers.Core;
using Schedulers.Evaluation;

namespace Schedulers.Cli;

/// <summary><c>schedulers sample</c>: draws points from a built-in target with a scheduler's own sampling loop fed
/// the target's exact model output, prints the quality report and the wall time, and writes samples.csv,
/// samples.npy and samples.png (with <c>--shard i/n</c>: only its part, samples.part-i-of-n.csv, for
/// <c>schedulers merge</c>).</summary>
public static class SampleCommand
{
    /// <summary>The key of the metrics' reference sample and projection directions (fixed, so that reports of
    /// different seeds and schedulers are measured against the same reference).</summary>
    public static readonly PrngKey MetricsKey = Prng.key(20260127);

    /// <summary>Builds the command; output goes to <paramref name="output"/>/<paramref name="error"/> (the
    /// console when null).</summary>
    public static Command Create(TextWriter? output = null, TextWriter? error = null)
    {
        // Every value is read as text and checked here, so that a bad value gives one line naming it and exit code 2
        // (unknown and repeated options get the same from ParseErrors).
        Option<string?> Text(string name, string description) =>
            new(name) { Description = description, Arity = ArgumentArity.ZeroOrOne };
        var scheduler = Text("--scheduler", "dpm (DPM-Solver++ 2M, default), karras (KarrasVe), sde-ve (ScoreSdeVe predictor-corrector) or heun (EDM Heun, Karras et al. 2022 Alg. 1).");
        var steps = Text("--steps", "Number of inference steps (default 20).");
        var samples = Text("--samples", "Number of samples N (default 2000).");
        var seed = Text("--seed", "Seed of the JAX key, 0 … 4294967295 (default 0); sample g uses fold_in(key, g).");
        var target = Text("--target", "ring8 (default), grid, moons, line1d or gaussian64.");
        var batchSize = Text("--batch-size", "Samples per core-loop call (default 256); the samples do not depend on it.");
        var outDir = Text("--out", "Output folder (default: the current folder).");
        var configFile = Text("--config-file", "A diffusers scheduler_config.json for the scheduler.");
        var shard = Text("--shard", "i/n: compute only shard i (0-based) of n and write samples.part-i-of-n.csv.");
        var model = Text("--model", "A trained network instead of the target's exact model: TorchScript (.pt), ONNX (.onnx), or a model written by `schedulers train` (with its .json sidecar), with forward(x [B,D], sigma_or_t [B]) -> [B,D].");
        var modelOutput = Text("--model-output", "What --model returns: score, epsilon, x0 or v.");
        var modelInput = Text("--model-input", "What --model is conditioned on: sigma (VE noise level, default) or t (DPM-Solver's VP timestep).");
        var config = new Option<string[]>("--config")
        {
            Description = "key=value: a scheduler config option by its diffusers name (repeatable), e.g. algorithm_type=sde-dpmsolver++.",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No progress bar." };
        var command = new Command("sample", "Sample a built-in target with a scheduler and the target's exact model; print the quality report; write samples.csv/.npy/.png.")
        {
            scheduler, steps, samples, seed, target, batchSize, outDir, config, configFile, shard, quiet,
            model, modelOutput, modelInput,
        };
        command.SetAction(parse =>
        {
            var o = output ?? Console.Out;
            var e = error ?? Console.Error;
            try
            {
                if (parse.GetResult(config) is { Tokens.Count: 0, Implicit: false })
                    throw new UsageException("--config needs a value key=value");
                string? Read(Option<string?> option)
                {
                    var value = parse.GetValue(option);
                    if (parse.GetResult(option) is { } given && string.IsNullOrEmpty(value) && given.Tokens.Count == 0 && !given.Implicit)
                        throw new UsageException($"{option.Name} needs a value");
                    return value;
                }
                var request = new SampleRequest
                {
                    Scheduler = SamplerConfigs.ParseKind(Value(Read(scheduler), "--scheduler", "dpm")),
                    Steps = Int(Read(steps), "--steps", 20, 1, ConfigLimits.MaxInferenceSteps),
                    Samples = Int(Read(samples), "--samples", 2000, 1, 50_000_000),
                    Seed = Seed(Read(seed)),
                    Target = TargetByName(Value(Read(target), "--target", "ring8")),
                    BatchSize = Int(Read(batchSize), "--batch-size", 256, 1, 10_000_000),
                    OutDir = Value(Read(outDir), "--out", "."),
                    ConfigPairs = parse.GetValue(config) ?? [],
                    ConfigFile = parse.GetResult(configFile) is null ? null : Value(Read(configFile), "--config-file", ""),
                    Shard = parse.GetResult(shard) is null ? null : Shard(Read(shard)),
                    Progress = !parse.GetValue(quiet) && error is null && !Console.IsErrorRedirected,
                    Model = parse.GetResult(model) is null ? null : Value(Read(model), "--model", ""),
                    ModelOutput = ModelOutputOf(Read(modelOutput), parse.GetResult(model) is not null),
                    ModelInput = ModelInputOf(Read(modelInput)),
                };
                if (request.Model is null && (parse.GetResult(modelOutput) is not null || parse.GetResult(modelInput) is not null))
                    throw new UsageException("--model-output and --model-input need --model");
                if (request.Model is not null && request.ModelInput.IsTimestep && request.Scheduler != SchedulerKind.Dpm)
                    throw new UsageException($"--model-input t serves only --scheduler dpm (the VP timestep), not {SamplerConfigs.Name(request.Scheduler)}; use a σ-conditioned model");
                return Execute(request, o, e);
            }
            catch (UsageException u)
            {
                e.WriteLine($"sample: {u.Message}");
                return 2;
            }
            catch (ModelException m)
            {
                // A model that failed while sampling (a load failure is a UsageException).
                e.WriteLine($"sample: {m.Message}");
                return 1;
            }
            catch (IOException io)
            {
                // A disk that fills or fails while writing: each file is the previous one or the new one, whole.
                e.WriteLine($"sample: {io.Message}");
                return 1;
            }
        });
        return command;
    }

    /// <summary>Parses and runs <c>sample</c> with the given arguments (as the tool would), writing to the given
    /// writers; returns the exit code.</summary>
    public static int Invoke(string[] args, TextWriter output, TextWriter error) =>
        CommandInvoker.Invoke(Create(output, error), args, output, error);

    private static string Value(string? given, string option, string fallback) =>
        given switch
        {
            null when fallback.Length > 0 => fallback,
            null or "" => throw new UsageException($"{option} needs a value"),
            _ => given,
        };

    private static ModelOutputKind ModelOutputOf(string? given, bool haveModel)
    {
        if (given is null)
            return haveModel ? throw new UsageException("--model needs --model-output score|epsilon|x0|v (what the model returns)") : ModelOutputKind.Score;
        try { return ModelConversion.parseOutput(given); }
        catch (ArgumentException) { throw new UsageException($"--model-output is '{given}' but must be one of score, epsilon, x0, v"); }
    }

    private static ModelInputKind ModelInputOf(string? given)
    {
        if (given is null) return ModelInputKind.Sigma;
        try { return ModelConversion.parseInput(given); }
        catch (ArgumentException) { throw new UsageException($"--model-input is '{given}' but must be sigma or t"); }
    }

    private static int Int(string? given, string option, int fallback, int min, int max)
    {
        if (given is null) return fallback;
        if (!int.TryParse(given, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v))
            throw new UsageException($"{option} is '{given}' but must be an integer");
        if (v < min || v > max) throw new UsageException($"{option} is {v} but must be between {min} and {max}");
        return v;
    }

    private static uint Seed(string? given)
    {
        if (given is null) return 0;
        if (!uint.TryParse(given, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v))
            throw new UsageException($"--seed is '{given}' but must be an integer from 0 to 4294967295");
        return v;
    }

    /// <summary>The built-in target of a <c>--target</c> value.</summary>
    public static GaussianMixture TargetByName(string name)
    {
        try { return Targets.byName(name); }
        catch (ArgumentException) { throw new UsageException($"--target is '{name}' but must be one of {string.Join(", ", Targets.builtIns.Select(t => t.Name))}"); }
    }

    private static (int Index, int Count) Shard(string? given)
    {
        var parts = (given ?? "").Split('/');
        if (parts.Length != 2 || !int.TryParse(parts[0], out var i) || !int.TryParse(parts[1], out var n) || n < 1 || i < 0 || i >= n)
            throw new UsageException($"--shard is '{given}' but must be i/n with n ≥ 1 and 0 ≤ i < n (e.g. 0/4)");
        return (i, n);
    }

    /// <summary>Runs a checked request: samples, report, files. Returns the exit code.</summary>
    public static int Execute(SampleRequest r, TextWriter output, TextWriter error)
    {
        var sampler = SamplerConfigs.Build(r.Scheduler, r.ConfigFile, r.ConfigPairs, r.Target);
        SamplerSteps.Check(sampler, r.Steps, $"--steps {r.Steps}");
        // Both checked before the model is loaded or anything is sampled.
        var (first, count) = r.Shard is { } s ? SampleRun.ShardRange(r.Samples, s.Index, s.Count) : (0, r.Samples);
        MemoryBudget.Check(count, r.Target.Dimension, "--samples");
        OutputFolder.Prepare(r.OutDir, "--out");
        IDenoiserModel? network = null;
        if (r.Model is not null)
        {
            try { network = ModelFiles.Load(r.Model, r.Target.Dimension); }
            catch (ModelException m) { throw new UsageException($"--model: {m.Message}"); }
        }
        using var owned = network;
        var outputs = network is null ? null : DenoiserModels.ToSamplingModel(network, r.ModelOutput, r.ModelInput);
        var name = SamplerConfigs.Describe(sampler)
            + (r.Model is null ? "" : $" with model {Path.GetFileName(r.Model)} ({ModelConversion.outputName(r.ModelOutput)} at {(r.ModelInput.IsTimestep ? "t" : "σ")})");
        int nfe = TargetSampling.nfe(sampler, r.Steps);
        var part = r.Shard is { } sh ? $", shard {sh.Index}/{sh.Count} ({(count == 0 ? "no samples" : $"samples {first}…{first + count - 1}")})" : "";
        output.WriteLine($"{name} on {r.Target.Name}: {r.Samples} samples{part}, {r.Steps} steps ({nfe} NFE), seed {r.Seed}, batch size {r.BatchSize}");
        var clock = Stopwatch.StartNew();
        NdArray points;
        if (count == 0)
        {
            points = NdArrayModule.zeros([0, r.Target.Dimension]);
        }
        else
        {
            using var bar = new ProgressBar("sampling", (long)count * r.Steps, r.Progress);
            try
            {
                points = SampleRun.Run(sampler, r.Target, r.Steps, r.Seed, first, count, r.BatchSize, bar.Advance, outputs);
            }
            catch (AggregateException a) when (a.InnerException is ModelException inner)
            {
                throw inner;
            }
            catch (AggregateException a) when (a.InnerException is ArgumentException inner)
            {
                throw new UsageException(SamplerConfigs.Clean(inner));
            }
        }
        double sampling = clock.Elapsed.TotalSeconds;
        var header = $"schedulers sample target={r.Target.Name} scheduler={SamplerConfigs.Name(r.Scheduler)} steps={r.Steps} nfe={nfe} samples={r.Samples} seed={r.Seed} first={first} count={count}"
            + (r.Shard is { } c ? $" shard={c.Index}/{c.Count}" : "")
            + string.Concat(r.ConfigPairs.Select(p => " config:" + p.Replace(' ', '_')))
            + (r.ConfigFile is null ? "" : " config-file=" + r.ConfigFile.Replace(' ', '_'))
            + (r.Model is null ? "" : $" model={r.Model.Replace(' ', '_')} model-output={ModelConversion.outputName(r.ModelOutput)} model-input={(r.ModelInput.IsTimestep ? "t" : "sigma")}")
            + " | " + name;
        if (r.Shard is { } shardOf)
        {
            var path = Path.Combine(r.OutDir, $"samples.part-{shardOf.Index}-of-{shardOf.Count}.csv");
            SampleFiles.WriteCsv(path, points, header);
            output.WriteLine($"wall time {clock.Elapsed.TotalSeconds:0.00} s");
            output.WriteLine($"wrote {path}");
            return 0;
        }
        var files = SampleOutputs.Write(r.OutDir, r.Target, points, header, name, nfe, output);
        output.WriteLine($"wall time {clock.Elapsed.TotalSeconds:0.00} s (sampling {sampling:0.00} s)");
        output.WriteLine($"wrote {string.Join(", ", files)}");
        return 0;
    }
}

/// <summary>A checked <c>sample</c> command line.</summary>
public sealed record SampleRequest
{
    /// <summary>The scheduler family.</summary>
    public SchedulerKind Scheduler { get; init; } = SchedulerKind.Dpm;
    /// <summary>Inference steps.</summary>
    public int Steps { get; init; } = 20;
    /// <summary>Total number of samples N.</summary>
    public int Samples { get; init; } = 2000;
    /// <summary>The seed of the JAX key.</summary>
    public uint Seed { get; init; }
    /// <summary>The target.</summary>
    public GaussianMixture Target { get; init; } = Targets.ring8;
    /// <summary>Samples per core-loop call.</summary>
    public int BatchSize { get; init; } = 256;
    /// <summary>The output folder.</summary>
    public string OutDir { get; init; } = ".";
    /// <summary><c>key=value</c> config overrides.</summary>
    public IReadOnlyList<string> ConfigPairs { get; init; } = [];
    /// <summary>A scheduler_config.json, if any.</summary>
    public string? ConfigFile { get; init; }
    /// <summary>The shard (index, count), if only a part is computed.</summary>
    public (int Index, int Count)? Shard { get; init; }
    /// <summary>Whether to draw the progress bar.</summary>
    public bool Progress { get; init; }
    /// <summary>A TorchScript or ONNX model file used instead of the target's exact model, if any.</summary>
    public string? Model { get; init; }
    /// <summary>What the model returns.</summary>
    public ModelOutputKind ModelOutput { get; init; } = ModelOutputKind.Score;
    /// <summary>What the model is conditioned on.</summary>
    public ModelInputKind ModelInput { get; init; } = ModelInputKind.Sigma;
}
