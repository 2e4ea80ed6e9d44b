using TorchSharp;
using static TorchSharp.torch;

namespace Schedulers.Pipelines;

/// <summary>
/// Each class of the compatible family as an <see cref="IPipelineScheduler"/>: the adapters a pipeline drives them
/// through (η = 0 for DDIM, no churn for Euler, order 4 for LMS: the pipelines' defaults). The adapter calls the
/// class's own methods, so a pipeline run moves the class's state exactly as the same calls made by hand.
/// </summary>
public static class PipelineSchedulers
{
    /// <summary><see cref="DDIMScheduler"/> (η = 0, deterministic).</summary>
    public static IPipelineScheduler For(DDIMScheduler scheduler)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        return new Adapter(
            "DDIMScheduler",
            scheduler.SetTimesteps,
            () => Doubles(scheduler.Timesteps),
            () => scheduler.InitNoiseSigma,
            1,
            scheduler.SetBeginIndex,
            (x, t) => scheduler.ScaleModelInput(x, Integer(t)),
            (m, t, x, g) => Keep(scheduler.Step(m, Integer(t), x, g), o => o.PrevSample, o => o.PredOriginalSample, m),
            (x, n, t) => scheduler.AddNoise(x, n, Batch(x, Integer(t))));
    }

    /// <summary><see cref="DDPMScheduler"/> (no <c>set_begin_index</c>, as in diffusers).</summary>
    public static IPipelineScheduler For(DDPMScheduler scheduler)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        return new Adapter(
            "DDPMScheduler",
            scheduler.SetTimesteps,
            () => Doubles(scheduler.Timesteps),
            () => scheduler.InitNoiseSigma,
            1,
            null,
            (x, t) => scheduler.ScaleModelInput(x, Integer(t)),
            (m, t, x, g) => Keep(scheduler.Step(m, Integer(t), x, g), o => o.PrevSample, o => o.PredOriginalSample, m),
            (x, n, t) => scheduler.AddNoise(x, n, Batch(x, Integer(t))));
    }

    /// <summary><see cref="PNDMScheduler"/> (no <c>set_begin_index</c>, as in diffusers).</summary>
    public static IPipelineScheduler For(PNDMScheduler scheduler)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        return new Adapter(
            "PNDMScheduler",
            scheduler.SetTimesteps,
            () => Doubles(scheduler.Timesteps),
            () => scheduler.InitNoiseSigma,
            1,
            null,
            (x, t) => scheduler.ScaleModelInput(x, Integer(t)),
            (m, t, x, _) => scheduler.Step(m, Integer(t), x).PrevSample,
            (x, n, t) => scheduler.AddNoise(x, n, Batch(x, Integer(t))));
    }

    /// <summary><see cref="LMSDiscreteScheduler"/> (order 4).</summary>
    public static IPipelineScheduler For(LMSDiscreteScheduler scheduler)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        return new Adapter(
            "LMSDiscreteScheduler",
            scheduler.SetTimesteps,
            () => Doubles(scheduler.Timesteps),
            () => scheduler.InitNoiseSigma,
            1,
            i => scheduler.SetBeginIndex(i),
            (x, t) => scheduler.ScaleModelInput(x, (float)t),
            (m, t, x, _) => Keep(scheduler.Step(m, (float)t, x), o => o.PrevSample, o => o.PredOriginalSample, m),
            (x, n, t) => scheduler.AddNoise(x, n, Batch(x, (float)t)));
    }

    /// <summary><see cref="EulerDiscreteScheduler"/> (no churn).</summary>
    public static IPipelineScheduler For(EulerDiscreteScheduler scheduler)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        return new Adapter(
            "EulerDiscreteScheduler",
            scheduler.SetTimesteps,
            () => Doubles(scheduler.Timesteps),
            () => scheduler.InitNoiseSigma,
            1,
            i => scheduler.SetBeginIndex(i),
            (x, t) => scheduler.ScaleModelInput(x, (float)t),
            (m, t, x, g) => Keep(scheduler.Step(m, (float)t, x, g), o => o.PrevSample, o => o.PredOriginalSample, m),
            (x, n, t) => scheduler.AddNoise(x, n, Batch(x, (float)t)));
    }

    /// <summary><see cref="DPMSolverMultistepScheduler"/> (its SDE variants draw from the generator).</summary>
    public static IPipelineScheduler For(DPMSolverMultistepScheduler scheduler)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        return new Adapter(
            "DPMSolverMultistepScheduler",
            n => scheduler.SetTimesteps(n),
            () =>
            {
                using var t = scheduler.Timesteps;
                return Doubles(t.to(CPU).data<long>().ToArray());
            },
            () => scheduler.InitNoiseSigma,
            scheduler.Order,
            i => scheduler.SetBeginIndex(i),
            (x, t) => scheduler.ScaleModelInput(x, Integer(t)),
            (m, t, x, g) => scheduler.Step(m, Integer(t), x, g).PrevSample,
            (x, n, t) =>
            {
                using var ts = tensor(Batch(x, Integer(t)), ScalarType.Int64);
                return scheduler.AddNoise(x, n, ts);
            });
    }

    private static double[] Doubles(long[] values) => values.Select(v => (double)v).ToArray();

    private static double[] Doubles(float[] values) => values.Select(v => (double)v).ToArray();

    /// <summary>An integer timestep from the pipeline's double (exact: it came from the class's int64 table).</summary>
    private static long Integer(double t)
    {
        if (double.IsNaN(t) || Math.Floor(t) != t || Math.Abs(t) > 1e15)
            throw new ArgumentException($"timestep {t} is not an integer timestep of this scheduler", "timestep");
        return (long)t;
    }

    /// <summary>One timestep per batch element (the first dimension; one for a 0-d sample).</summary>
    private static T[] Batch<T>(Tensor x, T t) => Enumerable.Repeat(t, x.dim() == 0 ? 1 : checked((int)x.shape[0])).ToArray();

    /// <summary>The previous sample of an output, the output's other tensors released (never the caller's
    /// <paramref name="modelOutput"/>, which an output may return as its prediction).</summary>
    private static Tensor Keep<TOutput>(TOutput output, Func<TOutput, Tensor> prev, Func<TOutput, Tensor> other, Tensor modelOutput)
    {
        var p = prev(output);
        var o = other(output);
        if (!ReferenceEquals(o, p) && !ReferenceEquals(o, modelOutput)) o.Dispose();
        return p;
    }

    private sealed class Adapter(
        string className,
        Action<int> setTimesteps,
        Func<double[]> timesteps,
        Func<double> initNoiseSigma,
        int order,
        Action<int>? setBeginIndex,
        Func<Tensor, double, Tensor> scale,
        Func<Tensor, double, Tensor, NoiseSource, Tensor> step,
        Func<Tensor, Tensor, double, Tensor> addNoise) : IPipelineScheduler
    {
        public string ClassName => className;

        public void SetTimesteps(int numInferenceSteps) => setTimesteps(numInferenceSteps);

        public IReadOnlyList<double> Timesteps => timesteps();

        public double InitNoiseSigma => initNoiseSigma();

        public int Order => order;

        public bool HasBeginIndex => setBeginIndex is not null;

        public void SetBeginIndex(int beginIndex) => setBeginIndex?.Invoke(beginIndex);

        public Tensor ScaleModelInput(Tensor sample, double timestep)
        {
            ArgumentNullException.ThrowIfNull(sample);
            return scale(sample, timestep);
        }

        public Tensor Step(Tensor modelOutput, double timestep, Tensor sample, NoiseSource noise)
        {
            ArgumentNullException.ThrowIfNull(modelOutput);
            ArgumentNullException.ThrowIfNull(sample);
            ArgumentNullException.ThrowIfNull(noise);
            return step(modelOutput, timestep, sample, noise);
        }

        public Tensor AddNoise(Tensor originalSamples, Tensor noise, double timestep)
        {
            ArgumentNullException.ThrowIfNull(originalSamples);
            ArgumentNullException.ThrowIfNull(noise);
            return addNoise(originalSamples, noise, timestep);
        }

        public override string ToString() => className;
    }
}
