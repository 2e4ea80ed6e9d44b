using Schedulers.Cli;
using Schedulers.Core;
using Schedulers.Evaluation;
using SkiaSharp;

namespace Schedulers.Tests;

/// <summary>The sample plot writes a real PNG (SkiaSharp's native library loads on Linux) of the requested size
/// that shows the density, the samples and the means.</summary>
public class SamplePlotTests
{
    private static (SKBitmap Bitmap, string Path) Write(GaussianMixture target, NdArray samples, int width, int height)
    {
        var path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"sample-plot-{Guid.NewGuid():N}", target.Name + ".png");
        var report = Metrics.evaluateWith(Prng.key(1), 16, 500, target, samples);
        SamplePlot.WritePng(path, target, samples, "exact draws", report, width, height);
        var bytes = File.ReadAllBytes(path);
        Assert.True(bytes.Length > 1000, $"{path} has only {bytes.Length} bytes");
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
        var bitmap = SKBitmap.Decode(bytes);
        Assert.NotNull(bitmap);
        return (bitmap, path);
    }

    private static int DistinctColours(SKBitmap bitmap) =>
        bitmap.Pixels.Select(p => (uint)p).Distinct().Count();

    [Theory]
    [InlineData("ring8")]
    [InlineData("moons")]
    [InlineData("gaussian64")]
    public void Plane_plot_is_a_png_of_the_requested_size_and_not_blank(string name)
    {
        var target = Targets.byName(name);
        var samples = Targets.sample(Prng.key(2), 500, target);
        var (bitmap, path) = Write(target, samples, 640, 480);
        using (bitmap)
        {
            Assert.Equal(640, bitmap.Width);
            Assert.Equal(480, bitmap.Height);
            // A heat map, white points and text give thousands of colours; a blank canvas gives one.
            Assert.True(DistinctColours(bitmap) > 500, $"{path} has only {DistinctColours(bitmap)} colours");
            // The middle of the data area is covered by the heat map, not the white background.
            var centre = bitmap.GetPixel(320, 250);
            Assert.False(centre is { Red: 255, Green: 255, Blue: 255 }, $"{path} is white at its centre");
        }
        File.Delete(path);
    }

    [Fact]
    public void Line_plot_draws_the_histogram_and_the_density()
    {
        var target = Targets.line1d;
        var (bitmap, path) = Write(target, Targets.sample(Prng.key(3), 2000, target), 500, 400);
        using (bitmap)
        {
            Assert.Equal((500, 400), (bitmap.Width, bitmap.Height));
            var colours = bitmap.Pixels.Count(p => p.Red < 200 || p.Green < 200 || p.Blue < 200);
            Assert.True(colours > 500 * 400 / 50, $"{path} has only {colours} coloured pixels");
        }
        File.Delete(path);
    }

    [Fact]
    public void Report_table_lists_each_sampler_from_CSharp()
    {
        var target = Targets.ring8;
        var exact = Metrics.evaluateWith(Prng.key(5), 16, 300, target, Targets.sample(Prng.key(6), 300, target));
        var collapsed = Metrics.evaluateWith(Prng.key(5), 16, 300, target,
            NdArrayModule.create([2, 2], [4f, 0f, 4.1f, 0f]));
        var table = Metrics.formatTable([Tuple.Create("exact", exact), Tuple.Create("collapsed", collapsed)]);
        var lines = table.TrimEnd().Split('\n');
        Assert.Equal("target ring8, 300 reference points, 16 projections", lines[0]);
        Assert.StartsWith("exact ", lines[3]);
        Assert.StartsWith("collapsed ", lines[4]);
        Assert.Contains(" 1/8 ", lines[4]);
        Assert.All(lines[1..], l => Assert.Equal(lines[1].Length, l.Length));
    }

    [Fact]
    public void Non_finite_points_are_left_out_and_a_wrong_shape_is_named()
    {
        var data = Targets.sample(Prng.key(4), 50, Targets.ring8).ToArray();
        data[0] = float.NaN;
        data[7] = float.PositiveInfinity;
        var png = SamplePlot.RenderPng(Targets.ring8, NdArrayModule.create([50, 2], data), "diverged", null, 300, 300);
        using var bitmap = SKBitmap.Decode(png);
        Assert.Equal(300, bitmap.Width);

        var ex = Assert.Throws<ArgumentException>(() =>
            SamplePlot.RenderPng(Targets.ring8, NdArrayModule.zeros([4, 3]), "x", null, 100, 100));
        Assert.Equal("samples", ex.ParamName);
        Assert.Contains("[4,3]", ex.Message);
    }
}
