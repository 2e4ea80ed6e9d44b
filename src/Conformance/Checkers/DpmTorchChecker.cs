using Schedulers.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Schedulers.Conformance.Checkers;

/// <summary>
/// Checks <c>dpm_torch.json</c>-shaped files with the C# <see cref="DPMSolverMultistepScheduler"/> on TorchSharp CPU:
/// per case the resolved config, timesteps, sigmas and the whole loop <c>x ← step(x·t/(t+1), t, x)</c> with one
/// <c>torch.manual_seed(0)</c> generator; and the <c>add_noise</c> case.
/// </summary>
public sealed class DpmTorchChecker : IGoldenChecker
{
    /// <inheritdoc />
    public bool Recognises(JsonValue root) => DpmGolden.Recognises(root, "torch");

    /// <inheritdoc />
    public IEnumerable<CaseResult> Check(JsonValue root)
    {
        foreach (var result in DpmGolden.EachCase(root, _ => null, CheckCase)) yield return result;
        if (Golden.Field(root, "add_noise") is { } addNoise)
        {
            var unknown = Golden.Members(addNoise, "add_noise").Select(m => m.Key)
                .FirstOrDefault(k => k is not ("noise_seed" or "timesteps" or "noise" or "noisy"));
            yield return unknown is null
                ? CaseChecker.Run("add_noise", c => CheckAddNoise(c, addNoise, DpmGolden.Sample(root)))
                : CaseResult.Skip("add_noise", $"field '{unknown}' is not understood by this runner");
        }
    }

    /// <summary>diffusers' test model <c>x·t/(t+1)</c> (float32, two roundings); learned_range doubles the channels.</summary>
    private static Tensor Model(Tensor x, long t, bool learned)
    {
        var m = x.mul((float)t).div((float)(t + 1));
        if (!learned) return m;
        using (m)
        using (var half = m.mul(0.5f))
        {
            return cat(new[] { m, half }, 1);
        }
    }

    private static void CheckCase(CaseChecker c, JsonValue item, NdArray sample)
    {
        var scheduler = new DPMSolverMultistepScheduler(DpmGolden.Config(item, c.Name));
        int n = (int)Golden.Number(Golden.Require(item, "num_inference_steps", c.Name), "num_inference_steps");
        scheduler.SetTimesteps(n);
        if (Golden.Field(item, "config") is { } config) DpmGolden.CompareConfig(c, config, scheduler.Config);
        if (Golden.Field(item, "timesteps") is { } ts)
            c.Compare("timesteps", GoldenArray.Parse(ts, "timesteps").Data, scheduler.State.Timesteps.Select(t => (double)t).ToArray(), Tolerance.Exact);
        if (Golden.Field(item, "sigmas") is { } sg)
            c.Compare("sigmas", GoldenArray.Parse(sg, "sigmas"), scheduler.State.Sigmas, Tolerance.Schedule);
        var recorded = Golden.Field(item, "samples") is { } s ? Golden.Items(s, "samples") : Array.Empty<JsonValue>();
        using var scope = NewDisposeScope();
        var generator = new torch.Generator(0);
        var x = torch.tensor(sample.ToArray(), sample.Shape.Select(d => (long)d).ToArray(), ScalarType.Float32);
        bool learned = scheduler.Config.VarianceType.PredictsVariance;
        var timesteps = scheduler.State.Timesteps;
        for (int k = 0; k < timesteps.Length; k++)
        {
            x = scheduler.Step(Model(x, timesteps[k], learned), timesteps[k], x, generator).PrevSample;
            if (k < recorded.Length) DpmGolden.CompareStep(c, $"samples[{k}]", recorded[k], x.data<float>().ToArray());
        }
        var final = x.data<float>().ToArray();
        if (Golden.Field(item, "error") is not null)
            DpmGolden.CheckFinite(sample.Shape, x.shape.Select(d => (int)d).ToArray(), final);
        else
            DpmGolden.CompareFinal(c, item, final);
    }

    private static void CheckAddNoise(CaseChecker c, JsonValue addNoise, NdArray sample)
    {
        using var scope = NewDisposeScope();
        var scheduler = new DPMSolverMultistepScheduler();
        var noise = GoldenArray.Parse(Golden.Require(addNoise, "noise", "add_noise"), "noise");
        var timesteps = Golden.Items(Golden.Require(addNoise, "timesteps", "add_noise"), "timesteps")
            .Select(v => (long)Golden.Number(v, "timesteps")).ToArray();
        var x = torch.tensor(sample.ToArray(), sample.Shape.Select(d => (long)d).ToArray(), ScalarType.Float32);
        var z = torch.tensor(noise.ToFloat32(), noise.Shape.Select(d => (long)d).ToArray(), ScalarType.Float32);
        var noisy = scheduler.AddNoise(x, z, torch.tensor(timesteps, ScalarType.Int64));
        c.Compare("noisy", GoldenArray.Parse(Golden.Require(addNoise, "noisy", "add_noise"), "noisy"), noisy.data<float>().ToArray(), Tolerance.Step);
    }
}
