using Schedulers.Core;
using static TorchSharp.torch;

namespace Schedulers.Conformance.Checkers;

/// <summary><see cref="DDPMScheduler"/> as the family checker drives it: no step arguments besides the generator; a
/// learned variance type asks the model for twice the channels.</summary>
internal sealed class DDPMSchedulerFamily(DDPMScheduler s) : IFamilyScheduler
{
    public JsonValue? ConfigValue(string key) =>
        DdpmConfig.Schema.AllKeys.Contains(key) ? DdpmConfig.Schema.Get(key, s.Config) : null;
    public string ConfigText() => s.ConfigText();
    public void SetTimesteps(int n) => s.SetTimesteps(n);
    public double[] Timesteps => s.Timesteps.Select(t => (double)t).ToArray();
    public float[]? Sigmas => null;
    public double InitNoiseSigma => s.InitNoiseSigma;
    public bool LearnedVariance => s.Config.VarianceType.PredictsVariance;
    public Tensor ScaleModelInput(Tensor sample, double timestep) => s.ScaleModelInput(sample, (long)timestep);

    public (Tensor Prev, Tensor? Pred)? Step(Tensor modelOutput, double timestep, Tensor sample, JsonValue? kwargs, Generator? generator)
    {
        if (kwargs is not null && Golden.Members(kwargs, "step_kwargs").Any()) return null;
        var r = s.Step(modelOutput, (long)timestep, sample, generator);
        return (r.PrevSample, r.PredOriginalSample);
    }

    public Tensor AddNoise(Tensor original, Tensor noise, long[] timesteps) => s.AddNoise(original, noise, timesteps);
    public Tensor? GetVelocity(Tensor sample, Tensor noise, long[] timesteps) => s.GetVelocity(sample, noise, timesteps);
}
