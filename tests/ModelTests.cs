using Schedulers.Cli;
using Schedulers.Cli.Models;
using Schedulers.Models;
using Schedulers.Core;
using Schedulers.Evaluation;
using Xunit.Abstractions;

namespace Schedulers.Tests;

/// <summary>Trained networks for <c>sample --model</c>: the TorchScript and ONNX fixtures reproduce their recorded
/// outputs and agree, bad files give the documented errors, the output conversions reproduce the exact target
/// sampling, and a model run is batch-size independent and writes its outputs.</summary>
public sealed class ModelTests(ITestOutputHelper log)
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "data", "fixtures", name);

    private static (NdArray X, float[] Sigma, float[] Expected) Recorded()
    {
        var root = Json.parse(File.ReadAllText(Fixture("tiny_score_mlp.expected.json")));
        float[] Data(string field) =>
            ((JsonValue.Array)((JsonValue.Object)Member(root, field)).Item.First(m => m.Item1 == "data").Item2).Item
                .Select(v => (float)Json.numberValue(((JsonValue.Number)v).text)).ToArray();
        return (NdArrayModule.create([8, 2], Data("x")), Data("sigma"), Data("expected"));
    }

    private static JsonValue Member(JsonValue root, string name) =>
        ((JsonValue.Object)root).Item.First(m => m.Item1 == name).Item2;

    private static double MaxError(float[] actual, float[] expected, out bool within)
    {
        double worst = 0;
        within = true;
        for (int i = 0; i < expected.Length; i++)
        {
            double err = Math.Abs((double)actual[i] - expected[i]);
            worst = Math.Max(worst, err);
            if (err > 1e-6 + 1e-5 * Math.Abs(expected[i])) within = false;
        }
        return worst;
    }

    [Theory]
    [InlineData("tiny_score_mlp.torchscript.pt")]
    [InlineData("tiny_score_mlp.onnx")]
    public void FixtureReproducesTheRecordedOutput(string file)
    {
        var (x, sigma, expected) = Recorded();
        using var model = ModelFiles.Load(Fixture(file), 2);
        var actual = model.Forward(x, sigma);
        Assert.Equal([8, 2], actual.Shape);
        double worst = MaxError(actual.Span.ToArray(), expected, out bool within);
        log.WriteLine($"{file}: max abs error {worst:E3} against the recorded output");
        Assert.True(within, $"{file}: max abs error {worst:E3} exceeds 1e-5 relative / 1e-6 absolute");
    }

    [Fact]
    public void TorchScriptAndOnnxAgree()
    {
        var x = NdArrayModule.create([64, 2], Enumerable.Range(0, 128).Select(i => (float)Math.Sin(0.37 * i) * 4f).ToArray());
        var sigma = Enumerable.Range(0, 64).Select(i => (float)(0.01 * Math.Pow(1.2, i))).ToArray();
        using var torch = ModelFiles.Load(Fixture("tiny_score_mlp.torchscript.pt"), 2);
        using var onnx = ModelFiles.Load(Fixture("tiny_score_mlp.onnx"), 2);
        var a = torch.Forward(x, sigma).Span.ToArray();
        var b = onnx.Forward(x, sigma).Span.ToArray();
        double worst = MaxError(a, b, out bool within);
        log.WriteLine($"TorchScript vs ONNX: max abs difference {worst:E3}");
        Assert.True(within, $"TorchScript and ONNX differ by up to {worst:E3}");
    }

    [Theory]
    [InlineData("tiny_score_mlp.torchscript.pt")]
    [InlineData("tiny_score_mlp.onnx")]
    public void RowwiseEvaluationDoesNotDependOnTheBatch(string file)
    {
        var (x, sigma, expected) = Recorded();
        using var model = ModelFiles.Load(Fixture(file), 2);
        var whole = DenoiserModels.ForwardRows(model, x, sigma).Span.ToArray();
        MaxError(whole, expected, out bool within);
        Assert.True(within);
        for (int row = 0; row < 8; row++)
        {
            var one = model.Forward(NdArrayModule.create([1, 2], x.Span.Slice(row * 2, 2).ToArray()), [sigma[row]]).Span.ToArray();
            Assert.Equal(whole.AsSpan(row * 2, 2).ToArray(), one);
        }
    }

    [Theory]
    [InlineData(".onnx")]
    [InlineData(".pt")]
    public void MissingFileSaysSo(string extension)
    {
        var path = Path.Combine(Path.GetTempPath(), "no-such-model-" + Guid.NewGuid().ToString("N") + extension);
        var e = Assert.Throws<ModelException>(() => ModelFiles.Load(path, 2));
        Assert.Equal($"model file '{path}' does not exist", e.Message);
    }

    [Theory]
    [InlineData(".onnx", "is not an ONNX model")]
    [InlineData(".pt", "is not a TorchScript module")]
    public void NonModelFileSaysSo(string extension, string expected)
    {
        var path = Path.Combine(Path.GetTempPath(), "not-a-model-" + Guid.NewGuid().ToString("N") + extension);
        File.WriteAllText(path, "this is not a model\n");
        try
        {
            var e = Assert.Throws<ModelException>(() => ModelFiles.Load(path, 2));
            Assert.StartsWith($"model file '{path}' {expected}", e.Message);
        }
        finally { File.Delete(path); }
    }

    private static string WriteOnnx(byte[] bytes)
    {
        var path = Path.Combine(Path.GetTempPath(), "model-" + Guid.NewGuid().ToString("N") + ".onnx");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public void WrongShapeOutputSaysSo()
    {
        // Returns sigma [B] instead of [B, 2].
        var path = WriteOnnx(OnnxGraphs.Identity([("x", 2), ("sigma", 1)], "sigma"));
        try
        {
            var e = Assert.Throws<ModelException>(() => ModelFiles.Load(path, 2));
            Assert.Equal($"model '{path}' returned an output of shape [2] for x of shape [2,2]; expected [2,2]", e.Message);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void WrongInputCountSaysSo()
    {
        var path = WriteOnnx(OnnxGraphs.Identity([("x", 2)], "x"));
        try
        {
            var e = Assert.Throws<ModelException>(() => ModelFiles.Load(path, 2));
            Assert.Equal($"model '{path}' has 1 inputs (x) but must have 2: x [B,D] and sigma or t [B]", e.Message);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void InputsAreMatchedByNameOrElseTakenInOrder()
    {
        // Inputs named a, b: the first is x; an identity on it is a valid [B, D] model.
        var path = WriteOnnx(OnnxGraphs.Identity([("a", 2), ("b", 1)], "a"));
        try
        {
            using var model = ModelFiles.Load(path, 2);
            var x = NdArrayModule.create([2, 2], [1f, 2f, 3f, 4f]);
            Assert.Equal([1f, 2f, 3f, 4f], model.Forward(x, [0.5f, 0.5f]).Span.ToArray());
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void NonFiniteOutputWhileSamplingExitsWithCode1()
    {
        // √x: finite on the probe batch of zeros, NaN for the first negative coordinate the sampler passes.
        var path = WriteOnnx(OnnxGraphs.Unary([("x", 2), ("sigma", 1)], "x", "Sqrt"));
        try
        {
            var (code, _, error) = Sample("--model", path, "--model-output", "x0", "--scheduler", "karras", "--steps", "3",
                "--samples", "8", "--out", Path.GetTempPath(), "-q");
            Assert.Equal(1, code);
            Assert.Matches($"^sample: model '{System.Text.RegularExpressions.Regex.Escape(path)}' returned a non-finite value \\(NaN\\) in row \\d+ at σ/t = ", error.Trim());
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void NonFiniteOutputSaysSo()
    {
        var e = Assert.Throws<ModelException>(() => ModelChecks.Output("m.onnx", 2, 1, [2, 1], [0f, float.NaN], [1f, 7f]));
        Assert.Equal("model 'm.onnx' returned a non-finite value (NaN) in row 1 at σ/t = 7", e.Message);
    }

    /// <summary>A network that returns the target's exact VE output of the given meaning (x = x0 + σ·ε).</summary>
    private static SamplingModel ExactNetwork(GaussianMixture target, ModelOutputKind kind) =>
        ModelConversion.fromNetwork(Microsoft.FSharp.Core.FuncConvert.FromFunc<NdArray, float[], NdArray>((x, c) =>
        {
            double sigma = c[0];
            var d = Targets.edmDenoiser(target, sigma, x);
            if (kind.IsScore) return Targets.veScore(target, sigma, x);
            if (kind.IsX0) return d;
            var eps = NdArrayModule.map2(Microsoft.FSharp.Core.FuncConvert.FromFunc<float, float, float>((xv, dv) => (float)((xv - (double)dv) / sigma)), x, d);
            if (kind.IsEpsilon) return eps;
            return NdArrayModule.map2(Microsoft.FSharp.Core.FuncConvert.FromFunc<float, float, float>((e, dv) => (float)(e - sigma * dv)), eps, d);
        }), kind, ModelInputKind.Sigma);

    public static TheoryData<string, string> Conversions()
    {
        var data = new TheoryData<string, string>();
        foreach (var scheduler in new[] { "dpm", "karras", "sde-ve" })
            foreach (var kind in new[] { "score", "epsilon", "x0", "v" })
                data.Add(scheduler, kind);
        data.Add("dpm --config prediction_type=v_prediction", "score");
        data.Add("dpm --config prediction_type=sample", "epsilon");
        return data;
    }

    [Theory]
    [MemberData(nameof(Conversions))]
    public void ConvertedExactNetworkMatchesTheExactTargetRun(string scheduler, string kind)
    {
        var parts = scheduler.Split(' ');
        var config = parts.Length > 1 ? new[] { parts[2] } : [];
        var target = Targets.ring8;
        var sampler = SamplerConfigs.Build(SamplerConfigs.ParseKind(parts[0]), null, config, target);
        var exact = SampleRun.Run(sampler, target, 12, 5, 0, 64, 64).Span.ToArray();
        var converted = SampleRun.Run(sampler, target, 12, 5, 0, 64, 64, null, ExactNetwork(target, ModelConversion.parseOutput(kind))).Span.ToArray();
        double worst = 0;
        for (int i = 0; i < exact.Length; i++) worst = Math.Max(worst, Math.Abs(exact[i] - converted[i]));
        Assert.True(worst < 2e-3, $"{scheduler} with a {kind} network: max difference {worst:E3} from the exact run");
    }

    private static (int Code, string Out, string Err) Sample(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = SampleCommand.Invoke(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    private static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "schedulers-model-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    [Theory]
    [InlineData("tiny_score_mlp.onnx")]
    [InlineData("tiny_score_mlp.torchscript.pt")]
    public void SampleWithModelRunsEndToEnd(string file)
    {
        var dir = TempDir();
        try
        {
            var (code, output, error) = Sample("--model", Fixture(file), "--model-output", "score", "--scheduler", "sde-ve",
                "--steps", "10", "--samples", "64", "--out", dir);
            Assert.True(code == 0, error);
            Assert.Contains($"with model {file} (score at σ)", output);
            var csv = File.ReadAllLines(Path.Combine(dir, "samples.csv"));
            Assert.Contains($"model={Fixture(file)} model-output=score model-input=sigma", csv[0]);
            Assert.Equal("x0,x1", csv[1]);
            Assert.Equal(64, csv.Length - 2);
            foreach (var line in csv.Skip(2))
            {
                var cells = line.Split(',').Select(c => float.Parse(c, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
                Assert.Equal(2, cells.Length);
                Assert.All(cells, v => Assert.True(float.IsFinite(v)));
            }
            Assert.True(File.Exists(Path.Combine(dir, "samples.npy")));
            Assert.True(File.Exists(Path.Combine(dir, "samples.png")));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Theory]
    [InlineData("dpm")]
    [InlineData("karras")]
    [InlineData("sde-ve")]
    public void ModelSamplesDoNotDependOnTheBatchSize(string scheduler)
    {
        using var network = ModelFiles.Load(Fixture("tiny_score_mlp.onnx"), 2);
        var model = DenoiserModels.ToSamplingModel(network, ModelOutputKind.Score, ModelInputKind.Sigma);
        var sampler = SamplerConfigs.Build(SamplerConfigs.ParseKind(scheduler), null, [], Targets.ring8);
        var whole = SampleRun.Run(sampler, Targets.ring8, 6, 3, 0, 300, 300, null, model).Span.ToArray();
        foreach (int batch in new[] { 1, 7, 128 })
            Assert.Equal(whole, SampleRun.Run(sampler, Targets.ring8, 6, 3, 0, 300, batch, null, model).Span.ToArray());
    }

    [Theory]
    [InlineData(new[] { "--model-output", "score" }, "sample: --model-output and --model-input need --model")]
    [InlineData(new[] { "--model", "MODEL" }, "sample: --model needs --model-output score|epsilon|x0|v (what the model returns)")]
    [InlineData(new[] { "--model", "MODEL", "--model-output", "logits" }, "sample: --model-output is 'logits' but must be one of score, epsilon, x0, v")]
    [InlineData(new[] { "--model", "MODEL", "--model-output", "score", "--model-input", "tau" }, "sample: --model-input is 'tau' but must be sigma or t")]
    [InlineData(new[] { "--model", "MODEL", "--model-output", "score", "--model-input", "t", "--scheduler", "karras" }, "sample: --model-input t serves only the VP schedulers (dpm, ddim: the VP timestep), not karras; use a σ-conditioned model")]
    [InlineData(new[] { "--model", "missing.onnx", "--model-output", "score" }, "sample: --model: model file 'missing.onnx' does not exist")]
    public void BadModelOptionsExitWithCode2(string[] args, string expected)
    {
        var resolved = args.Select(a => a == "MODEL" ? Fixture("tiny_score_mlp.onnx") : a).ToArray();
        var (code, _, error) = Sample([.. resolved, "--out", Path.GetTempPath(), "-q"]);
        Assert.Equal(2, code);
        Assert.Equal(expected, error.Trim());
    }
}
