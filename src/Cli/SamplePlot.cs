using System.Globalization;
using Schedulers.Core;
using Schedulers.Evaluation;
using ScottPlot;

namespace Schedulers.Cli;

/// <summary>PNG pictures of a sample cloud against its target: the exact density as a heat map (2-D, or the first
/// two coordinates of a higher-dimensional target, whose marginal is exact for diagonal covariances) with the
/// samples as points and the component means as crosses; a 1-D target as a histogram under the exact density.</summary>
public static class SamplePlot
{
    /// <summary>The number of heat-map cells along each axis.</summary>
    private const int GridCells = 200;

    /// <summary>Writes the picture of <paramref name="samples"/> (shape [B, D]) over <paramref name="target"/> to a
    /// PNG file. The title is <paramref name="title"/> (e.g. the scheduler's name) with the target's name and, when
    /// <paramref name="report"/> is given, its metrics on a second line. Non-finite points are left out.</summary>
    public static void WritePng(string path, GaussianMixture target, NdArray samples, string title,
        QualityReport? report = null, int width = 800, int height = 800)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        // Rendered in memory and renamed into place: a crash or a full disk leaves the old picture, never a part.
        AtomicFile.WriteAllBytes(path, RenderPng(target, samples, title, report, width, height));
    }

    /// <summary>The PNG bytes of the same picture as <see cref="WritePng"/>.</summary>
    public static byte[] RenderPng(GaussianMixture target, NdArray samples, string title,
        QualityReport? report = null, int width = 800, int height = 800) =>
        Create(target, samples, title, report).GetImageBytes(width, height, ImageFormat.Png);

    /// <summary>The ScottPlot figure, for callers that want to change it before saving.</summary>
    public static Plot Create(GaussianMixture target, NdArray samples, string title, QualityReport? report = null)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(samples);
        ArgumentNullException.ThrowIfNull(title);
        int d = target.Dimension;
        if (samples.Rank < 2 || samples.Length != samples.BatchSize * d)
            throw new ArgumentException(
                $"samples has shape {samples.ShapeText} but the target '{target.Name}' needs [B,{d}]", nameof(samples));
        var plot = new Plot();
        var heading = string.IsNullOrWhiteSpace(title) ? target.Name : $"{title} on {target.Name}";
        if (report is not null) heading += "\n" + Metrics.summaryLine(report);
        plot.Title(heading, 14);
        if (d == 1) DrawLine(plot, target, samples);
        else DrawPlane(plot, target, samples);
        return plot;
    }

    /// <summary>The finite points of the first <paramref name="axes"/> coordinates of each row.</summary>
    private static List<double[]> FinitePoints(NdArray samples, int axes)
    {
        var data = samples.ToArray();
        int d = samples.Length / samples.BatchSize;
        var points = new List<double[]>(samples.BatchSize);
        for (int i = 0; i < samples.BatchSize; i++)
        {
            var p = new double[axes];
            bool finite = true;
            for (int j = 0; j < axes; j++)
            {
                p[j] = data[i * d + j];
                finite &= double.IsFinite(p[j]);
            }
            if (finite) points.Add(p);
        }
        return points;
    }

    /// <summary>The view along one axis: the target's means ± 4 std, widened to hold the samples' central 99%
    /// but never beyond three times the target's span (so a diverged sampler does not shrink the target to a dot).</summary>
    private static (double Lo, double Hi) AxisRange(GaussianMixture view, int axis, IReadOnlyList<double[]> points)
    {
        double lo = double.PositiveInfinity, hi = double.NegativeInfinity;
        for (int k = 0; k < view.ComponentCount; k++)
        {
            double s = Math.Sqrt(view.Variances[k][axis]);
            lo = Math.Min(lo, view.Means[k][axis] - 4 * s);
            hi = Math.Max(hi, view.Means[k][axis] + 4 * s);
        }
        if (points.Count > 0)
        {
            var sorted = points.Select(p => p[axis]).Order().ToArray();
            double qLo = sorted[(int)(0.005 * (sorted.Length - 1))];
            double qHi = sorted[(int)Math.Ceiling(0.995 * (sorted.Length - 1))];
            double span = hi - lo, mid = 0.5 * (hi + lo);
            lo = Math.Max(Math.Min(lo, qLo), mid - 1.5 * span);
            hi = Math.Min(Math.Max(hi, qHi), mid + 1.5 * span);
        }
        return (lo, hi);
    }

    private static void DrawPlane(Plot plot, GaussianMixture target, NdArray samples)
    {
        var view = target.Dimension == 2 ? target : Targets.marginal([0, 1], target);
        var points = FinitePoints(samples, 2);
        var (x0, x1) = AxisRange(view, 0, points);
        var (y0, y1) = AxisRange(view, 1, points);

        // Row 0 of the intensities is drawn at the top, so rows run from y1 down to y0.
        var density = new double[GridCells, GridCells];
        double dx = (x1 - x0) / GridCells, dy = (y1 - y0) / GridCells;
        var xy = new double[2];
        for (int r = 0; r < GridCells; r++)
        {
            xy[1] = y1 - (r + 0.5) * dy;
            for (int c = 0; c < GridCells; c++)
            {
                xy[0] = x0 + (c + 0.5) * dx;
                density[r, c] = Math.Exp(Targets.logDensityAt(view, xy));
            }
        }
        var heat = plot.Add.Heatmap(density);
        heat.Extent = new CoordinateRect(x0, x1, y0, y1);
        heat.Colormap = new ScottPlot.Colormaps.Viridis();
        heat.Smooth = true;

        var markers = plot.Add.Markers(points.Select(p => p[0]).ToArray(), points.Select(p => p[1]).ToArray(),
            MarkerShape.FilledCircle, 3, Colors.White.WithAlpha(0.55));
        markers.LegendText = $"samples ({points.Count.ToString(CultureInfo.InvariantCulture)})";
        var means = plot.Add.Markers(view.Means.Select(m => m[0]).ToArray(), view.Means.Select(m => m[1]).ToArray(),
            MarkerShape.Cross, 9, Colors.OrangeRed);
        means.LegendText = "component means";
        plot.ShowLegend(Alignment.UpperRight);
        // A dark legend, so the white sample marker shows in it as on the heat map.
        plot.Legend.BackgroundColor = Colors.Black.WithAlpha(0.6);
        plot.Legend.FontColor = Colors.White;
        plot.Legend.OutlineColor = Colors.White.WithAlpha(0.4);
        plot.Axes.SetLimits(x0, x1, y0, y1);
        plot.XLabel(target.Dimension == 2 ? "x₁" : "x₁ (first of " + target.Dimension + " coordinates)");
        plot.YLabel("x₂");
    }

    private static void DrawLine(Plot plot, GaussianMixture target, NdArray samples)
    {
        var points = FinitePoints(samples, 1);
        var (lo, hi) = AxisRange(target, 0, points);
        int bins = Math.Clamp((int)Math.Sqrt(Math.Max(points.Count, 1)), 10, 80);
        double width = (hi - lo) / bins;
        var counts = new double[bins];
        foreach (var p in points)
        {
            int b = (int)Math.Floor((p[0] - lo) / width);
            if (b >= 0 && b < bins) counts[b]++;
        }
        // A density histogram: counts / (N · bin width), on the same scale as p(x).
        var bars = plot.Add.Bars(Enumerable.Range(0, bins).Select(b => lo + (b + 0.5) * width).ToArray(),
            counts.Select(c => points.Count == 0 ? 0 : c / (points.Count * width)).ToArray());
        foreach (var bar in bars.Bars)
        {
            bar.Size = width;
            bar.FillColor = Colors.SteelBlue.WithAlpha(0.6);
            bar.LineWidth = 0;
        }
        bars.LegendText = $"samples ({points.Count.ToString(CultureInfo.InvariantCulture)})";

        const int curve = 400;
        var xs = Enumerable.Range(0, curve).Select(i => lo + (hi - lo) * i / (curve - 1)).ToArray();
        var line = plot.Add.ScatterLine(xs, xs.Select(x => Math.Exp(Targets.logDensityAt(target, [x]))).ToArray(),
            Colors.OrangeRed);
        line.LineWidth = 2;
        line.LegendText = "target density";
        var means = plot.Add.Markers(target.Means.Select(m => m[0]).ToArray(),
            target.Means.Select(m => Math.Exp(Targets.logDensityAt(target, m))).ToArray(), MarkerShape.Cross, 11, Colors.Black);
        means.LegendText = "component means";
        plot.ShowLegend(Alignment.UpperRight);
        plot.Axes.SetLimitsX(lo, hi);
        plot.Axes.Margins(bottom: 0);
        plot.XLabel("x");
        plot.YLabel("density");
    }
}
