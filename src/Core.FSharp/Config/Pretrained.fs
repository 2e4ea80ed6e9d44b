namespace Schedulers.Core

open System
open System.IO

/// Finding a `scheduler_config.json` on disk as diffusers' `load_config` does, and loading the Flax flavour's
/// (config, state) pairs from it. The core never downloads: a repository id is looked up in the Hugging Face cache
/// (the shell's `FromPretrained` also downloads into that cache).
module Pretrained =

    /// The Hugging Face cache folder: `HF_HUB_CACHE`, else `HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`,
    /// else `~/.cache/huggingface/hub`, reading variables through `variable`.
    let cacheDirectoryFrom (variable: Func<string, string | null>) : string =
        let get name =
            match variable.Invoke name with
            | null -> None
            | v when String.IsNullOrWhiteSpace v -> None
            | v -> Some v
        match get "HF_HUB_CACHE", get "HF_HOME" with
        | Some cache, _ -> cache
        | None, Some home -> Path.Combine(home, "hub")
        | None, None ->
            let xdg = get "XDG_CACHE_HOME" |> Option.defaultWith (fun () -> Path.Combine(Environment.GetFolderPath Environment.SpecialFolder.UserProfile, ".cache"))
            Path.Combine(xdg, "huggingface", "hub")

    /// The cache folder from the process environment.
    let cacheDirectory () = cacheDirectoryFrom (Func<_, _> Environment.GetEnvironmentVariable)

    /// True when `revision` is a full 40-hex commit hash rather than a branch or tag.
    let isCommitHash (revision: string) = HubPaths.isCommitHash revision

    /// A repository's folder in the cache: `models--org--name` (the id is checked, see `HubPaths.checkRepoId`).
    let repoFolder (cache: string) (repoId: string) = HubPaths.repoFolder cache repoId

    /// The commit a revision points to in the cache (`refs/<revision>`), the revision itself when it is a commit
    /// hash, or None. The revision is checked and the ref file must lie inside the repository's cache folder.
    let resolveCommit (cache: string) (repoId: string) (revision: string) : string option =
        if isCommitHash revision then Some revision
        else
            let refFile = HubPaths.refFile cache repoId revision
            if File.Exists refFile then
                // A ref holds 40 characters; reading a bounded prefix keeps a ref that is a huge or endless file
                // (a link to /dev/zero) from exhausting memory.
                use stream = new FileStream(refFile, FileMode.Open, FileAccess.Read)
                let buffer = Array.zeroCreate<byte> 128
                let n = stream.ReadAtLeast(buffer.AsSpan(), buffer.Length, false)
                let commit = Text.Encoding.ASCII.GetString(buffer, 0, n).Trim()
                if isCommitHash commit then Some commit else None
            else None

    /// The cached copy of `pathInRepo` at `revision` (`snapshots/<commit>/<path>`), if there is one; the path is
    /// checked and must lie inside the repository's cache folder.
    let tryCached (cache: string) (repoId: string) (revision: string) (pathInRepo: string) : string option =
        HubPaths.checkPathInRepo pathInRepo
        resolveCommit cache repoId revision
        |> Option.map (fun commit -> HubPaths.snapshotFile cache repoId commit pathInRepo)
        |> Option.filter File.Exists

    /// The repository path of the config for an optional subfolder (checked, see `HubPaths.checkSubfolder`).
    let configPathInRepo (subfolder: string option) = HubPaths.configPathInRepo subfolder

    /// The local config file for `pathOrRepoId`: the file itself; `folder/subfolder/scheduler_config.json` or
    /// `folder/scheduler_config.json`; or the cached copy of a repository's file. None when it is a repository id
    /// with nothing cached; an existing folder without the file is an error naming the folder.
    let tryLocateLocal (pathOrRepoId: string) (subfolder: string option) (revision: string option) (cache: string) : string option =
        if File.Exists pathOrRepoId then Some pathOrRepoId
        elif Directory.Exists pathOrRepoId then
            let inSub = subfolder |> Option.map (fun s -> Path.Combine(pathOrRepoId, s, ConfigFile.FileName)) |> Option.filter File.Exists
            let direct = Path.Combine(pathOrRepoId, ConfigFile.FileName)
            match inSub with
            | Some f -> Some f
            | None when File.Exists direct -> Some direct
            | None ->
                let where = match subfolder with Some s -> sprintf " or its subfolder %s" s | None -> ""
                raise (SchedulerConfigException(sprintf "no file named %s found in directory %s%s" ConfigFile.FileName pathOrRepoId where))
        else
            tryCached cache pathOrRepoId (defaultArg revision "main") (configPathInRepo subfolder)

    /// The config dict for `pathOrRepoId` from a file, a folder or the Hugging Face cache (no download).
    let readLocal (pathOrRepoId: string) (subfolder: string option) : ConfigDict =
        match tryLocateLocal pathOrRepoId subfolder None (cacheDirectory ()) with
        | Some file -> ConfigFile.read file
        | None ->
            raise (SchedulerConfigException(sprintf "'%s' is neither a file, a folder, nor a repository in the Hugging Face cache %s (the shell's FromPretrained downloads)" pathOrRepoId (cacheDirectory ())))

    let private load (schema: ConfigSchema<'C>) (d: ConfigDict) =
        let init, hidden = ConfigFile.extractInit schema.Keys d
        schema.OfDict { Members = Array.append init.Members hidden }

    /// Flax `FlaxScoreSdeVeScheduler.from_pretrained`: the config and `create_state()`.
    let flaxScoreSdeVe (pathOrRepoId: string) (subfolder: string option) : ScoreSdeVeConfig * ScoreSdeVeState =
        let config = readLocal pathOrRepoId subfolder |> load ScoreSdeVeConfig.schema
        config, ScoreSdeVe.createState config

    /// Flax `FlaxKarrasVeScheduler.from_pretrained`: the config and `create_state()`.
    let flaxKarrasVe (pathOrRepoId: string) (subfolder: string option) : KarrasVeConfig * KarrasVeState =
        let config = readLocal pathOrRepoId subfolder |> load KarrasVeConfig.schema
        config, KarrasVe.createState Flavour.Flax config

    /// Flax `FlaxDPMSolverMultistepScheduler.from_pretrained`: the config and `create_state()`.
    let flaxDpmSolver (pathOrRepoId: string) (subfolder: string option) : DpmSolverConfig * FlaxDpmSolverState =
        let config = readLocal pathOrRepoId subfolder |> load DpmSolverConfig.schema
        config, DpmSolverMultistepFlax.createState config
