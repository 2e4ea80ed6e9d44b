using System.Text.RegularExpressions;

namespace Schedulers;

/// <summary>Whole-file writes that never leave half a file behind: the one atomic writer of the solution, used for
/// saved and cached configs, samples, plots, models and manifests alike.</summary>
public static partial class AtomicFile
{
    /// <summary>Writes <paramref name="content"/> to <paramref name="path"/> through a temporary file in the same
    /// folder, renamed into place once complete (creating the folder if needed): a reader sees the old file or the new
    /// one, never a part; the temporary file is removed if the write fails.</summary>
    public static void WriteAllBytes(string path, byte[] content)
    {
        ArgumentNullException.ThrowIfNull(content);
        Write(path, stream => stream.Write(content));
    }

    /// <summary>Writes <paramref name="path"/> with <paramref name="write"/>, which receives a stream over a temporary
    /// file <c>&lt;path&gt;.&lt;32 hex digits&gt;.tmp</c> in the same folder. Once <paramref name="write"/> returns, the
    /// data is flushed to the disk and the file renamed into place, so that a reader (or a crash, or a full disk)
    /// leaves the old file or the new one, never a part. The temporary file is held with an exclusive lock while it
    /// is written (see <see cref="RemoveStaleTemporaries"/>) and removed if the write fails.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(write);
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var temp = full + "." + Guid.NewGuid().ToString("N") + ".tmp";
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
                // Without this the rename can reach the disk before the data, and a crash then leaves an empty file.
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    /// <summary>Moves <paramref name="source"/> to <paramref name="path"/> through a temporary file next to the
    /// target (creating the folder if needed), so that a move across file systems, which copies, still appears at
    /// <paramref name="path"/> whole or not at all.</summary>
    public static void MoveInto(string source, string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(source);
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var temp = full + "." + Guid.NewGuid().ToString("N") + ".tmp";
        try
        {
            File.Move(source, temp);
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    /// <summary>Whether <paramref name="fileName"/> is a temporary file of <see cref="Write"/> for a file named
    /// <paramref name="target"/>.</summary>
    public static bool IsTemporaryOf(string fileName, string target) =>
        fileName.Length == target.Length + 37 && fileName.StartsWith(target + ".", StringComparison.Ordinal)
        && TempSuffix().IsMatch(fileName[target.Length..]);

    /// <summary>Deletes the temporary files that writes killed part-way (a crash, <c>kill -9</c>) left in
    /// <paramref name="folder"/>: those named as <see cref="Write"/> names them for a file that
    /// <paramref name="isTarget"/> accepts, and that no live writer holds (a write in progress keeps its file locked,
    /// so a run sharing the folder is left alone). Returns the names deleted.</summary>
    public static IReadOnlyList<string> RemoveStaleTemporaries(string folder, Func<string, bool> isTarget)
    {
        ArgumentNullException.ThrowIfNull(isTarget);
        var removed = new List<string>();
        if (!Directory.Exists(folder)) return removed;
        foreach (var path in Directory.EnumerateFiles(folder, "*.tmp"))
        {
            var name = Path.GetFileName(path);
            if (name.Length <= 37 || !TempSuffix().IsMatch(name[^37..]) || !isTarget(name[..^37])) continue;
            try
            {
                // The lock fails while the writer is alive; a killed writer's lock died with it.
                using var held = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
                File.Delete(path);
                removed.Add(name);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // In use by a live writer, or gone already.
            }
        }
        return removed;
    }

    [GeneratedRegex(@"^\.[0-9a-f]{32}\.tmp$")]
    private static partial Regex TempSuffix();
}
