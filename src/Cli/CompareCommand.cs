using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Schedulers.Core;
using Schedulers.Evaluation;

namespace Schedulers.Cli;

/// <summary><c>schedulers compare</c>: a grid of schedulers × NFE on one target, each cell a full sampling run with
/// the same seed and metrics key, written as compare.md, compare.csv and compare.png (sliced W2 against NFE).</summary>
public sealed class CompareCommand : ToolSubcommand<CompareCommand>, IToolSubcommand
{
    /// <summary>The manifest written after compare.csv, compare.md and compare.png (<see cref="RunFiles"/>).</summary>
    public const string ManifestName = "compare.manifest.json";

    /// <summary>The NFE grid used unless told otherwise.</summary>
    public static readonly int[] DefaultNfe = [5, 10, 20, 35, 50, 100, 200, 500, 1000];

    /// <summary>One cell of the grid.</summary>
    public sealed record Row(string Scheduler, string Sampler, int Steps, int Nfe, QualityReport Report, double Seconds);

    /// <inheritdoc/>
    public static Command Create(TextWriter? output = null, TextWriter? error = null)
    {
        var schedulers = TextOption("--schedulers", "Comma-separated schedulers, each optionally with config options by their diffusers names after colons, e.g. dpm,dpm:use_karras_sigmas=true,karras,sde-ve:snr=0.16,heun:rho=7 (default dpm,karras,sde-ve).");
        var nfe = TextOption("--nfe", "Comma-separated NFE budgets (default 5,10,20,35,50,100,200,500,1000); each is turned into the step count that spends at most that many model evaluations, but at least the scheduler's fewest steps (KarrasVe: 2 steps, 3 NFE).");
        var samples = TextOption("--samples", "Samples per cell (default 2000; digits 500).");
        var seed = TextOption("--seed", "Seed (default 0).");
        var target = TextOption("--target", "ring8 (default), grid, moons, line1d, gaussian64, or digits (the shipped denoiser or --model; classifier-feature Fréchet distance; every scheduler, NFE 5,10,20,50,200, 500 images per cell by default).");
        var model = TextOption("--model", "digits only: a denoiser of schedulers train --target digits instead of the shipped one.");
        var outDir = TextOption("--out", "Output folder (default: the current folder).");
        var quiet = QuietOption("No progress lines on stderr.");
        var command = new Command("compare", "Sample one target with each scheduler at each NFE; write compare.md, compare.csv and compare.png (sliced W2 vs NFE).")
        {
            schedulers, nfe, samples, seed, target, outDir, quiet, model,
        };
        // A run fails when the disk fails while writing.
        return WithAction(command, output, error, x => x is IOException or Schedulers.Models.ModelException, run =>
        {
            bool digits = DigitsSampling.IsDigits(run.NonEmptyText(target));
            if (!digits && run.Parse.GetResult(model) is not null)
                throw new UsageException("--model applies only to --target digits");
            var entries = (run.NonEmptyText(schedulers) ?? (digits ? DigitsCompare.DefaultSchedulers : "dpm,karras,sde-ve")).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Distinct().ToArray();
            var budgets = run.NonEmptyText(nfe) is { } list ? list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(v =>
                int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n >= 1 && n <= 100_000 ? n
                    : throw new UsageException($"--nfe has '{v}' but each NFE must be an integer from 1 to 100000")).Distinct().Order().ToArray() : digits ? DigitsCompare.DefaultNfe : DefaultNfe;
            int count = run.NonEmptyText(samples) is { } s ? (int.TryParse(s, out var c) && c >= 2 && c <= 10_000_000 ? c : throw new UsageException($"--samples is '{s}' but must be an integer from 2 to 10000000")) : digits ? DigitsCompare.DefaultSamples : 2000;
            uint seedValue = run.NonEmptyText(seed) is { } sd ? (uint.TryParse(sd, out var v) ? v : throw new UsageException($"--seed is '{sd}' but must be an integer from 0 to 4294967295")) : 0;
            if (digits)
                return DigitsCompare.Run(entries, budgets, count, seedValue, run.NonEmptyText(model), run.NonEmptyText(outDir) ?? ".",
                    run.Parse.GetValue(quiet) ? TextWriter.Null : run.Error, run.Output);
            var t = SampleCommand.TargetByName(run.NonEmptyText(target) ?? "ring8");
            var kinds = entries.Select(entry => Entry(entry, t)).ToArray();
            MemoryBudget.Check(count, t.Dimension, "--samples", "lower --samples");
            var folder = OutputFolder.Prepare(run.NonEmptyText(outDir) ?? ".", "--out");
            var progress = run.Parse.GetValue(quiet) ? TextWriter.Null : run.Error;
            var rows = RunGrid(kinds, budgets, t, count, seedValue, progress);
            var floor = Evaluate(t, Targets.sample(Prng.foldIn(0xE8AC7u, Prng.key(seedValue)), count, t));
            Write(folder, t, count, seedValue, rows, floor, run.Output);
            return 0;
        });
    }

    /// <summary>The metrics of a cell: the reference sample is at least as large as the cell (4096 points or more),
    /// so that its own noise does not hide the cell's.</summary>
    public static QualityReport Evaluate(GaussianMixture target, NdArray points) =>
        Metrics.evaluateWith(SampleCommand.MetricsKey, Metrics.defaultProjections, Math.Max(Metrics.defaultReferenceCount, points.BatchSize), target, points);

    /// <summary>The step count that spends at most <paramref name="nfe"/> model evaluations, but at least the
    /// sampler's fewest (<see cref="SamplerSteps.Minimum"/>: KarrasVe needs 2 steps, 3 NFE), so a budget below that
    /// runs the fewest and its row reports the NFE actually spent.</summary>
    public static int StepsFor(TargetSampler sampler, int nfe)
    {
        int steps = SamplerSteps.Minimum(sampler);
        while (TargetSampling.nfe(sampler, steps + 1) <= nfe) steps++;
        return steps;
    }

    /// <summary>A <c>--schedulers</c> entry <c>name[:key=value…]</c>: its label and sampler.</summary>
    public static (string Label, TargetSampler Sampler) Entry(string entry, GaussianMixture target)
    {
        var parts = entry.Split(':', StringSplitOptions.TrimEntries);
        return (entry, SamplerConfigs.Build(SamplerConfigs.ParseKind(parts[0]), null, parts[1..], target));
    }

    /// <summary>Runs every scheduler at every NFE budget (budgets that give the same step count run once).</summary>
    public static List<Row> RunGrid(IEnumerable<(string Label, TargetSampler Sampler)> samplers, IEnumerable<int> budgets, GaussianMixture target, int count, uint seed, TextWriter progress)
    {
        var rows = new List<Row>();
        var list = samplers.ToList();
        // Every cell's schedule is checked before the first runs, so a refused one fails the command at once.
        foreach (var (label, sampler) in list)
            foreach (var budget in budgets)
                SamplerSteps.Check(sampler, StepsFor(sampler, budget), $"--nfe {budget} ({label}, {StepsFor(sampler, budget)} steps)");
        foreach (var (label, sampler) in list)
        {
            var name = SamplerConfigs.Describe(sampler);
            foreach (var steps in budgets.Select(b => StepsFor(sampler, b)).Distinct())
            {
                var clock = Stopwatch.StartNew();
                var points = SampleRun.Run(sampler, target, steps, seed, 0, count, 256);
                double seconds = clock.Elapsed.TotalSeconds;
                var report = Evaluate(target, points);
                var row = new Row(label, name, steps, TargetSampling.nfe(sampler, steps), report, seconds);
                progress.WriteLine($"{row.Scheduler,-12} {row.Nfe,5} NFE  SW2 {report.SlicedWasserstein2:0.0000}  {seconds:0.0} s");
                rows.Add(row);
            }
        }
        return rows;
    }

    private static string F(double v, string format = "0.0000") => v.ToString(format, CultureInfo.InvariantCulture);

    /// <summary>Where a scheduler's curve flattens: the smallest NFE from which every larger budget has a sliced W2
    /// at most 1.5 times that of exact samples of the same size (<paramref name="floor"/>) and a mean log p within
    /// 0.05 of the target's. SW2 alone is blunt: with a few thousand points its floor is set by the sampling noise of
    /// the mode weights, while the log-density gap shows points too spread or too tight within the modes. Null when
    /// the largest budget misses.</summary>
    public static int? FlattensAt(IEnumerable<Row> rows, double floor)
    {
        var list = rows.OrderBy(r => r.Nfe).ToList();
        bool Good(Row r) => r.Report.SlicedWasserstein2 <= 1.5 * floor && Math.Abs(r.Report.MeanLogDensity - r.Report.ReferenceMeanLogDensity) <= 0.05;
        int? from = null;
        for (int i = list.Count - 1; i >= 0 && Good(list[i]); i--) from = list[i].Nfe;
        return from;
    }

    /// <summary>Writes compare.md, compare.csv and compare.png and prints the Markdown.</summary>
    public static void Write(string outDir, GaussianMixture target, int count, uint seed, List<Row> rows, QualityReport floor, TextWriter output)
    {
        var run = RunFiles.Begin(outDir, ManifestName, ["compare.csv", "compare.md", "compare.png"], "compare");
        var csv = new StringBuilder("scheduler,sampler,steps,nfe,sliced_w2,frechet,mode_tv,modes_covered,mean_log_p,ref_log_p,non_finite,seconds\n");
        foreach (var r in rows)
            csv.AppendLine(string.Join(',', $"\"{r.Scheduler}\"", $"\"{r.Sampler}\"", r.Steps, r.Nfe, F(r.Report.SlicedWasserstein2, "R"), F(r.Report.FrechetDistance, "R"),
                F(r.Report.Coverage.TotalVariation, "R"), r.Report.Coverage.ModesCovered, F(r.Report.MeanLogDensity, "R"), F(r.Report.ReferenceMeanLogDensity, "R"),
                r.Report.NonFiniteCount, F(r.Seconds, "0.000")));
        AtomicFile.WriteAllBytes(Path.Combine(outDir, "compare.csv"), Encoding.UTF8.GetBytes(csv.ToString()));

        var md = new StringBuilder();
        md.AppendLine($"Target `{target.Name}`, {count} samples per cell, seed {seed}; metrics against {floor.ReferenceCount} reference points, {floor.Projections} projections.");
        md.AppendLine($"Exact samples of the same size score SW2 {F(floor.SlicedWasserstein2)}, mean log p {F(floor.MeanLogDensity)} (the floor no sampler can beat).");
        md.AppendLine();
        md.AppendLine($"The target's own mean log p is {F(rows.Count > 0 ? rows[0].Report.ReferenceMeanLogDensity : floor.ReferenceMeanLogDensity, "0.000")}.");
        md.AppendLine();
        md.AppendLine("| scheduler | sampler | steps | NFE | SW2 | Fréchet | mode TV | modes | mean log p | time (s) |");
        md.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in rows)
            md.AppendLine($"| `{r.Scheduler}` | {r.Sampler} | {r.Steps} | {r.Nfe} | {F(r.Report.SlicedWasserstein2)} | {F(r.Report.FrechetDistance)} | {F(r.Report.Coverage.TotalVariation, "0.000")} | {r.Report.Coverage.ModesCovered}/{target.ComponentCount} | {F(r.Report.MeanLogDensity, "0.000")} | {F(r.Seconds, "0.0")} |");
        md.AppendLine();
        foreach (var group in rows.GroupBy(r => r.Scheduler))
            md.AppendLine(FlattensAt(group, floor.SlicedWasserstein2) is { } at
                ? $"- `{group.Key}` ({group.First().Sampler}): flat from {at} NFE (from there on SW2 ≤ 1.5 × the exact samples' {F(floor.SlicedWasserstein2)} and mean log p within 0.05 of the target's)."
                : $"- `{group.Key}` ({group.First().Sampler}): not flat within the budgets run.");
        AtomicFile.WriteAllBytes(Path.Combine(outDir, "compare.md"), Encoding.UTF8.GetBytes(md.ToString()));
        output.Write(md.ToString());

        var plot = new ScottPlot.Plot();
        plot.Title($"Sliced W2 against NFE on {target.Name} ({count} samples)");
        var nfes = rows.Select(r => r.Nfe).Distinct().Order().ToArray();
        foreach (var group in rows.GroupBy(r => r.Scheduler))
        {
            var g = group.OrderBy(r => r.Nfe).ToArray();
            var line = plot.Add.Scatter(g.Select(r => Math.Log10(r.Nfe)).ToArray(), g.Select(r => Math.Log10(r.Report.SlicedWasserstein2)).ToArray());
            line.LegendText = group.Key;
            line.LineWidth = 2;
            line.MarkerSize = 7;
        }
        var exact = plot.Add.HorizontalLine(Math.Log10(floor.SlicedWasserstein2));
        exact.LegendText = "exact samples (floor)";
        exact.LinePattern = ScottPlot.LinePattern.Dashed;
        // Ticks at round numbers: the NFE actually spent differ by one between schedulers (KarrasVe spends 2·steps − 1).
        var xTicks = new[] { 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000 }
            .Where(v => v >= nfes.Min() * 0.8 && v <= nfes.Max() * 1.25).ToArray();
        plot.Axes.Bottom.SetTicks(xTicks.Select(n => Math.Log10(n)).ToArray(), xTicks.Select(n => n.ToString(CultureInfo.InvariantCulture)).ToArray());
        var yValues = rows.Select(r => r.Report.SlicedWasserstein2).Append(floor.SlicedWasserstein2).ToArray();
        var yTicks = new[] { 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 3, 5, 10, 20, 50, 100 }.Where(v => v >= yValues.Min() * 0.8 && v <= yValues.Max() * 1.25).ToArray();
        plot.Axes.Left.SetTicks(yTicks.Select(Math.Log10).ToArray(), yTicks.Select(v => v.ToString(CultureInfo.InvariantCulture)).ToArray());
        plot.XLabel("NFE (model evaluations, log scale)");
        plot.YLabel("sliced W2 (log scale)");
        plot.ShowLegend(ScottPlot.Alignment.UpperRight);
        AtomicFile.WriteAllBytes(Path.Combine(outDir, "compare.png"), plot.GetImageBytes(900, 600, ScottPlot.ImageFormat.Png));
        output.WriteLine();
        var manifest = run.Commit($"target={target.Name} samples={count} seed={seed} schedulers={string.Join(',', rows.Select(r => r.Scheduler).Distinct())} nfe={string.Join(',', rows.Select(r => r.Nfe).Distinct())}");
        output.WriteLine($"wrote {Path.Combine(outDir, "compare.md")}, {Path.Combine(outDir, "compare.csv")}, {Path.Combine(outDir, "compare.png")}, {manifest}");
    }
}
