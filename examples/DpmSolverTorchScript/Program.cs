// The torch flavour end to end: a diffusers scheduler_config.json (DPM-Solver++ 2M) loaded with FromConfig, a
// TorchScript score network, initial noise from a seeded torch.Generator, a 20-step DPM-Solver++ loop, and the result
// saved as a NumPy .npy file with a short summary.
//
// The network (tests/data/fixtures/tiny_score_mlp.torchscript.pt) is a VE score model: forward(x [B,2], σ [B]) gives
// ∇ log p_σ(x). DPM-Solver works on the VP process x_t = α_t·x0 + σ_t·ε and, with prediction_type "epsilon", wants ε.
// The same ε is found at the VE point x_t/α_t with noise level σ_t/α_t, where ε = −(σ_t/α_t)·score; the core's
// ModelConversion does exactly this (docs/sampling.md, "Real models").
//
// The fixture is a small network made for testing model files, not a trained model of any data: far from the data
// (the schedule starts at σ_t/α_t ≈ 157) its ε is nothing like a real one, so the samples it gives are large. The run
// shows the mechanics and that the seed fixes every bit; pass --model with a trained TorchScript score network for
// real samples.
using System.Globalization;
using Microsoft.FSharp.Core;
using Schedulers;
using Schedulers.Models;
using Schedulers.Core;
using Schedulers.Evaluation;
using TorchSharp;
using static TorchSharp.torch;

const string Usage = """
    usage: DpmSolverTorchScript [--config FILE] [--model FILE] [--out FILE] [--samples N] [--steps N] [--seed S]
      --config   a diffusers scheduler_config.json (default: the DPM-Solver++ config shipped next to the program)
      --model    a TorchScript VE score network forward(x [B,2], sigma [B]) (default: the tiny_score_mlp fixture)
      --out      where to write the samples as .npy (default: dpm_samples.npy in the current folder)
      --samples  number of points, 1-100000 (default 256); --steps 1-1000 (default 20); --seed 0-2^63 (default 0)
    """;

var options = new Dictionary<string, string>
{
    ["--config"] = Path.Combine(AppContext.BaseDirectory, "scheduler_config.json"),
    ["--model"] = Path.Combine(AppContext.BaseDirectory, "tiny_score_mlp.torchscript.pt"),
    ["--out"] = "dpm_samples.npy",
    ["--samples"] = "256",
    ["--steps"] = "20",
    ["--seed"] = "0",
};
for (int i = 0; i < args.Length; i += 2)
{
    if (args[i] is "-h" or "--help") { Console.WriteLine(Usage); return 0; }
    if (!options.ContainsKey(args[i])) return UsageError($"unknown argument '{args[i]}'");
    if (i + 1 >= args.Length || args[i + 1].StartsWith("--", StringComparison.Ordinal)) return UsageError($"{args[i]} needs a value");
    options[args[i]] = args[i + 1];
}
if (!int.TryParse(options["--samples"], CultureInfo.InvariantCulture, out var count) || count is < 1 or > 100_000)
    return UsageError($"--samples is '{options["--samples"]}' but must be an integer from 1 to 100000");
if (!int.TryParse(options["--steps"], CultureInfo.InvariantCulture, out var steps) || steps is < 1 or > 1000)
    return UsageError($"--steps is '{options["--steps"]}' but must be an integer from 1 to 1000");
if (!long.TryParse(options["--seed"], CultureInfo.InvariantCulture, out var seed) || seed < 0)
    return UsageError($"--seed is '{options["--seed"]}' but must be an integer from 0 to {long.MaxValue}");

try
{
    // diffusers: DPMSolverMultistepScheduler.from_config(DPMSolverMultistepScheduler.load_config(path)).
    var scheduler = DPMSolverMultistepScheduler.FromConfig(SchedulerConfigs.ReadFile(options["--config"]));
    using var network = TorchScriptModel.Load(options["--model"]);
    // The network's output is a score and it is conditioned on σ; the conversion gives the config's prediction type.
    var model = DenoiserModels.ToSamplingModel(network, ModelOutputKind.Score, ModelInputKind.Sigma);

    var generator = new Generator((ulong)seed);                 // torch.Generator().manual_seed(seed)
    scheduler.SetTimesteps(steps);
    var sample = randn(new long[] { count, 2 }, generator: generator) * scheduler.InitNoiseSigma;
    var timesteps = scheduler.State.Timesteps;
    for (int i = 0; i < timesteps.Length; i++)
    {
        using var modelOutput = Predict(model, scheduler, sample, i);
        var next = scheduler.Step(modelOutput, timesteps[i], sample, generator).PrevSample;
        sample.Dispose();
        sample = next;
    }

    // NpyFile.Write writes through a temporary file and renames it: a reader never sees half a file.
    var points = sample.data<float>().ToArray();
    NpyFile.Write(options["--out"], NdArrayModule.create([count, 2], points));
    var config = scheduler.Config;
    Console.WriteLine($"DPM-Solver {config.AlgorithmType} order {config.SolverOrder}, {steps} steps, seed {seed}, model {Path.GetFileName(options["--model"])}");
    Console.WriteLine($"shape [{string.Join(", ", sample.shape)}]");
    Console.WriteLine($"mean {Text(sample.mean().item<float>())}");
    Console.WriteLine($"std {Text(sample.std().item<float>())}");
    Console.WriteLine($"first {string.Join(" ", points.Take(4).Select(Text))}");
    Console.WriteLine($"wrote {Path.GetFullPath(options["--out"])}");
    return 0;
}
catch (Exception e) when (e is SchedulerConfigException or ModelException or IOException or UnauthorizedAccessException)
{
    Console.Error.WriteLine($"DpmSolverTorchScript: {e.Message}");
    return 1;
}

// The model output the scheduler expects at step i, for the batch x: the network is evaluated row by row at the
// step's VP point (α_t, σ_t), read from the scheduler's own sigmas, so a point's value does not depend on its batch.
static Tensor Predict(SamplingModel model, DPMSolverMultistepScheduler scheduler, Tensor x, int i)
{
    var point = DpmSolverMultistep.pointAt(scheduler.State, i);
    var t = scheduler.State.Timesteps[i];
    var rows = NdArrayModule.create(x.shape.Select(d => (int)d).ToArray(), x.data<float>().ToArray());
    // model.Vp is the curried F# function prediction type → α → σ → t → x → prediction.
    var output = FSharpFunc<PredictionType, float>.InvokeFast(model.Vp, scheduler.Config.PredictionType, point.Alpha, point.Sigma, (float)t, rows);
    return tensor(output.ToArray(), x.shape, ScalarType.Float32);
}

static string Text(float v) => v.ToString("R", CultureInfo.InvariantCulture);

static int UsageError(string message)
{
    Console.Error.WriteLine($"DpmSolverTorchScript: {message}");
    Console.Error.WriteLine(Usage);
    return 2;
}
