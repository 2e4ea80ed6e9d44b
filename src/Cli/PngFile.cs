using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Schedulers.Cli;

/// <summary>8-bit greyscale PNG files (PNG specification, 2nd ed.): the signature, IHDR, one zlib-compressed IDAT
/// (every scanline with filter type 0) and IEND, each chunk with its CRC-32. Written by hand so the image grids need
/// no imaging library; the bytes depend only on the pixels.</summary>
public static class PngFile
{
    private static readonly uint[] CrcTable = BuildTable();

    private static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[n] = c;
        }
        return table;
    }

    /// <summary>The CRC-32 of PNG chunks (ISO 3309, reflected polynomial 0xEDB88320) of <paramref name="data"/>.</summary>
    public static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFFu;
        foreach (var b in data) c = CrcTable[(c ^ b) & 0xFF] ^ (c >> 8);
        return c ^ 0xFFFFFFFFu;
    }

    /// <summary>The PNG bytes of a greyscale image, <paramref name="pixels"/> row-major, 0 black to 255 white.</summary>
    public static byte[] Encode(int width, int height, ReadOnlySpan<byte> pixels)
    {
        if (width < 1 || height < 1 || width > 16_384 || height > 16_384)
            throw new ArgumentOutOfRangeException(nameof(width), $"a PNG grid is {width}×{height} but each side must be 1 to 16384");
        if (pixels.Length != width * height)
            throw new ArgumentException($"{pixels.Length} pixels for a {width}×{height} image", nameof(pixels));
        using var png = new MemoryStream();
        png.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(0), width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8; // bit depth
        header[9] = 0; // greyscale; compression, filter and interlace methods 0
        Chunk(png, "IHDR", header);
        using (var raw = new MemoryStream())
        {
            using (var z = new ZLibStream(raw, CompressionLevel.SmallestSize, leaveOpen: true))
                for (int y = 0; y < height; y++)
                {
                    z.WriteByte(0); // filter type None
                    z.Write(pixels.Slice(y * width, width));
                }
            Chunk(png, "IDAT", raw.ToArray());
        }
        Chunk(png, "IEND", []);
        return png.ToArray();
    }

    private static void Chunk(Stream png, string type, byte[] data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        png.Write(word);
        var typed = new byte[4 + data.Length];
        Encoding.ASCII.GetBytes(type, typed);
        data.CopyTo(typed, 4);
        png.Write(typed);
        BinaryPrimitives.WriteUInt32BigEndian(word, Crc32(typed));
        png.Write(word);
    }

    /// <summary>Writes the PNG of <see cref="Encode"/> to <paramref name="path"/> atomically.</summary>
    public static void Write(string path, int width, int height, ReadOnlySpan<byte> pixels) =>
        AtomicFile.WriteAllBytes(path, Encode(width, height, pixels));
}
