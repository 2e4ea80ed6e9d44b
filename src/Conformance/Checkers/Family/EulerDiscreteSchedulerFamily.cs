using Schedulers.Core;
using static TorchSharp.torch;

namespace Schedulers.Conformance.Checkers;

/// <summary><see cref="EulerDiscreteScheduler"/> as the family checker drives it: float32 timesteps, sigmas, the
/// churn keywords of <c>step</c> and custom <c>sigmas</c>/<c>timesteps</c> for <c>set_timesteps</c>.</summary>
public sealed class EulerDiscreteSchedulerFamily(EulerDiscreteScheduler s) : IFamilyScheduler
{
    /// <inheritdoc />
    public JsonValue? ConfigValue(string key) =>
        EulerConfig.Schema.AllKeys.Contains(key) ? EulerConfig.Schema.Get(key, s.Config) : null;

    /// <inheritdoc />
    public string ConfigText() => s.ConfigText();

    /// <inheritdoc />
    public void SetTimesteps(int numInferenceSteps) => s.SetTimesteps(numInferenceSteps);

    /// <inheritdoc />
    public void SetTimesteps(JsonValue setTimestepsKwargs)
    {
        foreach (var (key, value) in Golden.Members(setTimestepsKwargs, "set_timesteps_kwargs"))
        {
            var values = Golden.Items(value, key).Select(v => Golden.Number(v, key)).ToArray();
            switch (key)
            {
                case "sigmas": s.SetSigmas(values); break;
                case "timesteps": s.SetTimesteps(values.Select(v => (float)v).ToArray()); break;
                default: throw new InvalidOperationException($"set_timesteps_kwargs names '{key}', which EulerDiscreteScheduler.set_timesteps does not take");
            }
        }
    }

    /// <inheritdoc />
    public double[] Timesteps => s.Timesteps.Select(t => (double)t).ToArray();

    /// <inheritdoc />
    public float[]? Sigmas => s.Sigmas;

    /// <inheritdoc />
    public double InitNoiseSigma => s.InitNoiseSigma;

    /// <inheritdoc />
    public bool LearnedVariance => false;

    /// <inheritdoc />
    public Tensor ScaleModelInput(Tensor sample, double timestep) => s.ScaleModelInput(sample, (float)timestep);

    /// <inheritdoc />
    public (Tensor Prev, Tensor? Pred)? Step(Tensor modelOutput, double timestep, Tensor sample, JsonValue? kwargs, Generator? generator)
    {
        double churn = 0, tmin = 0, tmax = double.PositiveInfinity, noise = 1;
        foreach (var (key, value) in kwargs is null ? [] : Golden.Members(kwargs, "step_kwargs"))
        {
            switch (key)
            {
                case "s_churn": churn = Golden.Number(value, key); break;
                case "s_tmin": tmin = Golden.Number(value, key); break;
                case "s_tmax": tmax = Golden.Number(value, key); break;
                case "s_noise": noise = Golden.Number(value, key); break;
                default: return null;
            }
        }
        var r = s.Step(modelOutput, (float)timestep, sample, churn, tmin, tmax, noise, generator);
        return (r.PrevSample, r.PredOriginalSample);
    }

    /// <inheritdoc />
    public Tensor AddNoise(Tensor original, Tensor noise, long[] timesteps) =>
        s.AddNoise(original, noise, timesteps.Select(t => (float)t).ToArray());

    /// <inheritdoc />
    public Tensor? GetVelocity(Tensor sample, Tensor noise, long[] timesteps) =>
        s.GetVelocity(sample, noise, timesteps.Select(t => (float)t).ToArray());
}
