using Schedulers.Core;
using Schedulers.Evaluation;

namespace Schedulers.Cli;

/// <summary>What a full sample set produces: the quality report on stdout, and samples.csv, samples.npy and
/// samples.png in the output folder, then samples.manifest.json naming the run and the three files
/// (<see cref="RunFiles"/>).</summary>
public static class SampleOutputs
{
    /// <summary>The manifest of a sample set.</summary>
    public const string ManifestName = "samples.manifest.json";

    /// <summary>The files of a sample set, in the order they are written.</summary>
    public static readonly IReadOnlyList<string> FileNames = ["samples.csv", "samples.npy", "samples.png"];

    /// <summary>Evaluates, prints the report and writes the three files and the manifest; returns their paths.</summary>
    public static IReadOnlyList<string> Write(string outDir, GaussianMixture target, NdArray points, string header,
        string name, int nfe, TextWriter output)
    {
        var report = Metrics.evaluate(SampleCommand.MetricsKey, target, points);
        output.WriteLine();
        output.Write(Metrics.format($"{name}, {nfe} NFE", report));
        output.WriteLine();
        var run = RunFiles.Begin(outDir, ManifestName, FileNames, "sample");
        var csv = run.PathOf("samples.csv");
        var npy = run.PathOf("samples.npy");
        var png = run.PathOf("samples.png");
        SampleFiles.WriteCsv(csv, points, header);
        SampleFiles.WriteNpy(npy, points);
        SamplePlot.WritePng(png, target, points, $"{name}, {nfe} NFE", report);
        return [csv, npy, png, run.Commit(header)];
    }
}
