using Schedulers.Core;
using Schedulers.Evaluation;

namespace Schedulers.Tests;

/// <summary>The output conversions of <see cref="ModelConversion"/>: from a point x = α·x0 + σ·ε built from known
/// x0 and ε, every output meaning gives back ε, and ε gives back every DPM-Solver prediction type.</summary>
public sealed class ModelConversionTests
{
    public static TheoryData<double, double> Points() => new()
    {
        { 1.0, 0.01 }, { 1.0, 3.0 }, { 1.0, 1348.0 },          // VE
        { 0.9999, 0.0141 }, { 0.6, 0.8 }, { 0.0064, 0.99998 },  // VP, α² + σ² = 1
        { 0.7, 0.3 },                                           // flow matching, α = 1 − σ
    };

    private static readonly float[] X0 = [1.5f, -2.25f, 0.125f];
    private static readonly float[] Eps = [-0.75f, 0.5f, 1.875f];

    private static NdArray Of(Func<int, double> f) => NdArrayModule.create([1, 3], Enumerable.Range(0, 3).Select(i => (float)f(i)).ToArray());

    private static void Close(NdArray expected, NdArray actual, double scale)
    {
        var e = expected.Span.ToArray();
        var a = actual.Span.ToArray();
        for (int i = 0; i < e.Length; i++)
            Assert.True(Math.Abs(e[i] - a[i]) <= 1e-5 * scale, $"element {i}: expected {e[i]} but got {a[i]}");
    }

    [Theory]
    [MemberData(nameof(Points))]
    public void EveryOutputMeaningGivesBackEpsilon(double alpha, double sigma)
    {
        var x = Of(i => alpha * X0[i] + sigma * Eps[i]);
        var expected = Of(i => Eps[i]);
        // ε is recovered from float32 outputs: the x0 and v forms divide by σ (or α² + σ²) what carries x's rounding.
        double scale = 1 + Math.Abs(alpha) * 3 / sigma + sigma * 4;
        Close(expected, ModelConversion.epsilon(ModelOutputKind.Score, alpha, sigma, x, Of(i => -Eps[i] / sigma)), 1);
        Close(expected, ModelConversion.epsilon(ModelOutputKind.Epsilon, alpha, sigma, x, Of(i => Eps[i])), 1);
        Close(expected, ModelConversion.epsilon(ModelOutputKind.X0, alpha, sigma, x, Of(i => X0[i])), scale);
        Close(expected, ModelConversion.epsilon(ModelOutputKind.V, alpha, sigma, x, Of(i => alpha * Eps[i] - sigma * X0[i])), scale);
    }

    [Theory]
    [MemberData(nameof(Points))]
    public void EpsilonGivesEveryDpmPrediction(double alpha, double sigma)
    {
        var x = Of(i => alpha * X0[i] + sigma * Eps[i]);
        var eps = Of(i => Eps[i]);
        double scale = 1 + sigma * 4 / alpha + Math.Abs(x.Span[0]) / alpha;
        Close(eps, ModelConversion.dpmOutput(PredictionType.Epsilon, alpha, sigma, x, eps), 1);
        Close(Of(i => X0[i]), ModelConversion.dpmOutput(PredictionType.Sample, alpha, sigma, x, eps), scale);
        Close(Of(i => alpha * Eps[i] - sigma * X0[i]), ModelConversion.dpmOutput(PredictionType.VPrediction, alpha, sigma, x, eps), scale);
        Close(Of(i => Eps[i] - X0[i]), ModelConversion.dpmOutput(PredictionType.FlowPrediction, alpha, sigma, x, eps), scale);
    }

    [Fact]
    public void NamesParseAndBadNamesSaySo()
    {
        Assert.Equal(ModelOutputKind.V, ModelConversion.parseOutput("v"));
        Assert.Equal(ModelOutputKind.X0, ModelConversion.parseOutput("x0"));
        Assert.Equal(ModelInputKind.Timestep, ModelConversion.parseInput("t"));
        var e = Assert.Throws<ArgumentException>(() => ModelConversion.parseOutput("logits"));
        Assert.StartsWith("model output is 'logits' but must be one of score, epsilon, x0, v", e.Message);
    }

    [Fact]
    public void TimestepNetworkFeedsDpmWithItsOwnAlphaAndSigma()
    {
        // A VP ε network conditioned on t: the DPM output at (α, σ, t) is the network's ε read with that α and σ.
        float seenT = -1;
        var network = Microsoft.FSharp.Core.FuncConvert.FromFunc<NdArray, float[], NdArray>((x, c) => { seenT = c[0]; return Of(i => Eps[i]); });
        var model = ModelConversion.fromNetwork(network, ModelOutputKind.Epsilon, ModelInputKind.Timestep);
        var config = DpmSolverConfig.Schema.SetValue("prediction_type", "sample", DpmSolverConfig.Schema.Defaults);
        var x = Of(i => 0.6 * X0[i] + 0.8 * Eps[i]);
        var x0 = model.Vp.Invoke(config.PredictionType).Invoke(0.6f).Invoke(0.8f).Invoke(417f).Invoke(x);
        Assert.Equal(417f, seenT);
        Close(Of(i => X0[i]), x0, 10);
        Assert.Throws<ArgumentException>(() => model.VeScore.Invoke(x).Invoke(1f));
    }
}
