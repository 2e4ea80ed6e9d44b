using System.Diagnostics;
using Schedulers.Core;
using Schedulers.Evaluation;

namespace Schedulers.Cli;

/// <summary><c>schedulers sample --target digits</c>: images from the shipped denoiser (or <c>--model</c>) with any
/// scheduler, the quality report (<see cref="DigitsQuality"/>), and samples.csv, samples.npy and samples.png (a grid
/// of the first 100 images) with the run's manifest.</summary>
public static class DigitsSample
{
    /// <summary>The files of a run, in the order they are written.</summary>
    public static readonly IReadOnlyList<string> FileNames = ["samples.csv", "samples.npy", "samples.png"];

    /// <summary>Runs a checked request (its target the digits' stand-in); returns the exit code.</summary>
    public static int Execute(SampleRequest r, TextWriter output)
    {
        var sampler = SamplerConfigs.Build(r.Scheduler, r.ConfigFile, r.ConfigPairs, DigitsSampling.StandIn);
        SamplerSteps.Check(sampler, r.Steps, $"--steps {r.Steps}");
        MemoryBudget.Check(r.Samples, Digits.Pixels, "--samples");
        OutputFolder.Prepare(r.OutDir, "--out");
        using var network = DigitsSampling.LoadModel(r.Model);
        var modelName = r.Model is null ? Models.DigitsDenoiserModel.ShippedName : Path.GetFileName(r.Model);
        var name = $"{SamplerConfigs.Describe(sampler)} with {modelName} (x0 at σ; {network.Architecture.Describe()})";
        int nfe = TargetSampling.nfe(sampler, r.Steps);
        output.WriteLine($"{name} on digits: {r.Samples} images, {r.Steps} steps ({nfe} NFE), seed {r.Seed}, batch size {r.BatchSize}");
        var clock = Stopwatch.StartNew();
        NdArray images;
        using (var bar = new ProgressBar("sampling", (long)r.Samples * r.Steps, r.Progress))
            images = DigitsSampling.Sample(sampler, DigitsSampling.ModelOf(network), r.Steps, r.Seed, r.Samples, r.BatchSize, bar.Advance);
        double sampling = clock.Elapsed.TotalSeconds;
        output.WriteLine();
        if (r.Samples >= 2)
            output.Write(DigitsQuality.format($"{SamplerConfigs.Describe(sampler)}, {nfe} NFE", DigitsSampling.Evaluate(images), Microsoft.FSharp.Core.FSharpOption<double>.Some(DigitsSampling.Floor)));
        else
            output.WriteLine("(one image: no quality report, the Fréchet fit needs two)");
        output.WriteLine();
        var header = $"schedulers sample target=digits scheduler={SamplerConfigs.Name(r.Scheduler)} steps={r.Steps} nfe={nfe} samples={r.Samples} seed={r.Seed} batch-size={r.BatchSize}"
            + string.Concat(r.ConfigPairs.Select(p => " config:" + p.Replace(' ', '_')))
            + (r.ConfigFile is null ? "" : " config-file=" + r.ConfigFile.Replace(' ', '_'))
            + (r.Model is null ? "" : $" model={r.Model.Replace(' ', '_')}")
            + " | " + name;
        var run = RunFiles.Begin(r.OutDir, SampleOutputs.ManifestName, FileNames, "sample");
        SampleFiles.WriteCsv(run.PathOf("samples.csv"), images, header);
        SampleFiles.WriteNpy(run.PathOf("samples.npy"), images);
        DigitsGrid.WritePng(run.PathOf("samples.png"), images);
        var manifest = run.Commit(header);
        output.WriteLine($"wall time {clock.Elapsed.TotalSeconds:0.00} s (sampling {sampling:0.00} s)");
        output.WriteLine($"wrote {string.Join(", ", FileNames.Select(run.PathOf).Append(manifest))}");
        return 0;
    }
}
