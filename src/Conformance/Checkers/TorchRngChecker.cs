using System.Globalization;
using Schedulers.Core;

namespace Schedulers.Conformance.Checkers;

/// <summary>
/// Checks "Generator streams" files (<c>torch_rng.json</c>): what float32 <c>torch.rand</c>/<c>torch.randn</c> return
/// from <c>torch.Generator(device).manual_seed(seed)</c> on the CPU and on a CUDA device, against the core's
/// <see cref="TorchCpu"/> and <see cref="TorchCuda"/> streams. <c>draws_in_order</c> cases draw one size after another
/// from one generator; a draw of more than 1000 values records its first and last 64 values and the float64 sum of all.
/// </summary>
public sealed class TorchRngChecker : IGoldenChecker
{
    /// <summary>The largest draw a file may ask for (values), checked before anything is allocated.</summary>
    public const int MaxDraw = 1 << 26;

    private static readonly HashSet<string> TopLevel = new(StringComparer.Ordinal)
    {
        "source", "format", "torch", "cuda_device", "cuda_multiprocessor_count", "cuda_max_threads_per_multiprocessor", "cases",
    };

    private static readonly HashSet<string> CaseFields = new(StringComparer.Ordinal)
    {
        "device", "seed", "fn", "draws_in_order", "shape", "data",
    };

    /// <inheritdoc />
    /// <remarks>A file of <c>cases</c> whose first case names a <c>device</c> and a <c>fn</c>, and no scheduler.</remarks>
    public bool Recognises(JsonValue root) =>
        Golden.Field(root, "scheduler") is null
        && Golden.Field(root, "cases") is JsonValue.Array { Item: [var first, ..] }
        && Golden.Field(first, "device") is not null && Golden.Field(first, "fn") is not null;

    /// <inheritdoc />
    public IEnumerable<CaseResult> Check(JsonValue root)
    {
        foreach (var (key, _) in Golden.Members(root, "root"))
        {
            if (!TopLevel.Contains(key)) yield return CaseResult.Skip(key, $"field '{key}' is not understood by this runner");
        }
        var cuda = CudaDescription(root);
        var cases = Golden.Items(Golden.Require(root, "cases", "root"), "cases");
        for (int i = 0; i < cases.Length; i++)
        {
            var item = cases[i];
            var name = CaseName(item, i);
            var unknown = item is JsonValue.Object o ? o.Item.Select(t => t.Item1).FirstOrDefault(k => !CaseFields.Contains(k)) : null;
            if (unknown is not null)
            {
                yield return CaseResult.Skip(name, $"field '{unknown}' is not understood by this runner");
                continue;
            }
            yield return CaseChecker.Run(name, c => CheckCase(c, item, cuda));
        }
    }

    /// <summary>The CUDA device the file names: its multiprocessor count, and its threads per multiprocessor from the
    /// file or else from the preset of that name (null when unknown: only draws small enough not to depend on it run).</summary>
    private static (CudaDevice Device, bool ThreadsKnown)? CudaDescription(JsonValue root)
    {
        if (Golden.Field(root, "cuda_multiprocessor_count") is not { } countValue) return null;
        var count = checked((int)Golden.Number(countValue, "cuda_multiprocessor_count"));
        var name = Golden.Field(root, "cuda_device") is { } n ? Golden.Text(n, "cuda_device") : "CUDA device";
        if (Golden.Field(root, "cuda_max_threads_per_multiprocessor") is { } threads)
            return (CudaDevices.create(name, count, checked((int)Golden.Number(threads, "cuda_max_threads_per_multiprocessor"))), true);
        var preset = CudaDevices.presets.Select(p => p.Item2).FirstOrDefault(d => d.Name == name && d.MultiprocessorCount == count);
        return preset is not null ? (preset, true) : (CudaDevices.create(name, count, 256), false);
    }

    private static string CaseName(JsonValue item, int index)
    {
        string Part(string key) => Golden.Field(item, key) switch
        {
            JsonValue.String s => s.Item,
            JsonValue.Number n => n.text,
            _ => "?",
        };
        var form = Golden.Field(item, "shape") is not null ? "shape" : "draws";
        return $"cases[{index}] {Part("device")} seed {Part("seed")} {Part("fn")} {form}";
    }

    private static void CheckCase(CaseChecker c, JsonValue item, (CudaDevice Device, bool ThreadsKnown)? cuda)
    {
        var device = Golden.Text(Golden.Require(item, "device", c.Name), c.Name + ".device");
        var fn = Golden.Text(Golden.Require(item, "fn", c.Name), c.Name + ".fn");
        var seed = ParseSeed(Golden.Require(item, "seed", c.Name), c.Name);
        if (fn is not ("rand" or "randn")) throw new GoldenFormatException($"{c.Name}: fn is '{fn}' but must be rand or randn");
        var draws = Draws(item, c.Name);
        IStream stream = device switch
        {
            "cpu" => new CpuStream(TorchCpu.manualSeed(seed)),
            "cuda" => cuda is { } d ? new CudaStream(TorchCuda.manualSeed(d.Device, seed), d.ThreadsKnown) : throw new GoldenFormatException($"{c.Name}: a cuda case needs the file's cuda_multiprocessor_count"),
            _ => throw new GoldenFormatException($"{c.Name}: device is '{device}' but must be cpu or cuda"),
        };
        var tolerance = fn == "rand" ? Tolerance.Exact : device == "cpu" ? Tolerance.TorchCpuRandn : Tolerance.TorchCudaRandn;
        for (int k = 0; k < draws.Length; k++)
        {
            var (count, data) = draws[k];
            var values = stream.Draw(fn, count);
            var field = $"draw {k} (n={count})";
            if (data is JsonValue.Array)
            {
                c.Compare(field, Numbers(data, c.Name), values.Select(v => (double)v).ToArray(), tolerance);
                continue;
            }
            var first = Numbers(Golden.Require(data, "first", c.Name), c.Name);
            var last = Numbers(Golden.Require(data, "last", c.Name), c.Name);
            if (first.Length > count || last.Length > count) throw new GoldenFormatException($"{c.Name}: {field} records more values than it draws");
            c.Compare(field + " first", first, values.Take(first.Length).Select(v => (double)v).ToArray(), tolerance);
            c.Compare(field + " last", last, values.Skip(count - last.Length).Select(v => (double)v).ToArray(), tolerance);
            if (Golden.Field(data, "sum") is { } sum)
            {
                // |Σa − Σe| ≤ Σ|a_i − e_i|: the elementwise tolerance summed, plus the rounding of a float64 sum
                // taken in another order.
                double total = 0, magnitude = 0;
                foreach (var v in values)
                {
                    total += v;
                    magnitude += Math.Abs(v);
                }
                var bound = count * tolerance.Atol + (tolerance.Rtol + 1e-12) * magnitude;
                var expected = Golden.Number(sum, c.Name + ".sum");
                c.Compare(field + " sum", expected, Math.Abs(total - expected) <= bound ? expected : total, Tolerance.Exact);
            }
        }
    }

    /// <summary>The draws of a case: each size with its recorded data (a shape case is one draw of the shape's size).</summary>
    private static (int Count, JsonValue Data)[] Draws(JsonValue item, string where)
    {
        if (Golden.Field(item, "draws_in_order") is { } inOrder)
        {
            return Golden.Items(inOrder, where + ".draws_in_order")
                .Select(d => (Size(Golden.Number(Golden.Require(d, "n", where), where + ".n"), where), Golden.Require(d, "data", where)))
                .ToArray();
        }
        var shape = Golden.Items(Golden.Require(item, "shape", where), where + ".shape").Select(v => Golden.Number(v, where + ".shape")).ToArray();
        double product = 1;
        foreach (var d in shape)
        {
            if (d < 0 || d != Math.Floor(d)) throw new GoldenFormatException($"{where}: shape has dimension {d}");
            product *= d;
        }
        return new[] { (Size(product, where), Golden.Require(item, "data", where)) };
    }

    private static int Size(double n, string where) =>
        n >= 0 && n <= MaxDraw && n == Math.Floor(n)
            ? (int)n
            : throw new GoldenFormatException($"{where}: a draw of {n} values is outside 0..{MaxDraw}");

    private static double[] Numbers(JsonValue value, string where) =>
        Golden.Items(value, where).Select(v => Golden.Number(v, where)).ToArray();

    /// <summary>A seed as torch reads it: a non-negative integer below 2^64, or a negative one as its two's complement.</summary>
    private static ulong ParseSeed(JsonValue value, string where)
    {
        if (value is JsonValue.Number n)
        {
            if (ulong.TryParse(n.text, NumberStyles.None, CultureInfo.InvariantCulture, out var u)) return u;
            if (long.TryParse(n.text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l)) return unchecked((ulong)l);
        }
        throw new GoldenFormatException($"{where}: seed must be an integer of at most 64 bits");
    }

    private interface IStream
    {
        float[] Draw(string fn, int count);
    }

    private sealed class CpuStream(TorchCpuGenerator start) : IStream
    {
        private TorchCpuGenerator _state = start;

        public float[] Draw(string fn, int count)
        {
            var (values, next) = fn == "rand" ? TorchCpu.rand(count, _state) : TorchCpu.randn(count, _state);
            _state = next;
            return values;
        }
    }

    private sealed class CudaStream(TorchCudaGenerator start, bool threadsKnown) : IStream
    {
        private TorchCudaGenerator _state = start;

        public float[] Draw(string fn, int count)
        {
            // Without the threads per multiprocessor, only draws of one round per thread (at most one block of 256 per
            // multiprocessor when the count is not known) have a known layout.
            if (!threadsKnown && count > _state.Device.UniformLayoutLimit)
                throw new GoldenFormatException($"a draw of {count} values on an unknown device needs cuda_max_threads_per_multiprocessor");
            var (values, next) = fn == "rand" ? TorchCuda.rand(count, _state) : TorchCuda.randn(count, _state);
            _state = next;
            return values;
        }
    }
}
