using Schedulers.Core;
using Schedulers.Evaluation;

namespace Schedulers.Cli;

/// <summary>A grid of digit images as one greyscale picture: up to <see cref="MaxImages"/> images, ten to a row, each
/// 8×8 image scaled up by <see cref="Scale"/> with a grey border between, pixel value −1 (the digits' background)
/// white and +1 black ink, as the data set's scans show them; values outside [−1, 1] are clamped, NaN is drawn
/// mid-grey.</summary>
public static class DigitsGrid
{
    /// <summary>The most images drawn.</summary>
    public const int MaxImages = 100;
    /// <summary>Images per row.</summary>
    public const int PerRow = 10;
    /// <summary>Screen pixels per image pixel.</summary>
    public const int Scale = 4;
    /// <summary>Border width between images.</summary>
    public const int Gap = 2;

    /// <summary>The picture's width, height and pixels for the first images of <paramref name="images"/> ([N, 64]).</summary>
    public static (int Width, int Height, byte[] Pixels) Render(NdArray images)
    {
        int n = Math.Min(MaxImages, images.Shape[0]);
        int cell = Digits.Side * Scale;
        int rows = Math.Max(1, (n + PerRow - 1) / PerRow);
        int width = Gap + PerRow * (cell + Gap), height = Gap + rows * (cell + Gap);
        var pixels = new byte[width * height];
        Array.Fill(pixels, (byte)160);
        var data = images.Span;
        for (int i = 0; i < n; i++)
        {
            int left = Gap + (i % PerRow) * (cell + Gap), top = Gap + (i / PerRow) * (cell + Gap);
            for (int y = 0; y < cell; y++)
                for (int x = 0; x < cell; x++)
                {
                    float v = data[i * Digits.Pixels + (y / Scale) * Digits.Side + x / Scale];
                    byte grey = float.IsNaN(v) ? (byte)128 : (byte)Math.Round(255 * (1 - Math.Clamp(v, -1f, 1f)) / 2);
                    pixels[(top + y) * width + left + x] = grey;
                }
        }
        return (width, height, pixels);
    }

    /// <summary>Writes the grid of <paramref name="images"/> as a PNG, atomically.</summary>
    public static void WritePng(string path, NdArray images)
    {
        var (w, h, pixels) = Render(images);
        PngFile.Write(path, w, h, pixels);
    }
}
