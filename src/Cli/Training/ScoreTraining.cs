using System.Diagnostics;
using Schedulers.Core;
using Schedulers.Evaluation;
using TorchSharp;
using static TorchSharp.torch;

namespace Schedulers.Cli.Training;

/// <summary>What <c>schedulers train</c> was asked to do.</summary>
public sealed record TrainRequest
{
    /// <summary>The built-in target whose exact draws are the data.</summary>
    public required GaussianMixture Target { get; init; }
    /// <summary>Optimiser steps.</summary>
    public int Steps { get; init; } = 3000;
    /// <summary>Data points per step.</summary>
    public int BatchSize { get; init; } = 512;
    /// <summary>Seed of the initialisation, the data key and the noise generator.</summary>
    public uint Seed { get; init; }
    /// <summary>Lower end of the log-uniform σ range.</summary>
    public double SigmaMin { get; init; } = 0.01;
    /// <summary>Upper end of the log-uniform σ range.</summary>
    public double SigmaMax { get; init; } = 10.0;
    /// <summary>Units per hidden layer.</summary>
    public int Hidden { get; init; } = 128;
    /// <summary>Hidden layers.</summary>
    public int Layers { get; init; } = 3;
    /// <summary>Peak learning rate of Adam (cosine-annealed to 1% of it).</summary>
    public double LearningRate { get; init; } = 5e-3;
    /// <summary>torch intra-op threads (1: the result is bit-reproducible for a seed).</summary>
    public int Threads { get; init; } = 1;
}

/// <summary>The trained network and how the loss went.</summary>
/// <param name="Model">The trained network (in evaluation mode).</param>
/// <param name="InitialLoss">The held-out loss (<see cref="ScoreTraining.HeldOutLoss"/>) before the first step.</param>
/// <param name="FinalLoss">The held-out loss after the last step.</param>
/// <param name="Losses">The training loss of every step (each on its own batch, so noisy).</param>
/// <param name="Elapsed">Wall time of the training.</param>
public sealed record TrainResult(ScoreMlp Model, double InitialLoss, double FinalLoss, double[] Losses, TimeSpan Elapsed);

/// <summary>Denoising score matching (Vincent 2011; Song &amp; Ermon 2019) of a <see cref="ScoreMlp"/> on exact draws
/// from a target: per step, x0 ~ target, σ log-uniform in [σ_min, σ_max], z ~ N(0, I), and the loss
/// E‖σ·s(x0 + σz, σ) + z‖² — the DSM objective ‖s − ∇ log p_σ(x | x0)‖² weighted by λ(σ) = σ², which for the
/// network's ε parameterisation (s = −ε̂/σ) is exactly the ε-prediction loss ‖ε̂ − z‖².</summary>
public static class ScoreTraining
{
    /// <summary>Points of the held-out set the reported initial and final losses are measured on.</summary>
    public const int HeldOutPoints = 4096;

    /// <summary>The loss E‖ε̂(x0 + σz, σ) − z‖² on a fixed set of <see cref="HeldOutPoints"/> triples (x0, σ, z) drawn
    /// apart from the training stream (data key fold_in(key(seed), 2³²−1), noise generator seed + 2³²), so that
    /// losses before and after training are compared on the same points, without the batch-to-batch noise of the
    /// training loss.</summary>
    public static double HeldOutLoss(ScoreMlp model, TrainRequest r)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var generator = new Generator((ulong)r.Seed + (1UL << 32));
        var x0 = Targets.sample(Prng.foldIn(uint.MaxValue, Prng.key(r.Seed)), HeldOutPoints, r.Target);
        var x0t = tensor(x0.Span.ToArray(), [HeldOutPoints, r.Target.Dimension], ScalarType.Float32);
        double logMin = Math.Log(r.SigmaMin), logMax = Math.Log(r.SigmaMax);
        var sigma = (rand([HeldOutPoints], generator: generator) * (logMax - logMin) + logMin).exp();
        var z = randn([HeldOutPoints, r.Target.Dimension], generator: generator);
        return (model.Epsilon(x0t + sigma.unsqueeze(1) * z, sigma) - z).square().sum(1).mean().item<float>();
    }

    /// <summary>σ_d of the preconditioning: √(trace Σ / D) of the target's covariance.</summary>
    public static double SigmaData(GaussianMixture target)
    {
        var cov = Targets.covariance(target);
        double trace = 0;
        for (int i = 0; i < cov.Length; i++) trace += cov[i][i];
        return Math.Sqrt(trace / cov.Length);
    }

    /// <summary>Trains a network. Data: <c>Targets.sample(fold_in(key(seed), step), batch)</c>; initialisation
    /// (<see cref="ScoreMlp.Initialise"/>), then σ and z per step: one torch CPU generator seeded with the seed. With one thread the
    /// weights are the same bits for the same request. <paramref name="onStep"/> gets (step, loss).</summary>
    public static TrainResult Train(TrainRequest r, Action<int, double>? onStep = null)
    {
        var clock = Stopwatch.StartNew();
        int previousThreads = torch.get_num_threads();
        torch.set_num_threads(r.Threads);
        try
        {
            var architecture = new MlpArchitecture
            {
                Dimension = r.Target.Dimension, Hidden = r.Hidden, Layers = r.Layers, SigmaData = SigmaData(r.Target),
                Target = r.Target.Name, SigmaMin = r.SigmaMin, SigmaMax = r.SigmaMax, Steps = r.Steps, Seed = r.Seed,
            };
            using var generator = new Generator((ulong)r.Seed);
            var model = new ScoreMlp(architecture);
            model.Initialise(generator);
            double initial = HeldOutLoss(model, r);
            model.train();
            using var optimizer = optim.Adam(model.parameters(), r.LearningRate);
            var schedule = optim.lr_scheduler.CosineAnnealingLR(optimizer, r.Steps, r.LearningRate / 100);
            var dataKey = Prng.key(r.Seed);
            double logMin = Math.Log(r.SigmaMin), logMax = Math.Log(r.SigmaMax);
            int d = r.Target.Dimension;
            var losses = new double[r.Steps];
            for (int step = 0; step < r.Steps; step++)
            {
                using var scope = NewDisposeScope();
                var x0 = Targets.sample(Prng.foldIn((uint)step, dataKey), r.BatchSize, r.Target);
                var x0t = tensor(x0.Span.ToArray(), [r.BatchSize, d], ScalarType.Float32);
                var sigma = (rand([r.BatchSize], generator: generator) * (logMax - logMin) + logMin).exp();
                var z = randn([r.BatchSize, d], generator: generator);
                var eps = model.Epsilon(x0t + sigma.unsqueeze(1) * z, sigma);
                var loss = (eps - z).square().sum(1).mean();
                optimizer.zero_grad();
                loss.backward();
                optimizer.step();
                schedule.step();
                losses[step] = loss.item<float>();
                if (!double.IsFinite(losses[step]))
                    throw new InvalidOperationException($"the loss became {losses[step]} at step {step}; lower the learning rate or narrow the σ range");
                onStep?.Invoke(step, losses[step]);
            }
            model.eval();
            return new TrainResult(model, initial, HeldOutLoss(model, r), losses, clock.Elapsed);
        }
        finally
        {
            torch.set_num_threads(previousThreads);
        }
    }

    /// <summary>Writes the weights (TorchSharp <c>module.save</c>) to <paramref name="path"/> and the architecture
    /// with the final loss, the weights' size and SHA-256 to its sidecar <c>&lt;path&gt;.json</c>. The old sidecar
    /// goes first and the new one is written last, each file whole (<see cref="AtomicFile"/>): the sidecar is the
    /// pair's manifest, so a sidecar never stands beside weights of another run, and a run killed midway leaves
    /// weights without a sidecar, which the loader refuses.</summary>
    public static void Save(TrainResult result, string path)
    {
        File.Delete(MlpArchitecture.SidecarOf(path));
        var weights = new MemoryStream();
        result.Model.save(weights);
        var bytes = weights.ToArray();
        AtomicFile.WriteAllBytes(path, bytes);
        (result.Model.Architecture with
        {
            FinalLoss = result.FinalLoss,
            WeightsBytes = bytes.LongLength,
            WeightsSha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes)),
        }).Save(path);
    }
}
