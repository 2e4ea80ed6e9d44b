namespace Schedulers.Conformance;

/// <summary>
/// Collects the comparisons of one case and remembers the first mismatch. A checker calls <see cref="Compare(string, GoldenArray, ReadOnlySpan{float}, Tolerance)"/>
/// for every recorded field, then <see cref="Result"/>.
/// </summary>
public sealed class CaseChecker(string caseName)
{
    private Mismatch? _first;

    /// <summary>The case's name as reports show it.</summary>
    public string Name { get; } = caseName;

    /// <summary>True while nothing has mismatched.</summary>
    public bool Ok => _first is null;

    /// <summary>Compares a float32 result with a golden array (shape by element count; the golden shape is checked by the caller where it matters).</summary>
    public void Compare(string field, GoldenArray expected, ReadOnlySpan<float> actual, Tolerance tolerance)
    {
        var a = new double[actual.Length];
        for (int i = 0; i < a.Length; i++) a[i] = actual[i];
        Compare(field, expected.Data, a, tolerance);
    }

    /// <summary>Compares integer results (uint32 words, int64 timesteps) exactly.</summary>
    public void Compare(string field, GoldenArray expected, ReadOnlySpan<uint> actual)
    {
        var a = new double[actual.Length];
        for (int i = 0; i < a.Length; i++) a[i] = actual[i];
        Compare(field, expected.Data, a, Tolerance.Exact);
    }

    /// <summary>Compares doubles with a tolerance; a length difference is a mismatch at the shorter length.</summary>
    public void Compare(string field, ReadOnlySpan<double> expected, ReadOnlySpan<double> actual, Tolerance tolerance)
    {
        if (_first is not null) return;
        int i = tolerance.FirstMismatch(expected, actual);
        if (i < 0) return;
        if (expected.Length != actual.Length)
        {
            _first = new Mismatch(field + $" (length {actual.Length}, expected {expected.Length})", i, double.NaN, double.NaN, tolerance.Name);
            return;
        }
        _first = new Mismatch(field, i, expected[i], actual[i], tolerance.Name);
    }

    /// <summary>Compares one scalar.</summary>
    public void Compare(string field, double expected, double actual, Tolerance tolerance) =>
        Compare(field, new[] { expected }, new[] { actual }, tolerance);

    /// <summary>The case's result: passed, or failed at the first mismatch.</summary>
    public CaseResult Result() => _first is null ? CaseResult.Pass(Name) : new CaseResult(Name, CaseStatus.Failed, _first);

    /// <summary>Runs one case: the body compares values; an exception is the case's failure with its message.</summary>
    public static CaseResult Run(string name, Action<CaseChecker> body)
    {
        var checker = new CaseChecker(name);
        try
        {
            body(checker);
            return checker.Result();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return CaseResult.Error(name, $"{e.GetType().Name}: {e.Message}");
        }
    }
}
