using Schedulers.Conformance.Checkers;
using Schedulers.Core;

namespace Schedulers.Conformance;

/// <summary>
/// Walks golden files and directories (as the golden README describes), checks every case with the first
/// registered checker that recognises its file, and reports per file and in total.
/// </summary>
public sealed class ConformanceRunner
{
    private readonly IReadOnlyList<IGoldenChecker> _checkers;
    private readonly IRealConfigsChecker? _realConfigs;

    /// <summary>A runner with the given checkers (asked in order) and an optional real-configs directory checker.</summary>
    public ConformanceRunner(IEnumerable<IGoldenChecker> checkers, IRealConfigsChecker? realConfigs = null)
    {
        _checkers = checkers.ToList();
        _realConfigs = realConfigs;
    }

    /// <summary>A runner with every checker this build has.</summary>
    public static ConformanceRunner CreateDefault() => new(CheckerRegistry.All(), CheckerRegistry.RealConfigs());

    /// <summary>The golden files under a path: the file itself, or a directory walked recursively; a directory with
    /// an <c>expected.json</c> is a real-configs directory and is returned as the directory.</summary>
    public static IEnumerable<string> Expand(string path)
    {
        if (File.Exists(path))
        {
            yield return path;
            yield break;
        }
        if (!Directory.Exists(path)) throw new FileNotFoundException($"no golden file or directory at '{path}'", path);
        if (File.Exists(Path.Combine(path, "expected.json")))
        {
            yield return path;
            yield break;
        }
        foreach (var file in Directory.GetFiles(path).Where(Golden.IsGoldenFileName).Order(StringComparer.Ordinal))
            yield return file;
        foreach (var dir in Directory.GetDirectories(path).Order(StringComparer.Ordinal))
            foreach (var inner in Expand(dir)) yield return inner;
    }

    /// <summary>Checks one golden file, or one real-configs directory.</summary>
    public FileResult CheckPath(string path)
    {
        var name = Golden.DisplayName(path);
        if (Directory.Exists(path))
        {
            if (_realConfigs is null)
                return new FileResult(path, name, new[] { CaseResult.Skip("expected.json", "real-configs checks are not built yet") });
            return new FileResult(path, name, Safe(() => _realConfigs.Check(path)));
        }
        JsonValue root;
        try
        {
            root = Golden.Load(path);
        }
        catch (Exception e) when (e is IOException or JsonParseException or InvalidDataException or UnauthorizedAccessException)
        {
            return new FileResult(path, name, new[] { CaseResult.Error("(file)", $"cannot read: {e.Message}") });
        }
        var checker = _checkers.FirstOrDefault(c => c.Recognises(root));
        if (checker is null)
            return new FileResult(path, name, new[] { CaseResult.Skip("(file)", "no checker recognises this file") });
        return new FileResult(path, name, Safe(() => checker.Check(root)));
    }

    private static IReadOnlyList<CaseResult> Safe(Func<IEnumerable<CaseResult>> cases)
    {
        var results = new List<CaseResult>();
        try
        {
            foreach (var c in cases()) results.Add(c);
        }
        catch (Exception e) when (e is GoldenFormatException or JsonParseException or FormatException or IOException)
        {
            results.Add(CaseResult.Error("(file)", $"malformed golden file: {e.Message}"));
        }
        return results;
    }

    /// <summary>Checks every path, writing one line per file, the first mismatch of each failing case, and the
    /// closing <c>conformance: N passed, M failed, K skipped</c> line. Returns the totals.</summary>
    public (int Passed, int Failed, int Skipped) Run(IEnumerable<string> paths, TextWriter output, bool verbose = false)
    {
        int passed = 0, failed = 0, skipped = 0;
        foreach (var path in paths.SelectMany(Expand))
        {
            var result = CheckPath(path);
            passed += result.Passed;
            failed += result.Failed;
            skipped += result.Skipped;
            output.WriteLine($"{result.Name}: {result.Passed} passed, {result.Failed} failed, {result.Skipped} skipped");
            foreach (var c in result.Cases)
            {
                if (c.Status == CaseStatus.Failed)
                    output.WriteLine($"  FAIL {c.Case}: {(c.FirstMismatch?.ToString() ?? c.Reason)}");
                else if (verbose && c.Status == CaseStatus.Skipped)
                    output.WriteLine($"  skip {c.Case}: {c.Reason}");
            }
        }
        output.WriteLine($"conformance: {passed} passed, {failed} failed, {skipped} skipped");
        return (passed, failed, skipped);
    }
}

/// <summary>Checks a real-configs directory (config files plus <c>expected.json</c>).</summary>
public interface IRealConfigsChecker
{
    /// <summary>One result per config file named in the directory's <c>expected.json</c>.</summary>
    IEnumerable<CaseResult> Check(string directory);
}
