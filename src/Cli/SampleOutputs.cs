using Schedulers.Core;

namespace Schedulers.Cli;

/// <summary>What a full sample set produces: the quality report on stdout, and samples.csv, samples.npy and
/// samples.png in the output folder.</summary>
public static class SampleOutputs
{
    /// <summary>Evaluates, prints the report and writes the three files; returns their paths.</summary>
    public static IReadOnlyList<string> Write(string outDir, GaussianMixture target, NdArray points, string header,
        string name, int nfe, TextWriter output)
    {
        var report = Metrics.evaluate(SampleCommand.MetricsKey, target, points);
        output.WriteLine();
        output.Write(Metrics.format($"{name}, {nfe} NFE", report));
        output.WriteLine();
        var csv = Path.Combine(outDir, "samples.csv");
        var npy = Path.Combine(outDir, "samples.npy");
        var png = Path.Combine(outDir, "samples.png");
        SampleFiles.WriteCsv(csv, points, header);
        SampleFiles.WriteNpy(npy, points);
        SamplePlot.WritePng(png, target, points, $"{name}, {nfe} NFE", report);
        return [csv, npy, png];
    }
}
