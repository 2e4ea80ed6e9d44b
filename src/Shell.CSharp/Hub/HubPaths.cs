using System.Text;
using Schedulers.Core;

namespace Schedulers.Hub;

/// <summary>
/// The rules every name that becomes part of a Hugging Face cache path or a Hub address must pass. Repository ids,
/// revisions and paths inside a repository come from callers and from configuration, so they are treated as hostile:
/// a name is either refused with a <see cref="SchedulerConfigException"/> or accepted as safe to join under the
/// repository's cache folder (where <see cref="HubCache"/> resolves it and checks again that it stays inside).
/// </summary>
public static class HubPaths
{
    /// <summary>The longest repository id the Hub accepts (huggingface_hub's <c>validate_repo_id</c>).</summary>
    public const int MaxRepoIdLength = 96;

    /// <summary>The longest single name in a revision or repository path (the common file-system limit on a file name).</summary>
    public const int MaxSegmentLength = 255;

    /// <summary>The refusal of <paramref name="value"/>, shown escaped so that a NUL or a control character cannot
    /// garble the message.</summary>
    internal static SchedulerConfigException Refused(string what, string value, string why)
    {
        var shown = new StringBuilder();
        foreach (var c in value.Take(200))
            shown.Append(char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString());
        return new SchedulerConfigException($"{what} '{shown}' is refused: {why}");
    }

    private static bool IsRepoChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.';

    /// <summary>Refuses anything but <c>name</c> or <c>org/name</c> where each part uses ASCII letters, digits,
    /// <c>-</c>, <c>_</c> and <c>.</c>, does not start or end with <c>-</c> or <c>.</c>, and the whole has no
    /// <c>--</c> or <c>..</c> (huggingface_hub's rules; <c>--</c> would also make two ids share one cache folder).</summary>
    public static void CheckRepoId(string repoId)
    {
        ArgumentNullException.ThrowIfNull(repoId);
        var parts = repoId.Split('/');
        static bool Bad(string p) =>
            p.Length == 0 || !p.All(IsRepoChar) || p.StartsWith('-') || p.StartsWith('.') || p.EndsWith('-') || p.EndsWith('.');
        if (repoId.Length > MaxRepoIdLength || parts.Length > 2 || parts.Any(Bad) || repoId.Contains("--") || repoId.Contains(".."))
            throw new SchedulerConfigException(
                $"'{repoId}' is neither an existing file or folder nor a Hub repository id of the form org/name (letters, digits, '-', '_', '.'; at most {MaxRepoIdLength} characters)");
    }

    /// <summary>The reason a <c>/</c>-separated relative name is unsafe as a path, or null. Each segment must be
    /// non-empty, not <c>.</c> or <c>..</c>, at most <see cref="MaxSegmentLength"/> characters, without control
    /// characters (NUL included), backslashes or colons (a drive or stream on Windows); the whole must not start with
    /// <c>/</c> (absolute).</summary>
    private static string? UnsafeRelative(string value)
    {
        if (value.Length == 0) return "it is empty";
        if (value.StartsWith('/')) return "it is an absolute path";
        if (value.Any(char.IsControl)) return "it contains a control character";
        if (value.Contains('\\')) return "it contains a backslash";
        if (value.Contains(':')) return "it contains a colon";
        foreach (var segment in value.Split('/'))
        {
            if (segment.Length == 0) return "it has an empty segment ('//' or a trailing '/')";
            if (segment is "." or "..") return "it has a '.' or '..' segment";
            if (segment.Length > MaxSegmentLength) return $"a segment is longer than {MaxSegmentLength} characters";
        }
        return null;
    }

    /// <summary>True when <paramref name="revision"/> is a full 40-hex commit hash rather than a branch or tag.</summary>
    public static bool IsCommitHash(string? revision) =>
        revision is { Length: 40 } && revision.All(c => char.IsAsciiDigit(c) || c is >= 'a' and <= 'f');

    /// <summary>Refuses a revision that is neither a 40-hex commit nor a branch or tag name by git's rules
    /// (<c>git check-ref-format</c>): <c>/</c>-separated non-empty segments, none starting with <c>.</c> or ending
    /// with <c>.lock</c>, no <c>..</c>, <c>@{</c>, space, <c>~ ^ : ? * [ \</c>, control characters, and no final
    /// <c>.</c>.</summary>
    public static void CheckRevision(string revision)
    {
        ArgumentNullException.ThrowIfNull(revision);
        if (IsCommitHash(revision)) return;
        var why = UnsafeRelative(revision)
            ?? (revision.Contains("..") ? "it contains '..'"
            : revision.Contains("@{") || revision == "@" ? "it contains '@{' or is '@'"
            : revision.Any(c => c == ' ' || "~^?*[".Contains(c)) ? "it contains one of ' ~^?*['"
            : revision.EndsWith('.') ? "it ends with '.'"
            : revision.Split('/').Any(s => s.StartsWith('.') || s.EndsWith(".lock")) ? "a segment starts with '.' or ends with '.lock'"
            : null);
        if (why is not null) throw Refused("revision", revision, why + "; expected a branch or tag name or a 40-hex commit");
    }

    /// <summary>Refuses a path inside a repository (a subfolder joined with a file name) unless it is relative and
    /// made of safe segments.</summary>
    public static void CheckPathInRepo(string pathInRepo)
    {
        ArgumentNullException.ThrowIfNull(pathInRepo);
        if (UnsafeRelative(pathInRepo) is { } why)
            throw Refused("path in repository", pathInRepo, why + "; expected a relative path such as scheduler/scheduler_config.json");
    }

    /// <summary>Refuses a subfolder unless it is a relative path of safe segments (one trailing <c>/</c> is allowed
    /// and dropped). Returns the subfolder without that slash.</summary>
    public static string CheckSubfolder(string subfolder)
    {
        ArgumentNullException.ThrowIfNull(subfolder);
        var trimmed = subfolder.Length > 1 && subfolder.EndsWith('/') ? subfolder[..^1] : subfolder;
        if (UnsafeRelative(trimmed) is { } why)
            throw Refused("subfolder", subfolder, why + "; expected a relative folder such as scheduler");
        return trimmed;
    }

    /// <summary>The repository path of the config for an optional subfolder (checked).</summary>
    public static string ConfigPathInRepo(string? subfolder) =>
        subfolder is null ? ConfigFile.FileName : CheckSubfolder(subfolder) + "/" + ConfigFile.FileName;
}
