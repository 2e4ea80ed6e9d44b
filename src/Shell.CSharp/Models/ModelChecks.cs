using Schedulers.Core;

namespace Schedulers.Models;

/// <summary>The checks every model call goes through: the inputs the samplers pass and the output the network
/// returns.</summary>
public static class ModelChecks
{
    /// <summary>Checks that x is [B, D] and there is one conditioning value per row.</summary>
    public static (int Batch, int Dimension) Inputs(string path, NdArray x, float[] conditioning)
    {
        if (x.Shape.Length != 2)
            throw new ArgumentException($"model '{path}' takes x of shape [B, D] but was given [{string.Join(",", x.Shape)}]", nameof(x));
        if (conditioning.Length != x.Shape[0])
            throw new ArgumentException($"model '{path}' takes one σ or t per row: x has {x.Shape[0]} rows but there are {conditioning.Length} values", nameof(conditioning));
        return (x.Shape[0], x.Shape[1]);
    }

    /// <summary>Checks that the network's output has the input's shape [B, D] and only finite values; returns it as
    /// an array.</summary>
    public static NdArray Output(string path, int batch, int dimension, IReadOnlyList<long> shape, float[] data, float[] conditioning)
    {
        if (shape.Count != 2 || shape[0] != batch || shape[1] != dimension || data.Length != batch * dimension)
            throw new ModelException($"model '{path}' returned an output of shape [{string.Join(",", shape)}] for x of shape [{batch},{dimension}]; expected [{batch},{dimension}]");
        for (int i = 0; i < data.Length; i++)
            if (!float.IsFinite(data[i]))
                throw new ModelException($"model '{path}' returned a non-finite value ({data[i]}) in row {i / dimension} at σ/t = {conditioning[i / dimension]}");
        return NdArrayModule.create([batch, dimension], data);
    }
}
