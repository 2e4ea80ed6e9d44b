using Microsoft.FSharp.Core;
using Schedulers.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Schedulers.Tests;

/// <summary>One ScoreSdeVe test body, two backends: the core on <see cref="NdArray"/> and the shell on TorchSharp CPU
/// tensors. Both draw the Flax scheduler's noise from JAX keys so their numbers can be compared.</summary>
public interface IScoreSdeVeBackend
{
    /// <summary>The backend's name in test output.</summary>
    string Name { get; }

    /// <summary>Starts a torch-flavoured scheduler and runs <c>set_timesteps(n)</c>, then <c>set_sigmas(n)</c>.</summary>
    void Schedule(ScoreSdeVeConfig config, int n);

    /// <summary>The current timesteps and sigmas.</summary>
    (float[] Timesteps, float[] Sigmas) Tables();

    /// <summary><c>step_pred</c> with noise <c>normal(split(key, 1)[0])</c>: (prev_sample, prev_sample_mean).</summary>
    (float[] Prev, float[] Mean) StepPred(float[] modelOutput, float timestep, float[] sample, int[] shape, PrngKey key);

    /// <summary><c>step_correct</c> with noise <c>normal(split(key, 1)[0])</c>.</summary>
    float[] StepCorrect(float[] modelOutput, float[] sample, int[] shape, PrngKey key);

    /// <summary>The predictor–corrector loop from <paramref name="sample"/> with the key discipline <c>key, sub = split(key)</c>
    /// and the model <c>x·σ/(σ + 1)</c>: each iteration's prev_sample, then the final prev_sample_mean.</summary>
    (List<float[]> Samples, float[] Result) Loop(ScoreSdeVeConfig config, int n, float[] sample, int[] shape, PrngKey key);
}

/// <summary>The core backend: <see cref="ScoreSdeVe"/> on <see cref="NdArray"/> with <see cref="NdArrayBackend"/>.</summary>
public sealed class CoreBackend : IScoreSdeVeBackend
{
    private ScoreSdeVeConfig _config = ScoreSdeVe.defaults;
    private ScoreSdeVeState _state = ScoreSdeVe.empty;

    public string Name => "core";

    public override string ToString() => Name;

    public void Schedule(ScoreSdeVeConfig config, int n)
    {
        _config = config;
        _state = ScoreSdeVe.setSigmasWith(config, n, null, null, null,
            ScoreSdeVe.setTimestepsWith(config, n, null, ScoreSdeVe.createStateWith(Flavour.Torch, config)));
    }

    public (float[] Timesteps, float[] Sigmas) Tables() => (_state.Timesteps!.Value, _state.Sigmas!.Value);

    public (float[] Prev, float[] Mean) StepPred(float[] modelOutput, float timestep, float[] sample, int[] shape, PrngKey key)
    {
        var output = ScoreSdeVe.stepPredOn(NdArrayBackend.Default, _state, NdArrayModule.create(shape, modelOutput), timestep, NdArrayModule.create(shape, sample), ScoreSdeVe.flaxNoiseKey(key));
        return (output.PrevSample.ToArray(), output.PrevSampleMean!.Value.ToArray());
    }

    public float[] StepCorrect(float[] modelOutput, float[] sample, int[] shape, PrngKey key) =>
        ScoreSdeVe.stepCorrectOn(NdArrayBackend.Default, _config, _state, NdArrayModule.create(shape, modelOutput), NdArrayModule.create(shape, sample), ScoreSdeVe.flaxNoiseKey(key))
            .PrevSample.ToArray();

    public (List<float[]> Samples, float[] Result) Loop(ScoreSdeVeConfig config, int n, float[] sample, int[] shape, PrngKey key)
    {
        var samples = new List<float[]>();
        var model = FuncConvert.FromFunc<NdArray, float, NdArray>((x, sigma) =>
            NdArrayBackend.DivideArray(NdArrayBackend.CombineArrays(new[] { (Coef.NewScalar(sigma), x) }), Coef.NewScalar(sigma + 1f)));
        var onStep = FuncConvert.FromAction<StepProgress<ScoreSdeVeOutput<NdArray>>>(p => samples.Add(p.Output.PrevSample.ToArray()));
        var next = FuncConvert.FromFunc<PrngKey, ValueTuple<PrngKey, PrngKey>>(k => PredictorCorrector.nextKey(k));
        var result = PredictorCorrector.runFromOn(NdArrayBackend.Default, Flavour.Torch, config, n, model, next,
            onStep, NdArrayModule.create(shape, sample), key);
        return (samples, result.Sample.ToArray());
    }
}

/// <summary>The shell backend: <see cref="ScoreSdeVeScheduler"/> and <see cref="Pipelines.ScoreSdeVePipeline"/> on CPU tensors.</summary>
public sealed class TorchCpuBackend : IScoreSdeVeBackend
{
    private ScoreSdeVeScheduler _scheduler = new();

    public string Name => "torch-cpu";

    public override string ToString() => Name;

    private static Tensor T(float[] data, int[] shape) => tensor(data, shape.Select(d => (long)d).ToArray(), ScalarType.Float32);

    private static float[] V(Tensor t) => t.data<float>().ToArray();

    public void Schedule(ScoreSdeVeConfig config, int n)
    {
        _scheduler = new ScoreSdeVeScheduler(config);
        _scheduler.SetTimesteps(n);
        _scheduler.SetSigmas(n);
    }

    public (float[] Timesteps, float[] Sigmas) Tables()
    {
        using var t = _scheduler.Timesteps!;
        using var s = _scheduler.Sigmas!;
        return (V(t), V(s));
    }

    public (float[] Prev, float[] Mean) StepPred(float[] modelOutput, float timestep, float[] sample, int[] shape, PrngKey key)
    {
        using var scope = NewDisposeScope();
        var output = _scheduler.StepPred(T(modelOutput, shape), timestep, T(sample, shape), key);
        return (V(output.PrevSample), V(output.PrevSampleMean));
    }

    public float[] StepCorrect(float[] modelOutput, float[] sample, int[] shape, PrngKey key)
    {
        using var scope = NewDisposeScope();
        return V(_scheduler.StepCorrect(T(modelOutput, shape), T(sample, shape), key).PrevSample);
    }

    public (List<float[]> Samples, float[] Result) Loop(ScoreSdeVeConfig config, int n, float[] sample, int[] shape, PrngKey key)
    {
        using var scope = NewDisposeScope();
        var samples = new List<float[]>();
        var pipeline = new Pipelines.ScoreSdeVePipeline((x, sigma) => x.mul(sigma.reshape(-1, 1, 1, 1)).div(sigma.reshape(-1, 1, 1, 1).add(1f)), new ScoreSdeVeScheduler(config));
        var output = pipeline.CallFrom(T(sample, shape), n, key, p => samples.Add(V(p.Output.PrevSample)));
        return (samples, V(output.Sample));
    }
}
