using System.Text.RegularExpressions;

namespace Schedulers.Cli;

/// <summary>Checks an output location before any work, so that an <c>--out</c> that cannot be written stops the tool
/// at once with one line (exit code 2) instead of after a whole run; and removes what killed runs of the tool left
/// there (<see cref="AtomicFile.RemoveStaleTemporaries"/>).</summary>
public static partial class OutputFolder
{
    [GeneratedRegex(@"^(samples(\.part-\d+-of-\d+)?\.(csv|npy|png)|samples\.manifest\.json|compare\.(md|csv|png)|compare\.manifest\.json)$")]
    private static partial Regex ToolOutputName();

    /// <summary>Whether <paramref name="fileName"/> is a name the tool writes into an output folder (samples.*,
    /// shard parts, compare.*, their manifests).</summary>
    public static bool IsToolOutput(string fileName) => ToolOutputName().IsMatch(fileName);

    /// <summary>Makes sure <paramref name="folder"/> (given as option <paramref name="option"/>) is a folder the
    /// tool can write: creates it if needed, writes and deletes a probe file in it, and removes the stale temporary
    /// files of the tool's outputs. Returns the full path; throws <see cref="UsageException"/> naming the option when
    /// the path is a file, lies under a file, or cannot be created or written.</summary>
    public static string Prepare(string folder, string option) => Prepare(folder, option, IsToolOutput);

    /// <summary>As <see cref="Prepare(string, string)"/> for the folder of the output file <paramref name="file"/>,
    /// which must not be a folder; stale temporary files of <paramref name="outputs"/> (file names) are removed.
    /// Returns the file's full path.</summary>
    public static string PrepareFile(string file, string option, params string[] outputs)
    {
        var full = FullPath(file, option);
        if (Directory.Exists(full)) throw new UsageException($"{option} '{file}' is a folder; it must name a file");
        UnderNoFile(full, file, option);
        Prepare(Path.GetDirectoryName(full)!, option, outputs.Contains);
        return full;
    }

    private static string Prepare(string folder, string option, Func<string, bool> isOutput)
    {
        var full = FullPath(folder, option);
        if (File.Exists(full)) throw new UsageException($"{option} '{folder}' is a file, not a folder");
        UnderNoFile(full, folder, option);
        try
        {
            Directory.CreateDirectory(full);
            var probe = Path.Combine(full, $".schedulers-write-probe-{Guid.NewGuid():N}");
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"{option} '{folder}' is not a writable folder ({e.Message.Split('\n')[0].Trim()})");
        }
        AtomicFile.RemoveStaleTemporaries(full, isOutput);
        return full;
    }

    /// <summary>Refuses a path with a file among its ancestors, which no write under it could create.</summary>
    private static void UnderNoFile(string full, string given, string option)
    {
        for (var above = Path.GetDirectoryName(full); above is not null; above = Path.GetDirectoryName(above))
            if (File.Exists(above)) throw new UsageException($"{option} '{given}' is under '{above}', which is a file");
    }

    private static string FullPath(string path, string option)
    {
        try { return Path.GetFullPath(path); }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new UsageException($"{option} '{path}' is not a valid path");
        }
    }
}
