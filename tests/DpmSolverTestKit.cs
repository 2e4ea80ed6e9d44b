using Schedulers.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Schedulers.Tests;

/// <summary>diffusers' DPM-Solver test fixtures: the test config, dummy_sample_deter / dummy_noise_deter, the model x·t/(t+1) and full_loop.</summary>
internal static class DpmSolverTestKit
{
    /// <summary>The config of test_scheduler_dpm_multi.py (lower_order_final False, final_sigmas_type sigma_min) plus overrides.</summary>
    public static DPMSolverMultistepScheduler Scheduler(params (string Key, object? Value)[] overrides)
    {
        var pairs = new List<KeyValuePair<string, object?>>
        {
            new("num_train_timesteps", 1000), new("beta_start", 0.0001), new("beta_end", 0.02), new("beta_schedule", "linear"),
            new("solver_order", 2), new("prediction_type", "epsilon"), new("thresholding", false), new("sample_max_value", 1.0),
            new("algorithm_type", "dpmsolver++"), new("solver_type", "midpoint"), new("lower_order_final", false),
            new("euler_at_final", false), new("lambda_min_clipped", double.NegativeInfinity), new("variance_type", null),
            new("final_sigmas_type", "sigma_min"),
        };
        pairs.AddRange(overrides.Select(o => new KeyValuePair<string, object?>(o.Key, o.Value)));
        return new DPMSolverMultistepScheduler(pairs);
    }

    /// <summary>dummy_sample_deter (reversed: dummy_noise_deter), shape (4, 3, 8, 8).</summary>
    public static Tensor Deter(bool reversed = false)
    {
        var data = new float[768];
        for (int b = 0; b < 4; b++)
        for (int c = 0; c < 3; c++)
        for (int h = 0; h < 8; h++)
        for (int w = 0; w < 8; w++)
        {
            int k = ((c * 8 + h) * 8 + w) * 4 + b;
            data[((b * 3 + c) * 8 + h) * 8 + w] = (reversed ? 767 - k : k) / 768f;
        }
        return tensor(data, new long[] { 4, 3, 8, 8 }, ScalarType.Float32);
    }

    /// <summary>The test model x·t/(t+1).</summary>
    public static Tensor Model(Tensor x, long t) => x.mul((float)t).div((float)(t + 1));

    /// <summary>full_loop: set_timesteps(10), x = dummy_sample_deter, one manual_seed(0) generator, every timestep.</summary>
    public static Tensor FullLoop(DPMSolverMultistepScheduler scheduler, int steps = 10)
    {
        scheduler.SetTimesteps(steps);
        var generator = new torch.Generator(0);
        var x = Deter();
        foreach (var t in scheduler.State.Timesteps) x = scheduler.Step(Model(x, t), t, x, generator).PrevSample;
        return x;
    }

    /// <summary>mean |x| as a double.</summary>
    public static double MeanAbs(Tensor x) => x.abs().mean().to(ScalarType.Float64).item<double>();

    /// <summary>Σ |x| as a double.</summary>
    public static double SumAbs(Tensor x) => x.abs().sum().to(ScalarType.Float64).item<double>();
}
