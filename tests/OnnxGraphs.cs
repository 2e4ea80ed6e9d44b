using System.Text;

namespace Schedulers.Tests;

/// <summary>Writes tiny ONNX models (protobuf by hand, opset 17) for the error tests: one node from a chosen
/// input to the output, so the output shape is whatever that input's is.</summary>
internal static class OnnxGraphs
{
    /// <summary>A model with float inputs of the given ranks (names and symbolic dims B, D) whose output "score" is
    /// the input <paramref name="echo"/>.</summary>
    public static byte[] Identity((string Name, int Rank)[] inputs, string echo) => Unary(inputs, echo, "Identity");

    /// <summary>A model whose output "score" is the elementwise operator <paramref name="op"/> (e.g. Sqrt) of the
    /// input <paramref name="echo"/>.</summary>
    public static byte[] Unary((string Name, int Rank)[] inputs, string echo, string op)
    {
        var graph = new List<byte>();
        graph.AddRange(Field(1, Node(echo, "score", op)));
        graph.AddRange(Field(2, Encoding.UTF8.GetBytes("g")));
        foreach (var (name, rank) in inputs) graph.AddRange(Field(11, ValueInfo(name, rank)));
        graph.AddRange(Field(12, ValueInfo("score", inputs.First(i => i.Name == echo).Rank)));
        var model = new List<byte>();
        model.AddRange(Varint(1, 8)); // ir_version
        model.AddRange(Field(7, graph.ToArray()));
        model.AddRange(Field(8, [.. Field(1, []), .. Varint(2, 17)])); // opset_import { domain "", version 17 }
        return model.ToArray();
    }

    private static byte[] Node(string input, string output, string op) =>
        [.. Field(1, Encoding.UTF8.GetBytes(input)), .. Field(2, Encoding.UTF8.GetBytes(output)), .. Field(4, Encoding.UTF8.GetBytes(op))];

    private static byte[] ValueInfo(string name, int rank)
    {
        var shape = new List<byte>();
        for (int i = 0; i < rank; i++) shape.AddRange(Field(1, Field(2, Encoding.UTF8.GetBytes(i == 0 ? "B" : "D"))));
        byte[] tensor = [.. Varint(1, 1), .. Field(2, shape.ToArray())]; // elem_type FLOAT, shape
        return [.. Field(1, Encoding.UTF8.GetBytes(name)), .. Field(2, Field(1, tensor))];
    }

    private static byte[] Field(int number, byte[] payload) => [.. Raw((ulong)(number << 3 | 2)), .. Raw((ulong)payload.Length), .. payload];

    private static byte[] Varint(int number, ulong value) => [.. Raw((ulong)(number << 3)), .. Raw(value)];

    private static byte[] Raw(ulong v)
    {
        var bytes = new List<byte>();
        do
        {
            byte b = (byte)(v & 0x7f);
            v >>= 7;
            bytes.Add(v != 0 ? (byte)(b | 0x80) : b);
        } while (v != 0);
        return bytes.ToArray();
    }
}
