using Schedulers.Conformance;
using Schedulers.Conformance.Checkers;
using Schedulers.Core;

namespace Schedulers.Tests;

/// <summary>
/// Every Flax-flavour schedule array the reference data records is reproduced bit for bit — stricter than the
/// conformance tolerance (rtol 1e-6): JAX's `linspace`, `log`, `exp` and `pow` as XLA:CPU computes them
/// (<see cref="XlaMath"/>, <c>Schedules.jnpLinspace</c>). ScoreSdeVe's `σ_t² − σ_{t−1}²` amplifies an ulp of a
/// discrete sigma about a hundredfold, so the schedules must be exact for its steps to stay within tolerance.
/// </summary>
public class FlaxScheduleBitExactTests
{
    private static int Mismatches(JsonValue expected, float[] actual, List<string> where, string name)
    {
        var e = GoldenArray.Parse(expected, name).ToFloat32();
        Assert.Equal(e.Length, actual.Length);
        int bad = 0;
        for (int i = 0; i < e.Length; i++)
        {
            if (BitConverter.SingleToUInt32Bits(e[i]) == BitConverter.SingleToUInt32Bits(actual[i])) continue;
            if (bad++ < 5) where.Add($"{name}[{i}]: expected {e[i]:R} (0x{BitConverter.SingleToUInt32Bits(e[i]):x8}), actual {actual[i]:R} (0x{BitConverter.SingleToUInt32Bits(actual[i]):x8})");
        }
        return bad;
    }

    private static int CompareSdeVeState(JsonValue expected, ScoreSdeVeState state, List<string> where, string name)
    {
        int bad = 0, compared = 0;
        foreach (var (field, actual) in new[] { ("timesteps", state.Timesteps), ("discrete_sigmas", state.DiscreteSigmas), ("sigmas", state.Sigmas) })
        {
            if (Golden.Field(expected, field) is not { } e) continue;
            compared++;
            bad += Mismatches(e, actual!.Value, where, $"{name}.{field}");
        }
        Assert.True(compared > 0, $"{name}: no schedule array recorded");
        return bad;
    }

    [Fact]
    public void Score_sde_ve_flax_timesteps_sigmas_and_discrete_sigmas_are_bit_exact()
    {
        var root = Golden.Load(TestData.Golden("sde_ve_flax"));
        var where = new List<string>();
        int bad = 0, arrays = 0;
        var cases = Golden.Items(Golden.Require(root, "cases", "root"), "cases");
        for (int c = 0; c < cases.Length; c++)
        {
            var config = SdeVeGolden.ParseConfig(Golden.Require(cases[c], "config", "case"));
            if (Golden.Field(cases[c], "create_state") is { } created)
            {
                bad += CompareSdeVeState(created, ScoreSdeVe.createState(config), where, $"cases[{c}].create_state");
                arrays++;
            }
            foreach (var run in Golden.Items(Golden.Require(cases[c], "runs", "case"), "runs"))
            {
                int n = (int)Golden.Number(Golden.Require(run, "num_inference_steps", "run"), "run");
                var state = ScoreSdeVe.setSigmas(config, n, ScoreSdeVe.setTimesteps(config, n, ScoreSdeVe.createState(config)));
                bad += CompareSdeVeState(run, state, where, $"cases[{c}].runs(n={n})");
                arrays++;
            }
        }
        Assert.True(arrays >= 10, $"only {arrays} schedules recorded");
        Assert.True(bad == 0, $"{bad} elements differ from JAX:\n" + string.Join("\n", where));
    }

    [Fact]
    public void Karras_ve_flax_schedules_are_bit_exact()
    {
        var root = Golden.Load(TestData.Golden("karras_ve_flax"));
        var where = new List<string>();
        int bad = 0, arrays = 0;
        foreach (var kase in Golden.Items(Golden.Require(root, "cases", "root"), "cases"))
        {
            var d = KarrasVe.defaults;
            var cfg = Golden.Field(kase, "config");
            double Get(string key, double fallback) =>
                cfg is not null && Golden.Field(cfg, key) is { } v ? Golden.Number(v, key) : fallback;
            var config = new KarrasVeConfig(Get("sigma_min", d.SigmaMin), Get("sigma_max", d.SigmaMax), d.SNoise, d.SChurn, d.SMin, d.SMax);
            foreach (var run in Golden.Items(Golden.Require(kase, "runs", "case"), "runs"))
            {
                if (Golden.Field(run, "schedule") is not { } schedule) continue;
                int n = (int)Golden.Number(Golden.Require(run, "num_inference_steps", "run"), "run");
                var state = KarrasVe.setTimesteps(n, KarrasVe.createState(Flavour.Flax, config));
                bad += Mismatches(schedule, KarrasVe.schedule(state), where, $"schedule(n={n})");
                arrays++;
            }
        }
        Assert.True(arrays > 0, "no schedule recorded");
        Assert.True(bad == 0, $"{bad} elements differ from JAX:\n" + string.Join("\n", where));
    }
}
