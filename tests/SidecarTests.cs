using System.Text.Json.Nodes;
using Schedulers.Cli;
using Schedulers.Cli.Training;

namespace Schedulers.Tests;

/// <summary>A tiny <c>schedulers train</c> model shared by <see cref="SidecarTests"/>.</summary>
public sealed class TinyTrainedModel : IDisposable
{
    /// <summary>The folder of the model.</summary>
    public string Dir { get; } = Directory.CreateTempSubdirectory("schedulers-sidecar").FullName;
    /// <summary>The weights.</summary>
    public string ModelPath => Path.Combine(Dir, "tiny.pt");

    /// <summary>Trains 2 steps of a 1×8 MLP.</summary>
    public TinyTrainedModel()
    {
        var error = new StringWriter();
        int code = TrainCommand.Invoke(["--steps", "2", "--batch-size", "16", "--hidden", "8", "--layers", "1", "--out", ModelPath], new StringWriter(), error);
        Assert.True(code == 0, error.ToString());
    }

    /// <inheritdoc/>
    public void Dispose() => Directory.Delete(Dir, true);
}

/// <summary>The sidecar of a trained model is checked before anything is built: a missing, empty, truncated,
/// other-format or out-of-range sidecar, or weights of another run, stop <c>sample --model</c> with one line saying
/// which (exit code 2).</summary>
public sealed class SidecarTests(TinyTrainedModel model) : IClassFixture<TinyTrainedModel>
{
    private (int Code, string Err) Sample(string modelPath)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = SampleCommand.Invoke(["--model", modelPath, "--model-output", "score", "--samples", "8", "--steps", "2",
            "--out", Path.Combine(model.Dir, "samples")], output, error);
        return (code, error.ToString());
    }

    /// <summary>A copy of the model whose sidecar is <paramref name="sidecar"/>, or none when null.</summary>
    private string Copy(string? sidecar)
    {
        var path = Path.Combine(model.Dir, Guid.NewGuid().ToString("N") + ".pt");
        File.Copy(model.ModelPath, path);
        if (sidecar is not null) File.WriteAllText(MlpArchitecture.SidecarOf(path), sidecar);
        return path;
    }

    private string Edited(string key, JsonNode? value)
    {
        var json = JsonNode.Parse(File.ReadAllText(MlpArchitecture.SidecarOf(model.ModelPath)))!.AsObject();
        json[key] = value;
        return json.ToJsonString();
    }

    private void AssertRefused(string path, params string[] contains)
    {
        var (code, err) = Sample(path);
        Assert.True(code == 2, err);
        var line = err.TrimEnd();
        Assert.DoesNotContain('\n', line);
        Assert.StartsWith("sample: --model: ", line);
        foreach (var c in contains) Assert.Contains(c, line);
    }

    [Fact]
    public void The_untouched_model_samples()
    {
        var (code, err) = Sample(model.ModelPath);
        Assert.True(code == 0, err);
    }

    [Theory]
    [InlineData("layers", "10000000")]
    [InlineData("hidden", "1e8")]
    [InlineData("hidden", "-5")]
    [InlineData("hidden", "2.5")]
    [InlineData("hidden", "\"8\"")]
    [InlineData("dimension", "0")]
    [InlineData("sigmaData", "0")]
    [InlineData("sigmaData", "-1")]
    [InlineData("sigmaData", "\"NaN\"")]
    [InlineData("sigmaData", "null")]
    public void A_field_out_of_range_or_of_the_wrong_type_is_named(string key, string value)
    {
        AssertRefused(Copy(Edited(key, JsonNode.Parse(value))), "sidecar", $"\"{key}\"");
    }

    [Fact]
    public void A_missing_field_is_named()
    {
        var json = JsonNode.Parse(File.ReadAllText(MlpArchitecture.SidecarOf(model.ModelPath)))!.AsObject();
        json.Remove("sigmaData");
        AssertRefused(Copy(json.ToJsonString()), "has no \"sigmaData\"");
    }

    [Fact]
    public void A_missing_sidecar_is_named()
    {
        AssertRefused(Copy(null), "not a TorchScript module", "sidecar", "missing");
    }

    [Fact]
    public void An_empty_sidecar_is_named()
    {
        AssertRefused(Copy(""), "is empty");
    }

    [Fact]
    public void A_truncated_sidecar_is_named()
    {
        var text = File.ReadAllText(MlpArchitecture.SidecarOf(model.ModelPath));
        AssertRefused(Copy(text[..(text.Length / 2)]), "truncated");
    }

    [Fact]
    public void A_sidecar_of_another_format_is_named()
    {
        AssertRefused(Copy(Edited("format", "something-else")), "format 'something-else'", MlpArchitecture.FormatName);
        AssertRefused(Copy("[1, 2]"), "not the object");
    }

    [Fact]
    public void Weights_of_another_run_beside_the_sidecar_are_refused()
    {
        var path = Copy(File.ReadAllText(MlpArchitecture.SidecarOf(model.ModelPath)));
        var bytes = File.ReadAllBytes(path);
        bytes[^1] ^= 1;
        File.WriteAllBytes(path, bytes);
        AssertRefused(path, "different runs");
    }

    [Fact]
    public void Training_records_the_weights_in_the_sidecar()
    {
        var architecture = MlpSidecar.Read(model.ModelPath);
        Assert.Equal(new FileInfo(model.ModelPath).Length, architecture.WeightsBytes);
        Assert.Equal(64, architecture.WeightsSha256!.Length);
        Assert.Empty(Directory.GetFiles(model.Dir, "*.tmp"));
    }
}
