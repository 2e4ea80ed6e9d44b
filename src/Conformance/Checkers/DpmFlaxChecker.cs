using Schedulers.Core;

namespace Schedulers.Conformance.Checkers;

/// <summary>
/// Checks <c>dpm_flax.json</c>-shaped files with the core's Flax flavour (<see cref="DpmSolverMultistepFlax"/>):
/// per case the resolved config, the int32 timesteps and the whole loop <c>x, state ← step(state, x·t/(t+1), t, x)</c>.
/// A case that records the reference's error passes when the project's loop (torch semantics) ends finite.
/// </summary>
public sealed class DpmFlaxChecker : IGoldenChecker
{
    /// <inheritdoc />
    public bool Recognises(JsonValue root) => DpmGolden.Recognises(root, "flax");

    /// <inheritdoc />
    public IEnumerable<CaseResult> Check(JsonValue root) =>
        DpmGolden.EachCase(root,
            item => Golden.Field(item, "sigmas") is not null ? "the Flax flavour has no sigmas; a 'sigmas' field is not understood here" : null,
            CheckCase);

    private static void CheckCase(CaseChecker c, JsonValue item, NdArray sample)
    {
        var state = DpmSolverMultistepFlax.createState(DpmGolden.Config(item, c.Name));
        int n = (int)Golden.Number(Golden.Require(item, "num_inference_steps", c.Name), "num_inference_steps");
        if (Golden.Field(item, "config") is { } config) DpmGolden.CompareConfig(c, config, state.Config);
        var recorded = Golden.Field(item, "samples") is { } s ? Golden.Items(s, "samples") : Array.Empty<JsonValue>();
        state = DpmSolverMultistepFlax.setTimesteps(state, n, sample.Shape);
        if (Golden.Field(item, "timesteps") is { } ts)
            c.Compare("timesteps", GoldenArray.Parse(ts, "timesteps").Data, state.Timesteps.Select(t => (double)t).ToArray(), Tolerance.Exact);
        var x = sample;
        var timesteps = state.Timesteps;
        for (int k = 0; k < timesteps.Length; k++)
        {
            int t = timesteps[k];
            // The test model x·t/(t+1) in float32: two roundings, as jnp computes it.
            var m = NdArrayModule.create(x.Shape, x.ToArray().Select(v => v * t / (float)(t + 1)).ToArray());
            var r = DpmSolverMultistepFlax.step(state, m, t, x);
            x = r.PrevSample;
            state = r.State;
            if (k < recorded.Length) DpmGolden.CompareStep(c, $"samples[{k}]", recorded[k], x.ToArray());
        }
        if (Golden.Field(item, "error") is not null)
            DpmGolden.CheckFinite(sample.Shape, x.Shape, x.ToArray());
        else
            DpmGolden.CompareFinal(c, item, x.ToArray());
    }
}
