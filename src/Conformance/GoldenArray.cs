using Schedulers.Core;

namespace Schedulers.Conformance;

/// <summary>
/// An array of a golden file: <c>{"shape": [...], "dtype": ..., "data": [...]}</c>, data flat in row-major order.
/// float32 values are written as the exact double of the float32, so narrowing recovers the exact bits.
/// </summary>
public sealed record GoldenArray(int[] Shape, string Dtype, double[] Data)
{
    /// <summary>True when the JSON value has the array layout (shape, dtype and data fields).</summary>
    public static bool IsArray(JsonValue value) =>
        Json.tryField("shape", value) is not null && Json.tryField("dtype", value) is not null && Json.tryField("data", value) is not null;

    /// <summary>Decodes an array; throws <see cref="GoldenFormatException"/> when the layout is wrong.</summary>
    public static GoldenArray Parse(JsonValue value, string where)
    {
        if (!IsArray(value)) throw new GoldenFormatException($"{where}: expected an array object with shape, dtype and data");
        var shape = Golden.Items(Json.tryField("shape", value)!.Value, where + ".shape").Select(v => (int)Golden.Number(v, where + ".shape")).ToArray();
        var dtype = Golden.Text(Json.tryField("dtype", value)!.Value, where + ".dtype");
        var data = Golden.Items(Json.tryField("data", value)!.Value, where + ".data").Select(v => Golden.Number(v, where + ".data")).ToArray();
        long count = shape.Aggregate(1L, (a, d) => a * d);
        if (count != data.Length) throw new GoldenFormatException($"{where}: shape [{string.Join(",", shape)}] needs {count} values but data has {data.Length}");
        return new GoldenArray(shape, dtype, data);
    }

    /// <summary>The data narrowed to float32 (exact for float32 arrays).</summary>
    public float[] ToFloat32() => Data.Select(d => (float)d).ToArray();

    /// <summary>The data as uint32 (for uint32 arrays).</summary>
    public uint[] ToUInt32() => Data.Select(d => checked((uint)d)).ToArray();

    /// <summary>The array as a core <see cref="NdArray"/> (float32).</summary>
    public NdArray ToNdArray() => NdArrayModule.create(Shape, ToFloat32());
}

/// <summary>A golden file that does not follow the documented format.</summary>
public sealed class GoldenFormatException(string message) : Exception(message);
