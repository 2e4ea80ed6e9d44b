using System.CommandLine;
using System.Globalization;
using Schedulers.Cli.Training;

namespace Schedulers.Cli;

/// <summary><c>schedulers train</c>: fits a score MLP to a built-in target by denoising score matching
/// (<see cref="ScoreTraining"/>) and writes it for <c>sample --model file --model-output score</c>.</summary>
public sealed class TrainCommand : ToolSubcommand<TrainCommand>, IToolSubcommand
{
    /// <inheritdoc/>
    public static Command Create(TextWriter? output = null, TextWriter? error = null)
    {
        var target = TextOption("--target", "ring8 (default), grid, moons, line1d, gaussian64; digits (a conv denoiser of the handwritten digits) or digits-classifier (the quality measure's classifier).");
        var steps = TextOption("--steps", "Adam steps (default 3000; digits 5000, digits-classifier 3000).");
        var batchSize = TextOption("--batch-size", "Exact target draws per step (default 512; digits: images per step, default 64).");
        var channels = TextOption("--channels", "digits: convolution channels (default 32).");
        var blocks = TextOption("--blocks", "digits: residual blocks (default 2).");
        var seed = TextOption("--seed", "Seed of the initialisation, data and noise, 0 … 4294967295 (default 0).");
        var outFile = TextOption("--out", "The model file (default model.pt); the architecture goes to <file>.json.");
        var sigmaMin = TextOption("--sigma-min", "Lower end of the log-uniform training σ (default 0.01).");
        var sigmaMax = TextOption("--sigma-max", "Upper end of the log-uniform training σ (default 10).");
        var hidden = TextOption("--hidden", "Units per hidden layer (default 128).");
        var layers = TextOption("--layers", "Hidden layers (default 3).");
        var lr = TextOption("--lr", "Peak Adam learning rate, cosine-annealed to 1% (default 0.005).");
        var threads = TextOption("--threads", "torch threads (default 1: the model is then the same bits for a seed).");
        var quiet = QuietOption("No progress.");
        var command = new Command("train", "Fit a score MLP to a built-in target (denoising score matching) and save it for sample --model.")
        {
            target, steps, batchSize, seed, outFile, sigmaMin, sigmaMax, hidden, layers, lr, threads, quiet, channels, blocks,
        };
        // A run fails when training fails or the disk fails while writing (the weights and the sidecar are each whole
        // or absent).
        return WithAction(command, output, error, x => x is InvalidOperationException or IOException, run =>
        {
            var targetName = run.Text(target) ?? "ring8";
            if (targetName is "digits" or "digits-classifier")
            {
                foreach (var other in new[] { sigmaMin, sigmaMax, hidden, layers })
                    if (run.Parse.GetResult(other) is not null)
                        throw new UsageException($"{other.Name} does not apply to --target {targetName}");
                if (targetName == "digits-classifier")
                {
                    foreach (var other in new[] { batchSize, channels, blocks, lr, threads })
                        if (run.Parse.GetResult(other) is not null)
                            throw new UsageException($"{other.Name} does not apply to --target digits-classifier");
                    return DigitsTrain.RunClassifier(run.Int(steps, 3000, 1, 1_000_000), run.Seed(seed),
                        run.Text(outFile) ?? "digits-classifier.bin", run.Progress(quiet), run.Output);
                }
                var digits = new DigitsTrainRequest
                {
                    Steps = run.Int(steps, 5000, 1, 10_000_000),
                    BatchSize = run.Int(batchSize, 64, 1, 65_536),
                    Seed = run.Seed(seed),
                    Channels = run.Int(channels, 32, 1, DigitsArchitecture.MaxChannels),
                    Blocks = run.Int(blocks, 2, 0, DigitsArchitecture.MaxBlocks),
                    LearningRate = run.Positive(lr, 2e-3),
                    Threads = run.Int(threads, 1, 1, 1024),
                };
                return DigitsTrain.RunDenoiser(digits, run.Text(outFile) ?? "digits-denoiser.pt", run.Progress(quiet), run.Output);
            }
            if (run.Parse.GetResult(channels) is not null || run.Parse.GetResult(blocks) is not null)
                throw new UsageException("--channels and --blocks apply only to --target digits");
            var request = new TrainRequest
            {
                Target = SampleCommand.TargetByName(targetName),
                Steps = run.Int(steps, 3000, 1, 10_000_000),
                BatchSize = run.Int(batchSize, 512, 1, 1_000_000),
                Seed = run.Seed(seed),
                SigmaMin = run.Positive(sigmaMin, 0.01),
                SigmaMax = run.Positive(sigmaMax, 10.0),
                Hidden = run.Int(hidden, 128, 1, 65_536),
                Layers = run.Int(layers, 3, 1, 64),
                LearningRate = run.Positive(lr, 5e-3),
                Threads = run.Int(threads, 1, 1, 1024),
            };
            if (request.SigmaMin >= request.SigmaMax)
                throw new UsageException($"--sigma-min ({request.SigmaMin}) must be below --sigma-max ({request.SigmaMax})");
            var given = run.Text(outFile) ?? "model.pt";
            var name = Path.GetFileName(given);
            var path = OutputFolder.PrepareFile(given, "--out", name, MlpArchitecture.SidecarOf(name));
            return Execute(request, path, run.Progress(quiet), run.Output, run.Error);
        });
    }

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
}
