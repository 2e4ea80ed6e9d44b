using Schedulers.Core;

namespace Schedulers.Hub;

/// <summary>
/// The Hugging Face cache layout: <c>models--org--name/refs/&lt;branch&gt;</c> holds a commit hash and
/// <c>models--org--name/snapshots/&lt;commit&gt;/&lt;path&gt;</c> the file as of that commit. Files are written
/// atomically (temporary file, then rename), so a failed download never leaves a partial file behind. Every name is
/// checked by <see cref="HubPaths"/>, and every path, for reads and writes alike, is built by one function that
/// resolves it and refuses it with a <see cref="SchedulerConfigException"/> unless it lies inside the repository's
/// cache folder, so a name that slipped past the checks still cannot leave the folder.
/// </summary>
public sealed class HubCache(string root)
{
    /// <summary>The cache's root folder.</summary>
    public string Root { get; } = root;

    /// <summary>The repository's folder in the cache, <c>Root/models--org--name</c> (absolute), for a checked
    /// repository id.</summary>
    public string RepoFolder(string repoId)
    {
        HubPaths.CheckRepoId(repoId);
        return Path.GetFullPath(Path.Combine(Root, "models--" + repoId.Replace("/", "--")));
    }

    /// <summary>The one way to a path in the cache: <paramref name="parts"/> joined under the repository's folder and
    /// resolved, refused unless the result lies strictly inside that folder.</summary>
    private string Inside(string repoId, IEnumerable<string> parts)
    {
        var folder = RepoFolder(repoId);
        var full = Path.GetFullPath(Path.Combine(parts.Prepend(folder).ToArray()));
        var prefix = folder.EndsWith(Path.DirectorySeparatorChar) ? folder : folder + Path.DirectorySeparatorChar;
        if (!full.StartsWith(prefix, StringComparison.Ordinal))
            throw HubPaths.Refused("cache path", full, $"it lies outside the repository's cache folder {folder}");
        return full;
    }

    /// <summary><c>refs/&lt;revision&gt;</c>: the file naming the commit a branch or tag points to (the revision is
    /// checked).</summary>
    public string RefFile(string repoId, string revision)
    {
        HubPaths.CheckRevision(revision);
        return Inside(repoId, revision.Split('/').Prepend("refs"));
    }

    /// <summary><c>snapshots/&lt;commit&gt;/&lt;pathInRepo&gt;</c>: the file as of a commit (both are checked).</summary>
    public string SnapshotFile(string repoId, string commit, string pathInRepo)
    {
        if (!HubPaths.IsCommitHash(commit)) throw HubPaths.Refused("commit", commit, "expected 40 lowercase hexadecimal digits");
        HubPaths.CheckPathInRepo(pathInRepo);
        return Inside(repoId, pathInRepo.Split('/').Prepend(commit).Prepend("snapshots"));
    }

    /// <summary>The commit a revision points to in the cache (<c>refs/&lt;revision&gt;</c>), the revision itself when
    /// it is a commit hash, or null.</summary>
    public string? ResolveCommit(string repoId, string revision)
    {
        if (HubPaths.IsCommitHash(revision)) return revision;
        var refFile = RefFile(repoId, revision);
        if (!File.Exists(refFile)) return null;
        // A ref holds 40 characters; reading a bounded prefix keeps a ref that is a huge or endless file (a link to
        // /dev/zero) from exhausting memory.
        using var stream = new FileStream(refFile, FileMode.Open, FileAccess.Read);
        var buffer = new byte[128];
        var n = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        var commit = System.Text.Encoding.ASCII.GetString(buffer, 0, n).Trim();
        return HubPaths.IsCommitHash(commit) ? commit : null;
    }

    /// <summary>The cached file for a repository path at a revision, or null when it is not cached.</summary>
    public string? TryGetFile(string repoId, string revision, string pathInRepo)
    {
        HubPaths.CheckPathInRepo(pathInRepo);
        if (ResolveCommit(repoId, revision) is not { } commit) return null;
        var file = SnapshotFile(repoId, commit, pathInRepo);
        return File.Exists(file) ? file : null;
    }

    /// <summary>Stores a downloaded file's bytes under its commit and points the revision's ref at that commit.</summary>
    public string Store(string repoId, string revision, string commit, string pathInRepo, byte[] content)
    {
        ArgumentNullException.ThrowIfNull(content);
        return Store(repoId, revision, commit, pathInRepo, file => AtomicFile.WriteAllBytes(file, content));
    }

    /// <summary>Moves a downloaded file (<paramref name="downloadedFile"/>, anywhere) under its commit and points the
    /// revision's ref at that commit.</summary>
    public string StoreFile(string repoId, string revision, string commit, string pathInRepo, string downloadedFile)
    {
        ArgumentException.ThrowIfNullOrEmpty(downloadedFile);
        return Store(repoId, revision, commit, pathInRepo, file => AtomicFile.MoveInto(downloadedFile, file));
    }

    private string Store(string repoId, string revision, string commit, string pathInRepo, Action<string> write)
    {
        // Both paths are checked before anything is written, so a refused ref leaves no snapshot behind.
        var file = SnapshotFile(repoId, commit, pathInRepo);
        var refFile = HubPaths.IsCommitHash(revision) ? null : RefFile(repoId, revision);
        write(file);
        if (refFile is not null) AtomicFile.WriteAllBytes(refFile, System.Text.Encoding.ASCII.GetBytes(commit));
        return file;
    }
}
