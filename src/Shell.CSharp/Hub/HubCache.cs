using Schedulers.Core;

namespace Schedulers.Hub;

/// <summary>
/// The Hugging Face cache layout: <c>models--org--name/refs/&lt;branch&gt;</c> holds a commit hash and
/// <c>models--org--name/snapshots/&lt;commit&gt;/&lt;path&gt;</c> the file as of that commit. Files are written
/// atomically (temporary file, then rename), so a failed download never leaves a partial file behind. Every path
/// is built by <see cref="HubPaths"/>: repository ids, revisions and paths are checked, and a path that would
/// resolve outside the repository's cache folder is refused with a <see cref="SchedulerConfigException"/>, for
/// reads and writes alike.
/// </summary>
public sealed class HubCache(string root)
{
    /// <summary>The cache's root folder.</summary>
    public string Root { get; } = root;

    /// <summary>True when <paramref name="revision"/> is a full commit hash rather than a branch or tag.</summary>
    public static bool IsCommitHash(string revision) => HubPaths.isCommitHash(revision);

    /// <summary>Throws <see cref="SchedulerConfigException"/> unless <paramref name="repoId"/> looks like <c>name</c> or <c>org/name</c>.</summary>
    public static void CheckRepoId(string repoId) => HubPaths.checkRepoId(repoId);

    /// <summary>The repository's folder in the cache (absolute).</summary>
    public string RepoFolder(string repoId) => HubPaths.repoFolder(Root, repoId);

    /// <summary>The cached file for a repository path at a revision, or null when it is not cached.</summary>
    public string? TryGetFile(string repoId, string revision, string pathInRepo) =>
        Pretrained.tryCached(Root, repoId, revision, pathInRepo)?.Value;

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
        var file = HubPaths.snapshotFile(Root, repoId, commit, pathInRepo);
        var refFile = IsCommitHash(revision) ? null : HubPaths.refFile(Root, repoId, revision);
        write(file);
        if (refFile is not null) AtomicFile.WriteAllBytes(refFile, System.Text.Encoding.ASCII.GetBytes(commit));
        return file;
    }
}
