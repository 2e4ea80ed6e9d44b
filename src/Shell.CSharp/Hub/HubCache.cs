using Schedulers.Core;

namespace Schedulers.Hub;

/// <summary>
/// The Hugging Face cache layout: <c>models--org--name/refs/&lt;branch&gt;</c> holds a commit hash and
/// <c>models--org--name/snapshots/&lt;commit&gt;/&lt;path&gt;</c> the file as of that commit. Files are written
/// atomically (temporary file, then rename), so a failed download never leaves a partial file behind.
/// </summary>
public sealed class HubCache(string root)
{
    /// <summary>The cache's root folder.</summary>
    public string Root { get; } = root;

    /// <summary>True when <paramref name="revision"/> is a full commit hash rather than a branch or tag.</summary>
    public static bool IsCommitHash(string revision) => Pretrained.isCommitHash(revision);

    /// <summary>Throws unless <paramref name="repoId"/> looks like <c>name</c> or <c>org/name</c>.</summary>
    public static void CheckRepoId(string repoId)
    {
        ArgumentNullException.ThrowIfNull(repoId);
        var parts = repoId.Split('/');
        if (parts.Length is < 1 or > 2 || parts.Any(p => p.Length == 0 || p == "." || p == ".." || p.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))))
            throw new SchedulerConfigException($"'{repoId}' is neither an existing file or folder nor a Hub repository id of the form org/name");
    }

    /// <summary>The repository's folder in the cache.</summary>
    public string RepoFolder(string repoId) => Pretrained.repoFolder(Root, repoId);

    /// <summary>The cached file for a repository path at a revision, or null when it is not cached.</summary>
    public string? TryGetFile(string repoId, string revision, string pathInRepo) =>
        Pretrained.tryCached(Root, repoId, revision, pathInRepo)?.Value;

    /// <summary>Stores a downloaded file under its commit and points the revision's ref at that commit.</summary>
    public string Store(string repoId, string revision, string commit, string pathInRepo, byte[] content)
    {
        var file = Path.Combine(RepoFolder(repoId), "snapshots", commit, pathInRepo);
        AtomicFile.WriteAllBytes(file, content);
        if (!IsCommitHash(revision)) AtomicFile.WriteAllBytes(Path.Combine(RepoFolder(repoId), "refs", revision), System.Text.Encoding.ASCII.GetBytes(commit));
        return file;
    }

}
