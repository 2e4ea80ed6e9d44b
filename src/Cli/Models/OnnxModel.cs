using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Schedulers.Core;
using Schedulers.Models;

namespace Schedulers.Cli.Models;

/// <summary>An ONNX model run by ONNX Runtime on the CPU, with two float inputs — x [B, D] and σ or t [B] — and a
/// float output [B, D]. The inputs are found by name (<c>x</c>; <c>sigma</c>, <c>t</c> or <c>timestep</c>),
/// otherwise the first two inputs in order are taken; the output is the first one.</summary>
public sealed class OnnxModel : IDenoiserModel
{
    private readonly InferenceSession _session;
    private readonly string _xName;
    private readonly string _conditioningName;
    private readonly string _outputName;

    /// <inheritdoc/>
    public string Path { get; }

    private OnnxModel(string path, InferenceSession session, string xName, string conditioningName, string outputName)
    {
        Path = path;
        _session = session;
        _xName = xName;
        _conditioningName = conditioningName;
        _outputName = outputName;
    }

    /// <summary>The names the conditioning input may have.</summary>
    public static readonly IReadOnlyList<string> ConditioningNames = ["sigma", "t", "timestep", "sigma_or_t"];

    /// <summary>Loads an ONNX file; throws <see cref="ModelException"/> when it is missing, not an ONNX model, or does
    /// not have two inputs and one output.</summary>
    public static OnnxModel Load(string path)
    {
        if (!File.Exists(path)) throw new ModelException($"model file '{path}' does not exist");
        InferenceSession session;
        try
        {
            // One thread per call: the samplers already run their batches in parallel.
            using var options = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1 };
            session = new InferenceSession(path, options);
        }
        catch (Exception e) when (e is OnnxRuntimeException or InvalidOperationException or IOException)
        {
            throw new ModelException($"model file '{path}' is not an ONNX model (ONNX Runtime: {e.Message.Split('\n')[0].Trim()})", e);
        }
        try
        {
            var inputs = session.InputMetadata.Keys.ToList();
            if (inputs.Count != 2)
                throw new ModelException($"model '{path}' has {inputs.Count} inputs ({string.Join(", ", inputs)}) but must have 2: x [B,D] and sigma or t [B]");
            if (session.OutputMetadata.Count < 1)
                throw new ModelException($"model '{path}' has no output; expected one float32 [B,D]");
            string xName = inputs.Contains("x") ? "x" : inputs[0];
            string cName = inputs.FirstOrDefault(n => n != xName && ConditioningNames.Contains(n)) ?? inputs.First(n => n != xName);
            foreach (var name in new[] { xName, cName })
                if (session.InputMetadata[name].ElementDataType != TensorElementType.Float)
                    throw new ModelException($"model '{path}' input '{name}' is {session.InputMetadata[name].ElementDataType} but must be float32");
            return new OnnxModel(path, session, xName, cName, session.OutputMetadata.Keys.First());
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public NdArray Forward(NdArray x, float[] conditioning)
    {
        var (b, d) = ModelChecks.Inputs(Path, x, conditioning);
        var inputs = new List<NamedOnnxValue>
        {
            NamedOnnxValue.CreateFromTensor(_xName, new DenseTensor<float>(x.Span.ToArray(), [b, d])),
            NamedOnnxValue.CreateFromTensor(_conditioningName, new DenseTensor<float>((float[])conditioning.Clone(), [b])),
        };
        IDisposableReadOnlyCollection<DisposableNamedOnnxValue> results;
        try
        {
            results = _session.Run(inputs, [_outputName]);
        }
        catch (OnnxRuntimeException e)
        {
            throw new ModelException($"model '{Path}' failed on {_xName} [{b},{d}] and {_conditioningName} [{b}] (expected float32 [B,D] and [B] -> [B,D]): {e.Message.Split('\n')[0].Trim()}", e);
        }
        using (results)
        {
            var y = results.First().AsTensor<float>();
            return ModelChecks.Output(Path, b, d, y.Dimensions.ToArray().Select(v => (long)v).ToArray(), y.ToArray(), conditioning);
        }
    }

    /// <inheritdoc/>
    public void Dispose() => _session.Dispose();
}
