using System.Buffers.Binary;
using System.Text;
using Schedulers.Core;

namespace Schedulers;

/// <summary>NumPy's <c>.npy</c> format for float32 arrays, so samples can be read with <c>numpy.load</c>.</summary>
public static class NpyFile
{
    /// <summary>Writes <paramref name="samples"/> as a NumPy .npy file (version 1.0, little-endian float32, C order),
    /// through a temporary file renamed into place (<see cref="AtomicFile.Write(string, Action{Stream})"/>), so a reader never sees half a
    /// file.</summary>
    public static void Write(string path, NdArray samples) => AtomicFile.Write(path, stream => Write(stream, samples));

    /// <summary>Writes <paramref name="samples"/> in the .npy format to <paramref name="stream"/>, in blocks, so
    /// that no second copy of the array is made.</summary>
    public static void Write(Stream stream, NdArray samples)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(samples);
        var shape = samples.Shape;
        var dims = string.Join(", ", shape) + (shape.Length == 1 ? "," : "");
        var header = $"{{'descr': '<f4', 'fortran_order': False, 'shape': ({dims}), }}";
        int total = 10 + header.Length + 1;
        header = header.PadRight(header.Length + (64 - total % 64) % 64) + "\n";
        var start = new byte[10 + header.Length];
        start[0] = 0x93;
        "NUMPY"u8.CopyTo(start.AsSpan(1));
        start[6] = 1;
        start[7] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(start.AsSpan(8), (ushort)header.Length);
        Encoding.ASCII.GetBytes(header).CopyTo(start, 10);
        stream.Write(start);
        var block = new byte[1 << 16];
        for (int at = 0; at < samples.Length; at += block.Length / 4)
        {
            var values = samples.Span.Slice(at, Math.Min(block.Length / 4, samples.Length - at));
            for (int i = 0; i < values.Length; i++)
                BinaryPrimitives.WriteSingleLittleEndian(block.AsSpan(4 * i), values[i]);
            stream.Write(block, 0, 4 * values.Length);
        }
    }
}
