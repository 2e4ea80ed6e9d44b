using Schedulers.Evaluation;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Schedulers.Cli.Training;

/// <summary>Trains the fixed classifier of the digits quality measure (<see cref="DigitsClassifier"/>): an MLP
/// 64 → 128 → 64 → 10 with ReLU, on the classifier's training rows (<c>Digits.classifierTraining</c>, three rows in
/// four), by Adam on the cross-entropy with minibatches of 64, and small Gaussian noise (std 0.1) on the inputs so
/// that its features vary smoothly off the data (generated images are never exactly real ones). The result is
/// exported to the library's own format and evaluated there (plain F#), as the metric will use it.</summary>
public static class ClassifierTraining
{
    /// <summary>The hidden widths; the last is the feature dimension.</summary>
    public static readonly int[] Hidden = [128, 64];

    /// <summary>Trains with <paramref name="steps"/> Adam steps from <paramref name="seed"/> on one torch thread (the
    /// result is then the same bits for a seed on one libtorch build); returns the classifier and its held-out
    /// accuracy. <paramref name="onStep"/> gets (step, loss).</summary>
    public static (DigitsClassifier Classifier, double HeldOutAccuracy) Train(int steps, uint seed, Action<int, double>? onStep = null)
    {
        int previousThreads = torch.get_num_threads();
        torch.set_num_threads(1);
        try
        {
            var data = Digits.load();
            var training = Digits.classifierTraining(data);
            using var generator = new Generator((ulong)seed);
            var widths = new[] { Digits.Pixels }.Concat(Hidden).Append(Digits.Classes).ToArray();
            var linears = Enumerable.Range(0, widths.Length - 1).Select(i => Linear(widths[i], widths[i + 1])).ToArray();
            using (no_grad())
            {
                foreach (var l in linears)
                {
                    double bound = 1.0 / Math.Sqrt(l.in_features);
                    l.weight!.copy_(rand(l.weight!.shape, generator: generator) * (2 * bound) - bound);
                    l.bias!.copy_(rand(l.bias!.shape, generator: generator) * (2 * bound) - bound);
                }
            }
            var parameters = linears.SelectMany(l => l.parameters()).ToList();
            using var optimizer = optim.Adam(parameters, 1e-3, weight_decay: 1e-4);
            using var x = tensor(training.Images.ToArray(), [training.Count, Digits.Pixels], ScalarType.Float32);
            using var y = tensor(training.Labels.Select(l => (long)l).ToArray(), [training.Count], ScalarType.Int64);
            for (int step = 0; step < steps; step++)
            {
                using var scope = NewDisposeScope();
                var rows = randint(0, training.Count, [64], generator: generator);
                var h = x.index_select(0, rows) + 0.1 * randn([64, Digits.Pixels], generator: generator);
                for (int i = 0; i < linears.Length; i++)
                {
                    h = linears[i].forward(h);
                    if (i < linears.Length - 1) h = functional.relu(h);
                }
                var loss = functional.cross_entropy(h, y.index_select(0, rows));
                optimizer.zero_grad();
                loss.backward();
                optimizer.step();
                onStep?.Invoke(step, loss.item<float>());
            }
            var classifier = new DigitsClassifier(linears.Select(l => new DenseLayer(
                (int)l.in_features, (int)l.out_features,
                l.weight!.contiguous().data<float>().ToArray(), l.bias!.contiguous().data<float>().ToArray())).ToArray());
            foreach (var l in linears) l.Dispose();
            return (classifier, DigitsClassifiers.accuracy(classifier, Digits.classifierHeldOut(data)));
        }
        finally
        {
            torch.set_num_threads(previousThreads);
        }
    }
}
