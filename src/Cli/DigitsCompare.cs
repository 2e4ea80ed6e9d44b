using System.Diagnostics;
using System.Globalization;
using System.Text;
using Schedulers.Core;
using Schedulers.Evaluation;

namespace Schedulers.Cli;

/// <summary><c>schedulers compare --target digits</c>: every scheduler at every NFE budget with the shipped denoiser
/// (same seed, so the same initial noise for every cell), each cell scored with the classifier-feature Fréchet distance
/// (<see cref="DigitsQuality"/>); writes compare.md, compare.csv, compare.png (distance against NFE) and a grid PNG
/// per cell, then the run's manifest.</summary>
public static class DigitsCompare
{
    /// <summary>The schedulers run unless told otherwise: every one the tool has.</summary>
    public const string DefaultSchedulers = "dpm,heun,karras,sde-ve,ddim,ddpm,pndm,lms,euler";
    /// <summary>The NFE budgets run unless told otherwise.</summary>
    public static readonly int[] DefaultNfe = [5, 10, 20, 50, 200];
    /// <summary>Images per cell unless told otherwise.</summary>
    public const int DefaultSamples = 500;
    /// <summary>A scheduler has levelled off from the smallest NFE whose distance, and every larger budget's, is
    /// within this factor of its distance at the largest budget.</summary>
    public const double LevelFactor = 1.2;

    /// <summary>The noise levels of the measure's validation line (real against noised real).</summary>
    public static readonly double[] NoiseLevels = [0.05, 0.1, 0.2, 0.4, 0.8];

    /// <summary>One cell.</summary>
    public sealed record Row(string Scheduler, string Sampler, int Steps, int Nfe, DigitsReport Report, double Seconds, string Grid);

    /// <summary>The file name of a cell's grid: the label with anything but letters, digits, '-', '_' and '=' as '_'.</summary>
    public static string GridName(string label, int nfe) =>
        $"grid-{new string(label.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '=' ? c : '_').ToArray())}-{nfe}.png";

    /// <summary>Runs the grid and writes the files; returns the exit code.</summary>
    public static int Run(string[] entries, int[] budgets, int count, uint seed, string? modelPath, string outDir, TextWriter progress, TextWriter output)
    {
        var samplers = entries.Select(e => CompareCommand.Entry(e, DigitsSampling.StandIn)).ToList();
        foreach (var (label, sampler) in samplers)
            foreach (var budget in budgets)
                SamplerSteps.Check(sampler, CompareCommand.StepsFor(sampler, budget), $"--nfe {budget} ({label}, {CompareCommand.StepsFor(sampler, budget)} steps)");
        MemoryBudget.Check(count, Digits.Pixels, "--samples", "lower --samples");
        var folder = OutputFolder.Prepare(outDir, "--out");
        using var network = DigitsSampling.LoadModel(modelPath);
        var model = DigitsSampling.ModelOf(network);
        var cells = samplers.SelectMany(s => budgets.Select(b => CompareCommand.StepsFor(s.Sampler, b)).Distinct().Select(steps => (s.Label, s.Sampler, steps))).ToList();
        var names = cells.Select(c => GridName(c.Label, TargetSampling.nfe(c.Sampler, c.steps))).ToList();
        var run = RunFiles.Begin(folder, CompareCommand.ManifestName, new[] { "compare.csv", "compare.md", "compare.png" }.Concat(names).ToList(), "compare");
        double floor = DigitsSampling.Floor;
        var rows = new List<Row>();
        foreach (var (label, sampler, steps) in cells)
        {
            var clock = Stopwatch.StartNew();
            var images = DigitsSampling.Sample(sampler, model, steps, seed, count, 256);
            double seconds = clock.Elapsed.TotalSeconds;
            int nfe = TargetSampling.nfe(sampler, steps);
            var grid = GridName(label, nfe);
            DigitsGrid.WritePng(run.PathOf(grid), images);
            var row = new Row(label, SamplerConfigs.Describe(sampler), steps, nfe, DigitsSampling.Evaluate(images), seconds, grid);
            progress.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{label,-12} {nfe,5} NFE  Fréchet {row.Report.Frechet:0.000}  {seconds:0.0} s"));
            rows.Add(row);
        }
        var md = Markdown(rows, count, seed, floor, modelPath);
        AtomicFile.WriteAllBytes(run.PathOf("compare.md"), Encoding.UTF8.GetBytes(md));
        AtomicFile.WriteAllBytes(run.PathOf("compare.csv"), Encoding.UTF8.GetBytes(Csv(rows)));
        AtomicFile.WriteAllBytes(run.PathOf("compare.png"), Plot(rows, count, floor));
        output.Write(md);
        output.WriteLine();
        var manifest = run.Commit($"target=digits samples={count} seed={seed} schedulers={string.Join(',', entries)} nfe={string.Join(',', budgets)}");
        output.WriteLine($"wrote {run.PathOf("compare.md")}, {run.PathOf("compare.csv")}, {run.PathOf("compare.png")}, {names.Count} grids, {manifest}");
        return 0;
    }

    private static string F(double v, string format = "0.000") => v.ToString(format, CultureInfo.InvariantCulture);

    /// <summary>The smallest NFE from which every budget's distance is within <see cref="LevelFactor"/> of the
    /// distance at the largest budget run.</summary>
    public static int LevelsOffAt(IEnumerable<Row> rows)
    {
        var list = rows.OrderBy(r => r.Nfe).ToList();
        double last = list[^1].Report.Frechet;
        int from = list[^1].Nfe;
        for (int i = list.Count - 1; i >= 0 && list[i].Report.Frechet <= LevelFactor * last; i--) from = list[i].Nfe;
        return from;
    }

    private static string Markdown(List<Row> rows, int count, uint seed, double floor, string? modelPath)
    {
        var md = new StringBuilder();
        md.AppendLine($"Target `digits`, model {(modelPath is null ? "the shipped denoiser" : $"`{Path.GetFileName(modelPath)}`")}, {count} images per cell, seed {seed}; Fréchet distance of the classifier's features against the 1797 real images.");
        md.AppendLine($"The real data's two halves (898 and 899 images) score {F(floor)}: the level below which differences mean nothing at this sample size.");
        var curve = DigitsQuality.noisedCurve(DigitsClassifiers.shippedClassifier(), Prng.key(7), NoiseLevels, Digits.load());
        md.AppendLine($"Validation, the real images against noised copies of themselves: {string.Join(", ", curve.Select(p => $"σ {F(p.Item1, "0.##")}: {F(p.Item2)}"))}.");
        md.AppendLine();
        md.AppendLine("| scheduler | sampler | steps | NFE | Fréchet | mean confidence | class TV | time (s) | grid |");
        md.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---|");
        foreach (var r in rows)
            md.AppendLine($"| `{r.Scheduler}` | {r.Sampler} | {r.Steps} | {r.Nfe} | {F(r.Report.Frechet)} | {F(r.Report.MeanConfidence)} | {F(r.Report.ClassTotalVariation)} | {F(r.Seconds, "0.0")} | {r.Grid} |");
        md.AppendLine();
        foreach (var group in rows.GroupBy(r => r.Scheduler))
        {
            var g = group.OrderBy(r => r.Nfe).ToList();
            md.AppendLine($"- `{group.Key}` ({g[0].Sampler}): levels off from {LevelsOffAt(g)} NFE (within {LevelFactor}× of its {F(g[^1].Report.Frechet)} at {g[^1].Nfe} NFE).");
        }
        return md.ToString();
    }

    private static string Csv(List<Row> rows)
    {
        var csv = new StringBuilder("scheduler,sampler,steps,nfe,frechet,mean_confidence,class_tv,non_finite,seconds\n");
        foreach (var r in rows)
            csv.AppendLine(string.Join(',', $"\"{r.Scheduler}\"", $"\"{r.Sampler}\"", r.Steps, r.Nfe, F(r.Report.Frechet, "R"), F(r.Report.MeanConfidence, "R"),
                F(r.Report.ClassTotalVariation, "R"), r.Report.NonFiniteCount, F(r.Seconds)));
        return csv.ToString();
    }

    private static byte[] Plot(List<Row> rows, int count, double floor)
    {
        var plot = new ScottPlot.Plot();
        plot.Title($"Classifier-feature Fréchet distance against NFE on digits ({count} images)");
        foreach (var group in rows.GroupBy(r => r.Scheduler))
        {
            var g = group.OrderBy(r => r.Nfe).ToArray();
            var line = plot.Add.Scatter(g.Select(r => Math.Log10(r.Nfe)).ToArray(), g.Select(r => Math.Log10(Math.Max(1e-3, r.Report.Frechet))).ToArray());
            line.LegendText = group.Key;
            line.LineWidth = 2;
            line.MarkerSize = 7;
        }
        var real = plot.Add.HorizontalLine(Math.Log10(floor));
        real.LegendText = "real half vs real half";
        real.LinePattern = ScottPlot.LinePattern.Dashed;
        var nfes = rows.Select(r => r.Nfe).ToArray();
        var xTicks = new[] { 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000 }.Where(v => v >= nfes.Min() * 0.8 && v <= nfes.Max() * 1.25).ToArray();
        plot.Axes.Bottom.SetTicks(xTicks.Select(n => Math.Log10(n)).ToArray(), xTicks.Select(n => n.ToString(CultureInfo.InvariantCulture)).ToArray());
        var ys = rows.Select(r => r.Report.Frechet).Append(floor).Where(v => v > 0).ToArray();
        var yTicks = new[] { 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000 }.Where(v => v >= ys.Min() * 0.8 && v <= ys.Max() * 1.25).ToArray();
        plot.Axes.Left.SetTicks(yTicks.Select(Math.Log10).ToArray(), yTicks.Select(v => v.ToString(CultureInfo.InvariantCulture)).ToArray());
        plot.XLabel("NFE (model evaluations, log scale)");
        plot.YLabel("Fréchet distance of classifier features (log scale)");
        plot.ShowLegend(ScottPlot.Alignment.UpperRight);
        return plot.GetImageBytes(900, 600, ScottPlot.ImageFormat.Png);
    }
}
