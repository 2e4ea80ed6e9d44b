using Schedulers.Core;
using static TorchSharp.torch;

namespace Schedulers.Conformance.Checkers;

/// <summary><see cref="LMSDiscreteScheduler"/> as the family checker drives it: float32 timesteps, sigmas, and the
/// <c>order</c> step argument.</summary>
internal sealed class LMSDiscreteSchedulerFamily(LMSDiscreteScheduler s) : IFamilyScheduler
{
    public JsonValue? ConfigValue(string key) =>
        LmsConfig.Schema.AllKeys.Contains(key) ? LmsConfig.Schema.Get(key, s.Config) : null;
    public string ConfigText() => s.ConfigText();
    public void SetTimesteps(int n) => s.SetTimesteps(n);
    public double[] Timesteps => s.Timesteps.Select(t => (double)t).ToArray();
    public float[]? Sigmas => s.Sigmas;
    public double InitNoiseSigma => s.InitNoiseSigma;
    public bool LearnedVariance => false;
    public Tensor ScaleModelInput(Tensor sample, double timestep) => s.ScaleModelInput(sample, (float)timestep);

    public (Tensor Prev, Tensor? Pred)? Step(Tensor modelOutput, double timestep, Tensor sample, JsonValue? kwargs, Generator? generator)
    {
        int order = 4;
        foreach (var (key, value) in kwargs is null ? [] : Golden.Members(kwargs, "step_kwargs"))
        {
            switch (key)
            {
                case "order": order = (int)Golden.Number(value, key); break;
                default: return null;
            }
        }
        var r = s.Step(modelOutput, (float)timestep, sample, order);
        return (r.PrevSample, r.PredOriginalSample);
    }

    public Tensor AddNoise(Tensor original, Tensor noise, long[] timesteps) =>
        s.AddNoise(original, noise, timesteps.Select(t => (float)t).ToArray());

    public Tensor? GetVelocity(Tensor sample, Tensor noise, long[] timesteps) => null;
}
