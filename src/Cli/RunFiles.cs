using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Schedulers.Cli;

/// <summary>The files one run writes into an output folder, kept so that a reader never takes files of two runs for
/// one. <see cref="Begin"/> deletes the previous run's manifest and then its files, each file is written whole through
/// <see cref="AtomicFile"/>, and <see cref="Commit"/> writes the manifest last: a JSON file naming the run and every
/// file with its size and SHA-256. So the folder holds files of at most one run at any moment; a run that is killed or
/// fails leaves no manifest, and a manifest is there only when every file it names is complete and from its run.</summary>
public sealed class RunFiles
{
    /// <summary>The value of the manifest's <c>format</c> field.</summary>
    public const string FormatName = "schedulers-run";

    private readonly string _manifest;
    private readonly IReadOnlyList<string> _names;
    private readonly string _command;

    /// <summary>The output folder (full path).</summary>
    public string Folder { get; }

    /// <summary>The run's identifier, written into the manifest.</summary>
    public string RunId { get; } = Guid.NewGuid().ToString("N");

    private RunFiles(string folder, string manifest, IReadOnlyList<string> names, string command)
    {
        Folder = folder;
        _manifest = manifest;
        _names = names;
        _command = command;
    }

    /// <summary>Starts a run of <paramref name="command"/> that will write <paramref name="fileNames"/> into
    /// <paramref name="folder"/> with manifest <paramref name="manifestName"/>: removes the previous manifest, then the
    /// previous files of those names (in this order, so that no manifest ever names a missing or newer file).</summary>
    public static RunFiles Begin(string folder, string manifestName, IReadOnlyList<string> fileNames, string command)
    {
        var full = Path.GetFullPath(folder);
        File.Delete(Path.Combine(full, manifestName));
        foreach (var name in fileNames) File.Delete(Path.Combine(full, name));
        return new RunFiles(full, manifestName, fileNames, command);
    }

    /// <summary>The full path of the run's file <paramref name="name"/>.</summary>
    public string PathOf(string name) => Path.Combine(Folder, name);

    /// <summary>Writes the manifest after every file of the run has been written; <paramref name="description"/> says
    /// what the run was (its command line's settings). Returns the manifest's path.</summary>
    public string Commit(string description)
    {
        var files = new JsonArray();
        foreach (var name in _names)
        {
            using var stream = File.OpenRead(PathOf(name));
            var bytes = stream.Length;
            files.Add(new JsonObject
            {
                ["name"] = name,
                ["bytes"] = bytes,
                ["sha256"] = Convert.ToHexStringLower(SHA256.HashData(stream)),
            });
        }
        var manifest = new JsonObject
        {
            ["format"] = FormatName,
            ["command"] = _command,
            ["run"] = RunId,
            ["finished"] = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture),
            ["description"] = description,
            ["files"] = files,
        };
        var path = PathOf(_manifest);
        AtomicFile.WriteAllBytes(path, JsonSerializer.SerializeToUtf8Bytes(manifest, new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
        return path;
    }

    /// <summary>Checks the run in <paramref name="folder"/> described by its manifest <paramref name="manifestName"/>:
    /// the problems found (no manifest, a missing file, a size or hash that differs), empty when every file is the
    /// one the manifest names.</summary>
    public static IReadOnlyList<string> Verify(string folder, string manifestName)
    {
        var path = Path.Combine(folder, manifestName);
        if (!File.Exists(path)) return [$"{path} does not exist: no complete run in {folder}"];
        var problems = new List<string>();
        var root = JsonNode.Parse(File.ReadAllBytes(path))!;
        foreach (var entry in root["files"]!.AsArray())
        {
            var file = Path.Combine(folder, (string)entry!["name"]!);
            if (!File.Exists(file)) { problems.Add($"{file} is missing"); continue; }
            using var stream = File.OpenRead(file);
            if (stream.Length != (long)entry["bytes"]!) problems.Add($"{file} has {stream.Length} bytes, not {(long)entry["bytes"]!}");
            else if (Convert.ToHexStringLower(SHA256.HashData(stream)) != (string)entry["sha256"]!) problems.Add($"{file} differs from the manifest's SHA-256");
        }
        return problems;
    }
}
