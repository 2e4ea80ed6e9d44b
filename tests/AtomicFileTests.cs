namespace Schedulers.Tests;

/// <summary><see cref="AtomicFile"/> and <see cref="NpyFile"/>: complete files or none.</summary>
public class AtomicFileTests
{
    [Fact]
    public void Write_replaces_the_file_and_leaves_no_temporary()
    {
        var dir = Directory.CreateTempSubdirectory("atomic").FullName;
        var path = Path.Combine(dir, "nested", "out.bin");
        AtomicFile.WriteAllBytes(path, [1, 2, 3]);
        AtomicFile.WriteAllBytes(path, [4, 5]);
        Assert.Equal(new byte[] { 4, 5 }, File.ReadAllBytes(path));
        Assert.Single(Directory.GetFiles(Path.GetDirectoryName(path)!));
    }

    [Fact]
    public void A_failed_write_leaves_the_old_file_and_no_temporary()
    {
        var dir = Directory.CreateTempSubdirectory("atomic").FullName;
        var path = Path.Combine(dir, "out.bin");
        AtomicFile.WriteAllBytes(path, [7]);
        // The target's name is taken by a directory: the rename fails after the temporary file was written.
        var target = Path.Combine(dir, "taken");
        Directory.CreateDirectory(target);
        Assert.ThrowsAny<IOException>(() => AtomicFile.WriteAllBytes(target, [9, 9]));
        Assert.Equal(new byte[] { 7 }, File.ReadAllBytes(path));
        Assert.Empty(Directory.GetFiles(dir, "*.tmp"));
    }

    [Fact]
    public void Npy_header_and_data_are_what_numpy_reads()
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("npy").FullName, "x.npy");
        NpyFile.Write(path, Schedulers.Core.NdArrayModule.create([2, 3], [1f, 2f, 3f, 4f, 5f, -6.5f]));
        var bytes = File.ReadAllBytes(path);
        Assert.Equal(0x93, bytes[0]);
        Assert.Equal("NUMPY", System.Text.Encoding.ASCII.GetString(bytes, 1, 5));
        int headerLength = BitConverter.ToUInt16(bytes, 8);
        var header = System.Text.Encoding.ASCII.GetString(bytes, 10, headerLength);
        Assert.Contains("'descr': '<f4'", header);
        Assert.Contains("'shape': (2, 3)", header);
        Assert.Equal(0, (10 + headerLength) % 64);
        Assert.Equal(-6.5f, BitConverter.ToSingle(bytes, 10 + headerLength + 20));
        Assert.Equal(10 + headerLength + 24, bytes.Length);
    }
}
