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
    public static void WriteCsv(string path, NdArray samples, string comment)
    {
        int n = samples.BatchSize, d = samples.Length / Math.Max(1, n);
        var data = samples.ToArray();
        var sb = new StringBuilder(n * d * 12 + 64);
        sb.Append("# ").Append(comment.Replace('\n', ' ')).Append('\n');
        sb.AppendJoin(',', Enumerable.Range(0, d).Select(j => $"x{j}")).Append('\n');
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < d; j++)
            {
                if (j > 0) sb.Append(',');
                sb.Append(data[i * d + j].ToString("R", CultureInfo.InvariantCulture));
            }
            sb.Append('\n');
        }
        AtomicFile.WriteAllBytes(path, Encoding.UTF8.GetBytes(sb.ToString()));
    }

    /// <summary>Reads a CSV written by <see cref="WriteCsv"/>: the comment (without <c># </c>) and the points.</summary>
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

    /// <summary>Writes <paramref name="samples"/> as a NumPy .npy file (<see cref="NpyFile.Write"/>).</summary>
    public static void WriteNpy(string path, NdArray samples) => NpyFile.Write(path, samples);
}
