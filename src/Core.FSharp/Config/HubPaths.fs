namespace Schedulers.Core

open System
open System.IO

/// The rules every name that becomes part of a Hugging Face cache path must pass, and the one function that turns
/// such names into a cache path. Repository ids, revisions and paths inside a repository come from callers and from
/// configuration, so they are treated as hostile: a name is either refused with a `SchedulerConfigException`, or
/// its path, once resolved, lies inside the repository's cache folder.
module HubPaths =

    /// The longest repository id the Hub accepts (huggingface_hub's `validate_repo_id`).
    [<Literal>]
    let MaxRepoIdLength = 96

    /// The longest single name in a revision or repository path (the common file-system limit on a file name).
    [<Literal>]
    let MaxSegmentLength = 255

    let private refuse (what: string) (value: string) (why: string) : 'a =
        // The value is shown escaped, so a NUL or a control character cannot garble the message.
        let shown = value |> Seq.truncate 200 |> Seq.map (fun c -> if Char.IsControl c then sprintf "\\u%04x" (int c) else string c) |> String.concat ""
        raise (SchedulerConfigException(sprintf "%s '%s' is refused: %s" what shown why))

    let private isRepoChar (c: char) = Char.IsAsciiLetterOrDigit c || c = '-' || c = '_' || c = '.'

    /// Refuses anything but `name` or `org/name` where each part uses ASCII letters, digits, `-`, `_` and `.`, does
    /// not start or end with `-` or `.`, and the whole has no `--` or `..` (huggingface_hub's rules; `--` would
    /// also make two ids share one cache folder).
    let checkRepoId (repoId: string) =
        if isNull (box repoId) then nullArg "repoId"
        let parts = repoId.Split '/'
        let bad (p: string) =
            p.Length = 0 || not (Seq.forall isRepoChar p) || p.StartsWith '-' || p.StartsWith '.' || p.EndsWith '-' || p.EndsWith '.'
        if repoId.Length > MaxRepoIdLength || parts.Length > 2 || Array.exists bad parts || repoId.Contains "--" || repoId.Contains ".." then
            raise (SchedulerConfigException(sprintf "'%s' is neither an existing file or folder nor a Hub repository id of the form org/name (letters, digits, '-', '_', '.'; at most %d characters)" repoId MaxRepoIdLength))

    /// The reason a `/`-separated relative name is unsafe as a path, or None. Each segment must be non-empty, not
    /// `.` or `..`, at most `MaxSegmentLength` characters, without control characters (NUL included), backslashes
    /// or colons (a drive or stream on Windows); the whole must not start with `/` (absolute).
    let private unsafeRelative (value: string) : string option =
        if value.Length = 0 then Some "it is empty"
        elif value.StartsWith '/' then Some "it is an absolute path"
        elif value |> Seq.exists Char.IsControl then Some "it contains a control character"
        elif value.Contains '\\' then Some "it contains a backslash"
        elif value.Contains ':' then Some "it contains a colon"
        else
            value.Split '/'
            |> Array.tryPick (fun segment ->
                if segment.Length = 0 then Some "it has an empty segment ('//' or a trailing '/')"
                elif segment = "." || segment = ".." then Some "it has a '.' or '..' segment"
                elif segment.Length > MaxSegmentLength then Some(sprintf "a segment is longer than %d characters" MaxSegmentLength)
                else None)

    /// True when `revision` is a full 40-hex commit hash rather than a branch or tag.
    let isCommitHash (revision: string) =
        not (isNull (box revision)) && revision.Length = 40 && revision |> Seq.forall (fun c -> Char.IsAsciiDigit c || (c >= 'a' && c <= 'f'))

    /// Refuses a revision that is neither a 40-hex commit nor a branch or tag name by git's rules
    /// (`git check-ref-format`): `/`-separated non-empty segments, none starting with `.` or ending with `.lock`,
    /// no `..`, `@{`, space, `~ ^ : ? * [ \`, control characters, and no final `.`.
    let checkRevision (revision: string) =
        if isNull (box revision) then nullArg "revision"
        if not (isCommitHash revision) then
            let why =
                match unsafeRelative revision with
                | Some why -> Some why
                | None when revision.Contains ".." -> Some "it contains '..'"
                | None when revision.Contains "@{" || revision = "@" -> Some "it contains '@{' or is '@'"
                | None when revision |> Seq.exists (fun c -> c = ' ' || "~^?*[".Contains c) -> Some "it contains one of ' ~^?*['"
                | None when revision.EndsWith '.' -> Some "it ends with '.'"
                | None when revision.Split '/' |> Array.exists (fun s -> s.StartsWith '.' || s.EndsWith ".lock") -> Some "a segment starts with '.' or ends with '.lock'"
                | None -> None
            match why with
            | Some why -> refuse "revision" revision (why + "; expected a branch or tag name or a 40-hex commit")
            | None -> ()

    /// Refuses a path inside a repository (a subfolder joined with a file name) unless it is relative and made of
    /// safe segments.
    let checkPathInRepo (pathInRepo: string) =
        if isNull (box pathInRepo) then nullArg "pathInRepo"
        match unsafeRelative pathInRepo with
        | Some why -> refuse "path in repository" pathInRepo (why + "; expected a relative path such as scheduler/scheduler_config.json")
        | None -> ()

    /// Refuses a subfolder unless it is a relative path of safe segments (one trailing `/` is allowed and dropped).
    /// Returns the subfolder without that slash.
    let checkSubfolder (subfolder: string) : string =
        if isNull (box subfolder) then nullArg "subfolder"
        let trimmed = if subfolder.Length > 1 && subfolder.EndsWith '/' then subfolder.[.. subfolder.Length - 2] else subfolder
        match unsafeRelative trimmed with
        | Some why -> refuse "subfolder" subfolder (why + "; expected a relative folder such as scheduler")
        | None -> trimmed

    /// The repository path of the config for an optional subfolder (checked).
    let configPathInRepo (subfolder: string option) =
        match subfolder with
        | Some s -> checkSubfolder s + "/" + ConfigFile.FileName
        | None -> ConfigFile.FileName

    /// A repository's folder in the cache, `cache/models--org--name`, for a checked repository id.
    let repoFolder (cache: string) (repoId: string) =
        checkRepoId repoId
        Path.GetFullPath(Path.Combine(cache, "models--" + repoId.Replace("/", "--")))

    /// The one way to a path in the cache: `parts` joined under the repository's folder and resolved
    /// (`Path.GetFullPath`), refused unless the result lies strictly inside that folder. Every read and write of the
    /// cache goes through it, so a name that slipped past the checks above still cannot leave the folder.
    let inside (cache: string) (repoId: string) (parts: string list) : string =
        let root = repoFolder cache repoId
        let full = Path.GetFullPath(Path.Combine(Array.ofList (root :: parts)))
        let prefix = if root.EndsWith Path.DirectorySeparatorChar then root else root + string Path.DirectorySeparatorChar
        if not (full.StartsWith(prefix, StringComparison.Ordinal)) then
            refuse "cache path" full (sprintf "it lies outside the repository's cache folder %s" root)
        full

    /// `refs/<revision>`: the file naming the commit a branch or tag points to.
    let refFile (cache: string) (repoId: string) (revision: string) =
        checkRevision revision
        inside cache repoId ("refs" :: List.ofArray (revision.Split '/'))

    /// `snapshots/<commit>/<pathInRepo>`: the file as of a commit.
    let snapshotFile (cache: string) (repoId: string) (commit: string) (pathInRepo: string) =
        if not (isCommitHash commit) then refuse "commit" commit "expected 40 lowercase hexadecimal digits"
        checkPathInRepo pathInRepo
        inside cache repoId ("snapshots" :: commit :: List.ofArray (pathInRepo.Split '/'))
