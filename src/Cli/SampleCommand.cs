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
public sealed class SampleCommand : ToolSubcommand<SampleCommand>, IToolSubcommand
{
    /// <summary>The key of the metrics' reference sample and projection directions (fixed, so that reports of
    /// different seeds and schedulers are measured against the same reference).</summary>
    public static readonly PrngKey MetricsKey = Prng.key(20260127);

    /// <inheritdoc/>
    public static Command Create(TextWriter? output = null, TextWriter? error = null)
    {
        var scheduler = TextOption("--scheduler", "dpm (DPM-Solver++ 2M, default), karras (KarrasVe), sde-ve (ScoreSdeVe predictor-corrector) or heun (EDM Heun, Karras et al. 2022 Alg. 1).");
        var steps = TextOption("--steps", "Number of inference steps (default 20).");
        var samples = TextOption("--samples", "Number of samples N (default 2000; digits: images, default 1000).");
        var seed = TextOption("--seed", "Seed, 0 … 4294967295 (default 0): of the JAX key (sample g uses fold_in(key, g)) or of the torch generator.");
        var noise = TextOption("--noise", "jax (default: a key per sample), torch-cpu or torch-cuda: torch.Generator(device).manual_seed(seed) computed in managed code, shared by the whole run in diffusers' order (one batch; no --shard).");
        var cudaDevice = TextOption("--cuda-device", "The GPU whose launch layout torch-cuda reproduces: " + string.Join(", ", CudaDevices.presets.Select(p => p.Item1)) + " (default h100; only draws above its multiprocessors × threads per multiprocessor depend on it).");
        var target = TextOption("--target", "ring8 (default), grid, moons, line1d, gaussian64, or digits (images from the shipped denoiser or --model, written as a PNG grid, with the classifier-feature Fréchet report).");
        var batchSize = TextOption("--batch-size", "Samples per core-loop call (default 256); the samples do not depend on it.");
        var outDir = TextOption("--out", "Output folder (default: the current folder).");
        var configFile = TextOption("--config-file", "A diffusers scheduler_config.json for the scheduler.");
        var shard = TextOption("--shard", "i/n: compute only shard i (0-based) of n and write samples.part-i-of-n.csv.");
        var model = TextOption("--model", "A trained network instead of the target's exact model: TorchScript (.pt), ONNX (.onnx), or a model written by `schedulers train` (with its .json sidecar), with forward(x [B,D], sigma_or_t [B]) -> [B,D].");
        var modelOutput = TextOption("--model-output", "What --model returns: score, epsilon, x0 or v.");
        var modelInput = TextOption("--model-input", "What --model is conditioned on: sigma (VE noise level, default) or t (DPM-Solver's VP timestep).");
        var config = new Option<string[]>("--config")
        {
            Description = "key=value: a scheduler config option by its diffusers name (repeatable), e.g. algorithm_type=sde-dpmsolver++.",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var quiet = QuietOption("No progress bar.");
        var command = new Command("sample", "Sample a built-in target with a scheduler and the target's exact model; print the quality report; write samples.csv/.npy/.png.")
        {
            scheduler, steps, samples, seed, target, batchSize, outDir, config, configFile, shard, quiet,
            model, modelOutput, modelInput, noise, cudaDevice,
        };
        // A run fails when the model fails while sampling (a model that does not load is a usage error) or the disk
        // fails while writing.
        return WithAction(command, output, error, x => x is ModelException or IOException, run =>
        {
            if (run.Parse.GetResult(config) is { Tokens.Count: 0, Implicit: false })
                throw new UsageException("--config needs a value key=value");
            if (DigitsSampling.IsDigits(run.NonEmptyText(target)))
            {
                foreach (var other in new[] { shard, modelOutput, modelInput, noise, cudaDevice })
                    if (run.Parse.GetResult(other) is not null)
                        throw new UsageException($"{other.Name} does not apply to --target digits (the denoiser is an x0 model at σ, its noise comes from JAX keys, and a run is not sharded)");
                return DigitsSample.Execute(new SampleRequest
                {
                    Scheduler = SamplerConfigs.ParseKind(run.NonEmptyText(scheduler) ?? "dpm"),
                    Steps = run.Int(steps, 20, 1, ConfigLimits.MaxInferenceSteps),
                    Samples = run.Int(samples, DigitsSampling.DefaultSamples, 1, 1_000_000),
                    Seed = run.Seed(seed),
                    Target = DigitsSampling.StandIn,
                    BatchSize = run.Int(batchSize, 256, 1, 10_000_000),
                    OutDir = run.NonEmptyText(outDir) ?? ".",
                    ConfigPairs = run.Parse.GetValue(config) ?? [],
                    ConfigFile = run.NonEmptyText(configFile),
                    Progress = run.Progress(quiet),
                    Model = run.NonEmptyText(model),
                }, run.Output);
            }
            var request = new SampleRequest
            {
                Scheduler = SamplerConfigs.ParseKind(run.NonEmptyText(scheduler) ?? "dpm"),
                Steps = run.Int(steps, 20, 1, ConfigLimits.MaxInferenceSteps),
                Samples = run.Int(samples, 2000, 1, 50_000_000),
                Seed = run.Seed(seed),
                Target = TargetByName(run.NonEmptyText(target) ?? "ring8"),
                BatchSize = run.Int(batchSize, 256, 1, 10_000_000),
                OutDir = run.NonEmptyText(outDir) ?? ".",
                ConfigPairs = run.Parse.GetValue(config) ?? [],
                ConfigFile = run.NonEmptyText(configFile),
                Shard = run.Parse.GetResult(shard) is null ? null : Shard(run.Text(shard)),
                Progress = run.Progress(quiet),
                Model = run.NonEmptyText(model),
                ModelOutput = ModelOutputOf(run.Text(modelOutput), run.Parse.GetResult(model) is not null),
                ModelInput = ModelInputOf(run.Text(modelInput)),
                Noise = NoiseChoice.Parse(run.NonEmptyText(noise), run.NonEmptyText(cudaDevice)),
            };
            if (request.Noise.IsTorch && request.Shard is not null)
                throw new UsageException($"--shard needs --noise jax: a torch stream is drawn in one sequence by the whole run");
            if (request.Model is null && (run.Parse.GetResult(modelOutput) is not null || run.Parse.GetResult(modelInput) is not null))
                throw new UsageException("--model-output and --model-input need --model");
            if (request.Model is not null && request.ModelInput.IsTimestep && request.Scheduler is not (SchedulerKind.Dpm or SchedulerKind.Ddim))
                throw new UsageException($"--model-input t serves only the VP schedulers (dpm, ddim: the VP timestep), not {SamplerConfigs.Name(request.Scheduler)}; use a σ-conditioned model");
            return Execute(request, run.Output, run.Error);
        });
    }

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
        output.WriteLine($"{name} on {r.Target.Name}: {r.Samples} samples{part}, {r.Steps} steps ({nfe} NFE), seed {r.Seed}, " + (r.Noise.IsTorch ? $"noise {r.Noise.Name}{(r.Noise.Device is { } dev ? $" ({dev.Name})" : "")}, one batch" : $"batch size {r.BatchSize}"));
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
                points = r.Noise.IsTorch
                    ? r.Noise.Sample(sampler, r.Target, r.Steps, r.Seed, count, bar.Advance, outputs)
                    : SampleRun.Run(sampler, r.Target, r.Steps, r.Seed, first, count, r.BatchSize, bar.Advance, outputs);
            }
            catch (AggregateException a) when (a.InnerException is ModelException inner)
            {
                throw inner;
            }
            catch (AggregateException a) when (a.InnerException is ArgumentException inner)
            {
                throw new UsageException(SamplerConfigs.Clean(inner));
            }
            catch (ArgumentException inner) when (r.Noise.IsTorch)
            {
                throw new UsageException(SamplerConfigs.Clean(inner));
            }
        }
        double sampling = clock.Elapsed.TotalSeconds;
        var header = $"schedulers sample target={r.Target.Name} scheduler={SamplerConfigs.Name(r.Scheduler)} steps={r.Steps} nfe={nfe} samples={r.Samples} seed={r.Seed} first={first} count={count}"
            + (r.Noise.IsTorch ? $" noise={r.Noise.Name}" + (r.Noise.Device is { } nd ? $" cuda-device={nd.Name.Replace(' ', '_')}" : "") : "")
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
    /// <summary>The seed of the JAX key or of the torch generator.</summary>
    public uint Seed { get; init; }
    /// <summary>The noise stream (JAX keys by default).</summary>
    public NoiseChoice Noise { get; init; } = NoiseChoice.Jax;
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
