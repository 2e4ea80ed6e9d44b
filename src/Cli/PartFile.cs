using System.Globalization;
using Schedulers.Core;
using Schedulers.Evaluation;

namespace Schedulers.Cli;

/// <summary>The first line of a part written by <c>schedulers sample --shard i/n</c>, checked field by field: every
/// field <c>merge</c> relies on must be present and in range, so that a hand-edited or damaged part stops the tool
/// with one line naming the file and the field (exit code 2) instead of an exception.</summary>
public sealed record PartFile
{
    /// <summary>The largest run <c>sample</c> accepts (its <c>--samples</c> bound).</summary>
    public const int MaxSamples = 50_000_000;

    /// <summary>The file.</summary>
    public required string File { get; init; }
    /// <summary>The <c>key=value</c> fields of the first line (<see cref="MergeCommand.ParseComment"/>).</summary>
    public required Dictionary<string, string> Fields { get; init; }
    /// <summary>The sampler's description after <c> | </c>.</summary>
    public required string Name { get; init; }
    /// <summary>The built-in target named by <c>target=</c>.</summary>
    public required GaussianMixture Target { get; init; }
    /// <summary>N of the whole run (<c>samples=</c>).</summary>
    public int Samples { get; init; }
    /// <summary>The part's first global sample index (<c>first=</c>).</summary>
    public int First { get; init; }
    /// <summary>The part's number of samples (<c>count=</c>).</summary>
    public int Count { get; init; }
    /// <summary>The number of shards of the run (n of <c>shard=i/n</c>).</summary>
    public int Shards { get; init; }
    /// <summary>The model evaluations of the run (<c>nfe=</c>, else <c>steps=</c>, else 0).</summary>
    public int Nfe { get; init; }

    /// <summary>Reads and checks the first line of <paramref name="file"/> (not its rows).</summary>
    public static PartFile ReadHeader(string file)
    {
        string? line;
        try
        {
            using var reader = new StreamReader(file);
            line = reader.ReadLine();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"{file}: cannot be read ({e.Message})");
        }
        if (line is null || !line.StartsWith('#'))
            throw new UsageException($"{file}: its first line is not a '# schedulers sample …' line; not a part written by schedulers sample --shard");
        var (fields, name) = MergeCommand.ParseComment(line.TrimStart('#').Trim());
        string Field(string key) => fields.TryGetValue(key, out var v)
            ? v : throw new UsageException($"{file}: its first line has no {key}=…; not a part written by schedulers sample --shard");
        int Int(string key, string text, int min, int max) =>
            int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v >= min && v <= max
                ? v : throw new UsageException($"{file}: {key}={text} must be an integer from {min} to {max}");
        int samples = Int("samples", Field("samples"), 1, MaxSamples);
        int first = Int("first", Field("first"), 0, samples);
        int count = Int("count", Field("count"), 0, samples - first);
        var shard = Field("shard").Split('/');
        if (shard.Length != 2) throw new UsageException($"{file}: shard={fields["shard"]} must be i/n");
        int shards = Int("shard", shard[1], 1, MaxSamples);
        Int("shard", shard[0], 0, shards - 1);
        var targetName = Field("target");
        var target = Targets.builtIns.FirstOrDefault(t => t.Name == targetName)
            ?? throw new UsageException($"{file}: target={targetName} is not a built-in target ({string.Join(", ", Targets.builtIns.Select(t => t.Name))})");
        int nfe = fields.TryGetValue("nfe", out var n) ? Int("nfe", n, 0, int.MaxValue)
            : fields.TryGetValue("steps", out var st) ? Int("steps", st, 0, int.MaxValue) : 0;
        return new PartFile
        {
            File = file, Fields = fields, Name = name, Target = target,
            Samples = samples, First = first, Count = count, Shards = shards, Nfe = nfe,
        };
    }

    /// <summary>Reads the part's rows and checks them against its first line: one column per dimension of the
    /// target, named x0, x1, …, and <see cref="Count"/> rows of numbers.</summary>
    public NdArray ReadPoints()
    {
        int d = Target.Dimension;
        using var lines = System.IO.File.ReadLines(File).Skip(1).GetEnumerator();
        var expected = string.Join(',', Enumerable.Range(0, d).Select(j => $"x{j}"));
        var header = lines.MoveNext() ? lines.Current : "";
        if (header != expected)
            throw new UsageException($"{File}: its header is '{header}' but target={Target.Name} needs the {d} columns {expected}");
        var values = new float[(long)Count * d];
        int row = 0, lineNumber = 2;
        while (lines.MoveNext())
        {
            lineNumber++;
            if (lines.Current.Length == 0) continue;
            if (row >= Count) throw new UsageException($"{File}: count={Count} but it has more rows (line {lineNumber})");
            var cells = lines.Current.Split(',');
            if (cells.Length != d) throw new UsageException($"{File}: line {lineNumber} has {cells.Length} values but target={Target.Name} has dimension {d}");
            for (int j = 0; j < d; j++)
                if (!float.TryParse(cells[j], NumberStyles.Float, CultureInfo.InvariantCulture, out values[row * d + j]))
                    throw new UsageException($"{File}: line {lineNumber} column x{j} is '{cells[j]}', which is not a number");
            row++;
        }
        if (row != Count) throw new UsageException($"{File}: count={Count} but it has {row} rows");
        return NdArrayModule.create([Count, d], values);
    }
}
