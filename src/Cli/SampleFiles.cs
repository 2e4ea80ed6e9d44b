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
        WriteAtomic(path, Encoding.UTF8.GetBytes(sb.ToString()));
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

    /// <summary>Writes <paramref name="samples"/> as a NumPy .npy file (version 1.0, little-endian float32, C order).</summary>
    public static void WriteNpy(string path, NdArray samples)
    {
        var shape = samples.Shape;
        var dims = string.Join(", ", shape) + (shape.Length == 1 ? "," : "");
        var header = $"{{'descr': '<f4', 'fortran_order': False, 'shape': ({dims}), }}";
        int total = 10 + header.Length + 1;
        header = header.PadRight(header.Length + (64 - total % 64) % 64) + "\n";
        var bytes = new byte[10 + header.Length + 4 * samples.Length];
        bytes[0] = 0x93;
        "NUMPY"u8.CopyTo(bytes.AsSpan(1));
        bytes[6] = 1;
        bytes[7] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), (ushort)header.Length);
        Encoding.ASCII.GetBytes(header).CopyTo(bytes, 10);
        var data = samples.ToArray();
        for (int i = 0; i < data.Length; i++)
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(10 + header.Length + 4 * i), data[i]);
        WriteAtomic(path, bytes);
    }

    /// <summary>Writes a whole file through a temporary name, so a reader never sees half a file.</summary>
    private static void WriteAtomic(string path, byte[] content)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var temp = full + "." + Guid.NewGuid().ToString("N") + ".tmp";
        File.WriteAllBytes(temp, content);
        File.Move(temp, full, overwrite: true);
    }
}
