using System.Text.RegularExpressions;
using Schedulers.Core;

namespace Schedulers.Hub;

/// <summary>
/// The Hugging Face cache layout: <c>models--org--name/refs/&lt;branch&gt;</c> holds a commit hash and
/// <c>models--org--name/snapshots/&lt;commit&gt;/&lt;path&gt;</c> the file as of that commit. Files are written
/// atomically (temporary file, then rename), so a failed download never leaves a partial file behind.
/// </summary>
public sealed partial class HubCache(string root)
{
    /// <summary>The cache's root folder.</summary>
    public string Root { get; } = root;

    [GeneratedRegex("^[0-9a-f]{40}$")]
    private static partial Regex CommitHash();

    /// <summary>True when <paramref name="revision"/> is a full commit hash rather than a branch or tag.</summary>
    public static bool IsCommitHash(string revision) => CommitHash().IsMatch(revision);

    /// <summary>Throws unless <paramref name="repoId"/> looks like <c>name</c> or <c>org/name</c>.</summary>
    public static void CheckRepoId(string repoId)
    {
        ArgumentNullException.ThrowIfNull(repoId);
        var parts = repoId.Split('/');
        if (parts.Length is < 1 or > 2 || parts.Any(p => p.Length == 0 || p == "." || p == ".." || p.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))))
            throw new SchedulerConfigException($"'{repoId}' is neither an existing file or folder nor a Hub repository id of the form org/name");
    }

    /// <summary>The repository's folder in the cache.</summary>
    public string RepoFolder(string repoId) => Path.Combine(Root, "models--" + repoId.Replace("/", "--"));

    /// <summary>The commit a revision resolves to in the cache, or null when unknown.</summary>
    public string? ResolveCommit(string repoId, string revision)
    {
        if (IsCommitHash(revision)) return revision;
        var refFile = Path.Combine(RepoFolder(repoId), "refs", revision);
        if (!File.Exists(refFile)) return null;
        var commit = File.ReadAllText(refFile).Trim();
        return IsCommitHash(commit) ? commit : null;
    }

    /// <summary>The cached file for a repository path at a revision, or null when it is not cached.</summary>
    public string? TryGetFile(string repoId, string revision, string pathInRepo)
    {
        var commit = ResolveCommit(repoId, revision);
        if (commit is null) return null;
        var file = Path.Combine(RepoFolder(repoId), "snapshots", commit, pathInRepo);
        return File.Exists(file) ? file : null;
    }

    /// <summary>Stores a downloaded file under its commit and points the revision's ref at that commit.</summary>
    public string Store(string repoId, string revision, string commit, string pathInRepo, byte[] content)
    {
        var file = Path.Combine(RepoFolder(repoId), "snapshots", commit, pathInRepo);
        WriteAtomically(file, content);
        if (!IsCommitHash(revision)) WriteAtomically(Path.Combine(RepoFolder(repoId), "refs", revision), System.Text.Encoding.ASCII.GetBytes(commit));
        return file;
    }

    private static void WriteAtomically(string path, byte[] content)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temp = path + "." + Guid.NewGuid().ToString("N") + ".incomplete";
        try
        {
            File.WriteAllBytes(temp, content);
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }
}
