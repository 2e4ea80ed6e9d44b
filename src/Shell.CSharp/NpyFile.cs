using System.Buffers.Binary;
using System.Text;
using Schedulers.Core;

namespace Schedulers;

/// <summary>NumPy's <c>.npy</c> format for float32 arrays, so samples can be read with <c>numpy.load</c>.</summary>
public static class NpyFile
{
    /// <summary>Writes <paramref name="samples"/> as a NumPy .npy file (version 1.0, little-endian float32, C order),
    /// through a temporary file renamed into place, so a reader never sees half a file.</summary>
    public static void Write(string path, NdArray samples)
    {
        var shape = samples.Shape;
        var dims = string.Join(", ", shape) + (shape.Length == 1 ? "," : "");
        var header = $"{{'descr': '<f4', 'fortran_order': False, 'shape': ({dims}), }}";
        int total = 10 + header.Length + 1;
        header = header.PadRight(header.Length + (64 - total % 64) % 64) + "\n";
        var bytes = new byte[10 + header.Length + 4 * samples.Length];
        bytes[0] = 0x93;
        "NUMPY"u8.CopyTo(bytes.AsSpan(1));
        bytes[6] = 1;
        bytes[7] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), (ushort)header.Length);
        Encoding.ASCII.GetBytes(header).CopyTo(bytes, 10);
        var data = samples.ToArray();
        for (int i = 0; i < data.Length; i++)
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(10 + header.Length + 4 * i), data[i]);
        AtomicFile.WriteAllBytes(path, bytes);
    }
}
