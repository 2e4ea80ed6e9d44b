using System.CommandLine;
using System.Diagnostics;
using System.Text.RegularExpressions;
using Schedulers.Core;

namespace Schedulers.Cli;

/// <summary><c>schedulers merge</c>: joins the parts written by <c>schedulers sample --shard i/n</c> into the full
/// samples.csv/.npy/.png (with the quality report), after checking that the parts belong to one run and cover it
/// exactly.</summary>
public sealed partial class MergeCommand : ToolSubcommand<MergeCommand>, IToolSubcommand
{
    [GeneratedRegex(@"^samples\.part-(\d+)-of-(\d+)\.csv$")]
    private static partial Regex PartName();

    /// <inheritdoc/>
    public static Command Create(TextWriter? output = null, TextWriter? error = null)
    {
        var paths = new Argument<string[]>("paths")
        {
            Description = "Part files (samples.part-i-of-n.csv) or folders holding them (default: the current folder).",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var outDir = TextOption("--out", "Output folder (default: the current folder).");
        var command = new Command("merge", "Join the parts of a sharded `schedulers sample` run into samples.csv/.npy/.png with the quality report.")
        {
            paths, outDir,
        };
        // A run fails when its parts are from different runs or leave a gap, or the disk fails while writing.
        return WithAction(command, output, error, x => x is InvalidDataException or IOException, run =>
        {
            var given = run.Parse.GetValue(paths) is { Length: > 0 } p ? p : ["."];
            return Merge(given, run.NonEmptyText(outDir) ?? ".", run.Output);
        });
    }

    /// <summary>The <c>key=value</c> fields and the sampler name of a sample file's comment line.</summary>
    public static (Dictionary<string, string> Fields, string Name) ParseComment(string comment)
    {
        int bar = comment.IndexOf(" | ", StringComparison.Ordinal);
        var head = bar < 0 ? comment : comment[..bar];
        var fields = new Dictionary<string, string>();
        var config = new List<string>();
        foreach (var token in head.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = token.IndexOf('=');
            if (eq <= 0) continue;
            var key = token[..eq];
            if (key.StartsWith("config:", StringComparison.Ordinal)) config.Add(token);
            else fields[key] = token[(eq + 1)..];
        }
        fields["config"] = string.Join(' ', config);
        return (fields, bar < 0 ? "" : comment[(bar + 3)..]);
    }

    /// <summary>Merges the parts found under <paramref name="paths"/> into <paramref name="outDir"/>.</summary>
    public static int Merge(IEnumerable<string> paths, string outDir, TextWriter output)
    {
        var clock = Stopwatch.StartNew();
        var folder = OutputFolder.Prepare(outDir, "--out");
        var files = new List<string>();
        foreach (var path in paths)
        {
            if (Directory.Exists(path)) files.AddRange(Directory.GetFiles(path).Where(f => PartName().IsMatch(Path.GetFileName(f))));
            else if (File.Exists(path)) files.Add(path);
            else throw new UsageException($"no part file or folder at '{path}'");
        }
        if (files.Count == 0) throw new UsageException($"no samples.part-i-of-n.csv files in {string.Join(", ", paths)}");
        var parts = files.Distinct().Select(PartFile.ReadHeader).OrderBy(p => p.First).ToList();
        var first = parts[0];
        // Every part must come from the same run: same target, scheduler, steps, samples, seed, config, shard count.
        string Run(Dictionary<string, string> f) => string.Join(" ", f.Where(kv => kv.Key is not ("first" or "count" or "shard")).OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}={kv.Value}"))
            + " shards=" + f["shard"].Split('/')[^1];
        foreach (var p in parts.Skip(1))
            if (Run(p.Fields) != Run(first.Fields))
                throw new InvalidDataException($"{p.File} is from another run than {first.File} ({Run(p.Fields)} vs {Run(first.Fields)})");
        int total = first.Samples, shards = first.Shards;
        int next = 0;
        foreach (var p in parts)
        {
            if (p.First > next) throw new InvalidDataException($"samples {next}…{p.First - 1} are missing (no part holds them; expected {shards} parts)");
            if (p.First < next) throw new InvalidDataException($"{p.File} overlaps the previous part at sample {p.First}");
            next = p.First + p.Count;
        }
        if (next != total) throw new InvalidDataException($"samples {next}…{total - 1} are missing (no part holds them; expected {shards} parts)");
        var target = first.Target;
        int d = target.Dimension;
        MemoryBudget.Check(total, d, $"{first.File}: samples", "merge it on a machine with more memory");
        var all = new float[(long)total * d];
        foreach (var p in parts) p.ReadPoints().Span.CopyTo(all.AsSpan(p.First * d, p.Count * d));
        var points = NdArrayModule.create([total, d], all);
        int nfe = first.Nfe;
        output.WriteLine($"merged {parts.Count} parts ({total} samples) of {first.Name} on {target.Name}");
        var header = $"schedulers sample {string.Join(" ", first.Fields.Where(kv => kv.Key is not ("first" or "count" or "shard" or "config")).Select(kv => $"{kv.Key}={kv.Value}"))} first=0 count={total} {first.Fields["config"]}".TrimEnd() + " | " + first.Name;
        var written = SampleOutputs.Write(folder, target, points, header, first.Name, nfe, output);
        output.WriteLine($"wall time {clock.Elapsed.TotalSeconds:0.00} s");
        output.WriteLine($"wrote {string.Join(", ", written)}");
        return 0;
    }
}
