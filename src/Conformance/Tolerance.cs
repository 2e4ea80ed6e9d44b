namespace Schedulers.Conformance;

/// <summary>
/// An elementwise tolerance of the golden README: <c>|actual − expected| ≤ atol·scale + rtol·|expected|</c>, where
/// <c>scale</c> is 1, or the largest magnitude in the expected array (at least 1) for step and loop outputs whose
/// values cross zero. <see cref="Ulps"/> compares float32 bit patterns instead.
/// </summary>
public sealed record Tolerance(string Name, double Rtol, double Atol, bool ScaleAtolByMax, int Ulps = -1)
{
    /// <summary>Integers, PRNG words and bits, uniforms: equal.</summary>
    public static Tolerance Exact { get; } = new("exact", 0, 0, false);

    /// <summary>JAX normals: at most 2 ulp apart as float32.</summary>
    public static Tolerance Normal { get; } = new("2 ulp", 0, 0, false, Ulps: 2);

    /// <summary>Schedule arrays (timesteps, sigmas, discrete_sigmas, schedule): rtol 1e-6.</summary>
    public static Tolerance Schedule { get; } = new("schedule", 1e-6, 0, false);

    /// <summary>One step's outputs: rtol 1e-5, atol 1e-6 relative to the largest magnitude.</summary>
    public static Tolerance Step { get; } = new("step", 1e-5, 1e-6, true);

    /// <summary>Whole loops and trajectories: rtol 1e-4, atol 1e-5 scaled by the largest magnitude.</summary>
    public static Tolerance Loop { get; } = new("loop", 1e-4, 1e-5, true);

    /// <summary>torch's CPU <c>randn</c> (golden README "Generator streams"): 2e-6 + 1e-6·|expected|.</summary>
    public static Tolerance TorchCpuRandn { get; } = new("torch cpu randn", 1e-6, 2e-6, false);

    /// <summary>torch's CUDA <c>randn</c> (the device's logf/sincosf are not specified to the bit): 4e-6 + 2e-6·|expected|.</summary>
    public static Tolerance TorchCudaRandn { get; } = new("torch cuda randn", 2e-6, 4e-6, false);

    /// <summary>Distance between two float32 values in units in the last place (ordered bit patterns).</summary>
    public static long UlpDistance(float a, float b)
    {
        static long Ordered(float f)
        {
            int bits = BitConverter.SingleToInt32Bits(f);
            return bits < 0 ? int.MinValue - (long)bits : bits;
        }
        return Math.Abs(Ordered(a) - Ordered(b));
    }

    /// <summary>The first index where <paramref name="actual"/> is outside the tolerance of <paramref name="expected"/>, or −1.</summary>
    public int FirstMismatch(ReadOnlySpan<double> expected, ReadOnlySpan<double> actual)
    {
        if (expected.Length != actual.Length) return Math.Min(expected.Length, actual.Length);
        if (Ulps >= 0)
        {
            for (int i = 0; i < expected.Length; i++)
            {
                if (UlpDistance((float)expected[i], (float)actual[i]) > Ulps) return i;
            }
            return -1;
        }
        double scale = 1;
        if (ScaleAtolByMax)
        {
            foreach (var e in expected)
            {
                if (double.IsFinite(e)) scale = Math.Max(scale, Math.Abs(e));
            }
        }
        double atol = Atol * scale;
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            if (e.Equals(a)) continue; // equal values, equal infinities, NaN against NaN
            if (double.IsNaN(e) || double.IsNaN(a) || double.IsInfinity(e) || double.IsInfinity(a)) return i;
            if (Math.Abs(a - e) > atol + Rtol * Math.Abs(e)) return i;
        }
        return -1;
    }
}
