using System.Globalization;
using Schedulers.Cli.Training;
using Schedulers.Evaluation;

namespace Schedulers.Cli;

/// <summary><c>schedulers train --target digits</c> (the conv denoiser, <see cref="DigitsTraining"/>) and
/// <c>--target digits-classifier</c> (the quality measure's classifier, <see cref="ClassifierTraining"/>): the
/// training with a progress bar, the files written whole, the summary printed.</summary>
public static class DigitsTrain
{
    /// <summary>Trains the denoiser and writes <paramref name="given"/> and its sidecar; returns the exit code.</summary>
    public static int RunDenoiser(DigitsTrainRequest r, string given, bool progress, TextWriter output)
    {
        var path = OutputFolder.PrepareFile(given, "--out", Path.GetFileName(given), DigitsArchitecture.SidecarOf(Path.GetFileName(given)));
        var shape = new DigitsArchitecture { Channels = r.Channels, Blocks = r.Blocks };
        output.WriteLine(FormattableString.Invariant(
            $"train: digits ({Digits.load().Count} images), {r.Steps} steps × {r.BatchSize}, conv {r.Channels} channels × {r.Blocks} blocks ({shape.Parameters} parameters), EDM σ, EMA {r.EmaDecay}, seed {r.Seed}, {r.Threads} thread(s)"));
        DigitsTrainResult result;
        double running = double.NaN;
        using (var bar = new ProgressBar("training", r.Steps, progress))
            result = DigitsTraining.Train(r, (step, loss) =>
            {
                running = step == 0 ? loss : 0.98 * running + 0.02 * loss;
                bar.Advance(1);
            });
        DigitsArchitecture sidecar;
        using (result.Model)
            sidecar = DigitsTraining.Save(result, path);
        output.WriteLine(FormattableString.Invariant(
            $"held-out loss (every image once, fixed σ and z): initial {result.InitialLoss:F4}, final {result.FinalLoss:F4}; running training loss {running:F4}"));
        output.WriteLine(FormattableString.Invariant($"trained in {result.Elapsed.TotalSeconds:F1} s; wrote {path} ({sidecar.WeightsBytes} bytes, SHA-256 {sidecar.WeightsSha256[..12]}…) and {DigitsArchitecture.SidecarOf(path)}"));
        output.WriteLine($"use: schedulers sample --target digits --model {path}");
        return 0;
    }

    /// <summary>Trains the classifier and writes it to <paramref name="given"/>; returns the exit code.</summary>
    public static int RunClassifier(int steps, uint seed, string given, bool progress, TextWriter output)
    {
        var path = OutputFolder.PrepareFile(given, "--out", Path.GetFileName(given));
        output.WriteLine(FormattableString.Invariant($"train: digits classifier MLP 64-{string.Join('-', ClassifierTraining.Hidden)}-10, {steps} steps × 64, seed {seed}, 1 thread"));
        (DigitsClassifier Classifier, double HeldOutAccuracy) result;
        using (var bar = new ProgressBar("training", steps, progress))
            result = ClassifierTraining.Train(steps, seed, (_, _) => bar.Advance(1));
        AtomicFile.WriteAllBytes(path, DigitsClassifiers.toBytes(result.Classifier));
        var data = Digits.load();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"held-out accuracy {result.HeldOutAccuracy:P2} on {Digits.classifierHeldOut(data).Count} images (every fourth row); training accuracy {DigitsClassifiers.accuracy(result.Classifier, Digits.classifierTraining(data)):P2}"));
        output.WriteLine($"wrote {path}");
        return 0;
    }
}
