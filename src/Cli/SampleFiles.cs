using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Schedulers.Core;

namespace Schedulers.Cli;

/// <summary>Sample files: CSV (a <c>#</c> line describing the run, a header <c>x0,x1,…</c>, one row per point,
/// float32 values in round-trip text, so reading gives back the same bits) and NumPy <c>.npy</c> (float32,
/// shape (N, D)).</summary>
public static class SampleFiles
{
    /// <summary>Writes <paramref name="samples"/> ([N, D]) as CSV, the first line <c># </c> + <paramref name="comment"/>.</summary>
    public static void WriteCsv(string path, NdArray samples, string comment) =>
        AtomicFile.Write(path, stream => WriteCsv(stream, samples, comment));

    /// <summary>Writes the CSV text of <see cref="WriteCsv(string, NdArray, string)"/> to <paramref name="stream"/>
    /// as it is formatted, so that no text copy of the whole array is held.</summary>
    public static void WriteCsv(Stream stream, NdArray samples, string comment)
    {
        int n = samples.BatchSize, d = samples.Length / Math.Max(1, n);
        using var writer = new StreamWriter(stream, new UTF8Encoding(false), 1 << 16, leaveOpen: true) { NewLine = "\n" };
        writer.Write("# ");
        writer.Write(comment.Replace('\n', ' '));
        writer.Write('\n');
        writer.Write(string.Join(',', Enumerable.Range(0, d).Select(j => $"x{j}")));
        writer.Write('\n');
        Span<char> cell = stackalloc char[32];
        for (int i = 0; i < n; i++)
        {
            var row = samples.Span.Slice(i * d, d);
            for (int j = 0; j < d; j++)
            {
                if (j > 0) writer.Write(',');
                row[j].TryFormat(cell, out int written, "R", CultureInfo.InvariantCulture);
                writer.Write(cell[..written]);
            }
            writer.Write('\n');
        }
    }

    /// <summary>Reads a CSV written by <see cref="WriteCsv(string, NdArray, string)"/>: the comment (without <c># </c>) and the points.</summary>
    public static (string Comment, NdArray Samples) ReadCsv(string path)
    {
        var lines = File.ReadAllLines(path);
        int at = 0;
        string comment = "";
        if (at < lines.Length && lines[at].StartsWith('#')) comment = lines[at++].TrimStart('#').Trim();
        if (at >= lines.Length) throw new InvalidDataException($"{path}: no header line x0,x1,...");
        int d = lines[at++].Split(',').Length;
        var values = new List<float>();
        for (int row = at; row < lines.Length; row++)
        {
            if (lines[row].Length == 0) continue;
            var cells = lines[row].Split(',');
            if (cells.Length != d) throw new InvalidDataException($"{path}: line {row + 1} has {cells.Length} values but the header has {d}");
            foreach (var c in cells)
            {
                if (!float.TryParse(c, NumberStyles.Float, CultureInfo.InvariantCulture, out var v))
                    throw new InvalidDataException($"{path}: line {row + 1} has '{c}', which is not a number");
                values.Add(v);
            }
        }
        return (comment, NdArrayModule.create([values.Count / d, d], values.ToArray()));
    }

    /// <summary>Writes <paramref name="samples"/> as a NumPy .npy file (<see cref="NpyFile.Write(string, NdArray)"/>).</summary>
    public static void WriteNpy(string path, NdArray samples) => NpyFile.Write(path, samples);
}
