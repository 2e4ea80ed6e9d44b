using Schedulers.Core;
using static TorchSharp.torch;

namespace Schedulers.Conformance.Checkers;

/// <summary><see cref="PNDMScheduler"/> as the family checker drives it: no step arguments, no sigmas, no
/// <c>get_velocity</c> (diffusers' class has none).</summary>
internal sealed class PNDMSchedulerFamily(PNDMScheduler s) : IFamilyScheduler
{
    public JsonValue? ConfigValue(string key) =>
        PndmConfig.Schema.AllKeys.Contains(key) ? PndmConfig.Schema.Get(key, s.Config) : null;
    public string ConfigText() => s.ConfigText();
    public void SetTimesteps(int n) => s.SetTimesteps(n);
    public double[] Timesteps => s.Timesteps.Select(t => (double)t).ToArray();
    public float[]? Sigmas => null;
    public double InitNoiseSigma => s.InitNoiseSigma;
    public bool LearnedVariance => false;
    public Tensor ScaleModelInput(Tensor sample, double timestep) => s.ScaleModelInput(sample, (long)timestep);

    public (Tensor Prev, Tensor? Pred)? Step(Tensor modelOutput, double timestep, Tensor sample, JsonValue? kwargs, Generator? generator)
    {
        if (kwargs is not null && Golden.Members(kwargs, "step_kwargs").Length > 0) return null;
        return (s.Step(modelOutput, (long)timestep, sample).PrevSample, null);
    }

    public Tensor AddNoise(Tensor original, Tensor noise, long[] timesteps) => s.AddNoise(original, noise, timesteps);
    public Tensor? GetVelocity(Tensor sample, Tensor noise, long[] timesteps) => null;
}
