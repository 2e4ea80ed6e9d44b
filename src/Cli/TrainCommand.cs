using System.CommandLine;
using System.Globalization;
using Schedulers.Cli.Training;

namespace Schedulers.Cli;

/// <summary><c>schedulers train</c>: fits a score MLP to a built-in target by denoising score matching
/// (<see cref="ScoreTraining"/>) and writes it for <c>sample --model file --model-output score</c>.</summary>
public static class TrainCommand
{
    /// <summary>Builds the command; output goes to <paramref name="output"/>/<paramref name="error"/> (the console
    /// when null).</summary>
    public static Command Create(TextWriter? output = null, TextWriter? error = null)
    {
        Option<string?> Text(string name, string description) =>
            new(name) { Description = description, Arity = ArgumentArity.ZeroOrOne };
        var target = Text("--target", "ring8 (default), grid, moons, line1d or gaussian64.");
        var steps = Text("--steps", "Adam steps (default 3000).");
        var batchSize = Text("--batch-size", "Exact target draws per step (default 512).");
        var seed = Text("--seed", "Seed of the initialisation, data and noise, 0 … 4294967295 (default 0).");
        var outFile = Text("--out", "The model file (default model.pt); the architecture goes to <file>.json.");
        var sigmaMin = Text("--sigma-min", "Lower end of the log-uniform training σ (default 0.01).");
        var sigmaMax = Text("--sigma-max", "Upper end of the log-uniform training σ (default 10).");
        var hidden = Text("--hidden", "Units per hidden layer (default 128).");
        var layers = Text("--layers", "Hidden layers (default 3).");
        var lr = Text("--lr", "Peak Adam learning rate, cosine-annealed to 1% (default 0.005).");
        var threads = Text("--threads", "torch threads (default 1: the model is then the same bits for a seed).");
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No progress." };
        var command = new Command("train", "Fit a score MLP to a built-in target (denoising score matching) and save it for sample --model.")
        {
            target, steps, batchSize, seed, outFile, sigmaMin, sigmaMax, hidden, layers, lr, threads, quiet,
        };
        command.SetAction(parse =>
        {
            var o = output ?? Console.Out;
            var e = error ?? Console.Error;
            try
            {
                string? Read(Option<string?> option)
                {
                    var value = parse.GetValue(option);
                    if (parse.GetResult(option) is { } given && string.IsNullOrEmpty(value) && given.Tokens.Count == 0 && !given.Implicit)
                        throw new UsageException($"{option.Name} needs a value");
                    return value;
                }
                var request = new TrainRequest
                {
                    Target = SampleCommand.TargetByName(Read(target) ?? "ring8"),
                    Steps = Int(Read(steps), "--steps", 3000, 1, 10_000_000),
                    BatchSize = Int(Read(batchSize), "--batch-size", 512, 1, 1_000_000),
                    Seed = Seed(Read(seed)),
                    SigmaMin = Positive(Read(sigmaMin), "--sigma-min", 0.01),
                    SigmaMax = Positive(Read(sigmaMax), "--sigma-max", 10.0),
                    Hidden = Int(Read(hidden), "--hidden", 128, 1, 65_536),
                    Layers = Int(Read(layers), "--layers", 3, 1, 64),
                    LearningRate = Positive(Read(lr), "--lr", 5e-3),
                    Threads = Int(Read(threads), "--threads", 1, 1, 1024),
                };
                if (request.SigmaMin >= request.SigmaMax)
                    throw new UsageException($"--sigma-min ({request.SigmaMin}) must be below --sigma-max ({request.SigmaMax})");
                var given = Read(outFile) ?? "model.pt";
                var name = Path.GetFileName(given);
                var path = OutputFolder.PrepareFile(given, "--out", name, MlpArchitecture.SidecarOf(name));
                bool progress = !parse.GetValue(quiet) && error is null && !Console.IsErrorRedirected;
                return Execute(request, path, progress, o, e);
            }
            catch (UsageException u)
            {
                e.WriteLine($"train: {u.Message}");
                return 2;
            }
            catch (InvalidOperationException failure)
            {
                e.WriteLine($"train: {failure.Message}");
                return 1;
            }
            catch (IOException io)
            {
                // A disk that fills or fails while writing: the weights and the sidecar are each whole or absent.
                e.WriteLine($"train: {io.Message}");
                return 1;
            }
        });
        return command;
    }

    /// <summary>Parses and runs <c>train</c> with the given arguments, writing to the given writers; returns the exit
    /// code.</summary>
    public static int Invoke(string[] args, TextWriter output, TextWriter error) =>
        CommandInvoker.Invoke(Create(output, error), args, output, error);

    private static int Execute(TrainRequest r, string path, bool progress, TextWriter o, TextWriter e)
    {
        o.WriteLine(FormattableString.Invariant(
            $"train: {r.Target.Name}, {r.Steps} steps × {r.BatchSize}, σ log-uniform in [{r.SigmaMin}, {r.SigmaMax}], MLP {r.Layers}×{r.Hidden}, seed {r.Seed}, {r.Threads} thread(s)"));
        int every = Math.Max(1, r.Steps / 20);
        double running = 0;
        var result = ScoreTraining.Train(r, (step, loss) =>
        {
            running = step == 0 ? loss : 0.95 * running + 0.05 * loss;
            if (progress && (step + 1) % every == 0)
                e.Write(FormattableString.Invariant($"\rstep {step + 1}/{r.Steps}  loss {running:F4}   "));
        });
        if (progress) e.WriteLine();
        using (result.Model)
            ScoreTraining.Save(result, path);
        int w = Math.Clamp(r.Steps / 10, 1, 100);
        o.WriteLine(FormattableString.Invariant(
            $"held-out loss E‖σ·s + z‖² ({ScoreTraining.HeldOutPoints} fixed points): initial {result.InitialLoss:F4}, final {result.FinalLoss:F4}; training loss of the last {w} steps {result.Losses.Skip(r.Steps - w).Average():F4}"));
        o.WriteLine(FormattableString.Invariant($"trained in {result.Elapsed.TotalSeconds:F1} s; wrote {path} and {MlpArchitecture.SidecarOf(path)}"));
        o.WriteLine($"use: schedulers sample --model {path} --model-output score --model-input sigma");
        return 0;
    }

    private static int Int(string? given, string option, int fallback, int min, int max)
    {
        if (given is null) return fallback;
        if (!int.TryParse(given, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v))
            throw new UsageException($"{option} is '{given}' but must be an integer");
        if (v < min || v > max) throw new UsageException($"{option} is {v} but must be between {min} and {max}");
        return v;
    }

    private static double Positive(string? given, string option, double fallback)
    {
        if (given is null) return fallback;
        if (!double.TryParse(given, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v) || v <= 0)
            throw new UsageException($"{option} is '{given}' but must be a positive number");
        return v;
    }

    private static uint Seed(string? given)
    {
        if (given is null) return 0;
        if (!uint.TryParse(given, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v))
            throw new UsageException($"--seed is '{given}' but must be an integer from 0 to 4294967295");
        return v;
    }
}
