namespace Schedulers.Core

open System

/// The one exception type that loading or saving a scheduler config raises: it names the file (when there is
/// one), the offending key (when there is one), the value found and what was expected.
type SchedulerConfigException(message: string, key: string option, path: string option, inner: exn option) =
    inherit Exception(message, Option.toObj inner)

    /// The config key at fault, if the error concerns one key.
    member _.Key = Option.toObj key

    /// The file being read or written, if any.
    member _.Path = Option.toObj path

    /// An error about one key.
    new(message: string, key: string) = SchedulerConfigException(message, Some key, None, None)

    /// An error about a document or a location as a whole.
    new(message: string) = SchedulerConfigException(message, None, None, None)

    /// An error about a file, with its cause.
    new(message: string, path: string, inner: exn) = SchedulerConfigException(message, None, Some path, Some inner)

/// A parsed `scheduler_config.json`: its members in file order, as diffusers' `load_config` returns the dict.
type ConfigDict =
    { /// Every key and value of the file, in file order (including `_class_name`, `_diffusers_version`, ...).
      Members: (string * JsonValue)[] }

    /// The value of a key, if present.
    member d.TryGet(key: string) : JsonValue option =
        d.Members |> Array.tryFind (fun (k, _) -> k = key) |> Option.map snd

    /// `_class_name`, if present.
    member d.ClassName =
        match d.TryGet "_class_name" with
        | Some(JsonValue.String s) -> Some s
        | _ -> None

    /// `_class_name`, or null when absent (for C#).
    member d.ClassNameOrNull = Option.toObj d.ClassName

/// diffusers' `scheduler_config.json` as text: parsing, typed values with errors that name the key, and the exact
/// text `save_config` writes. The core never touches the file system; the shell (`SchedulerConfigs`) reads and
/// writes the files.
module ConfigFile =

    /// The file name diffusers gives every scheduler config (`SCHEDULER_CONFIG_NAME`).
    [<Literal>]
    let FileName = "scheduler_config.json"

    /// The diffusers release whose behaviour this library follows and whose version it writes.
    [<Literal>]
    let DiffusersVersion = "0.39.0"

    let private fail (key: string) (message: string) = raise (SchedulerConfigException(message, key))

    /// Parses config text; a document that is not JSON, or not a JSON object, is rejected.
    let parse (text: string) : ConfigDict =
        let root =
            try
                Json.parse text
            with JsonParseException(msg, pos) ->
                raise (SchedulerConfigException(sprintf "not a valid JSON document: %s at character %d" msg pos, None, None, None))
        match root with
        | JsonValue.Object members ->
            let dict = { Members = members }
            match dict.TryGet "_class_name" with
            | None
            | Some(JsonValue.String _) -> dict
            | Some other -> fail "_class_name" (sprintf "_class_name is %A but must be a string naming a scheduler class" other)
        | other ->
            raise (SchedulerConfigException(sprintf "a scheduler config must be a JSON object, not %s" (other.GetType().Name), None, None, None))

    /// The largest `scheduler_config.json` accepted, downloaded or read: 4 MiB (4,194,304 bytes). Real scheduler
    /// configs are a few kilobytes; the cap keeps a hostile or broken source (a huge download, a cache entry that
    /// is a link to an endless device) from exhausting memory or disk. The shell's readers enforce it.
    [<Literal>]
    let MaxBytes = 4194304


    /// The text diffusers' `save_config` writes: the members plus `_class_name` and `_diffusers_version`, keys
    /// sorted, indent 2, and a trailing newline.
    let toText (className: string) (members: (string * JsonValue) seq) : string =
        let meta = [| "_class_name", JsonValue.String className; "_diffusers_version", JsonValue.String DiffusersVersion |]
        let rest = members |> Seq.filter (fun (k, _) -> k <> "_class_name" && k <> "_diffusers_version" && k <> "_use_default_values") |> Seq.toArray
        Json.writeIndented (JsonValue.Object(Array.append meta rest)) + "\n"

    /// The keys a config lists in `_use_default_values`: values the writing class merely defaulted.
    let useDefaultValues (d: ConfigDict) : string[] =
        match d.TryGet "_use_default_values" with
        | Some(JsonValue.Array items) -> items |> Array.choose (function JsonValue.String s -> Some s | _ -> None)
        | _ -> [||]

    /// diffusers' `extract_init_dict` for a class taking `classKeys`: drops the keys listed in
    /// `_use_default_values` (so the target class uses its own defaults for them) and that list itself, then splits
    /// the rest into the values the class takes (`Init`) and everything else (`Hidden`: `_class_name`,
    /// `_diffusers_version` and keys of other classes, which diffusers keeps in the config and saves again).
    let extractInit (classKeys: string seq) (d: ConfigDict) : ConfigDict * (string * JsonValue)[] =
        let known = Collections.Generic.HashSet<string>(classKeys)
        let dropped = Collections.Generic.HashSet<string>(useDefaultValues d)
        let kept = d.Members |> Array.filter (fun (k, _) -> k <> "_use_default_values" && not (dropped.Contains k))
        let init = kept |> Array.filter (fun (k, _) -> known.Contains k)
        let hidden = kept |> Array.filter (fun (k, _) -> not (known.Contains k))
        { Members = init }, hidden

    /// The config a loaded scheduler reports (diffusers' `scheduler.config`): its own fields with their resolved
    /// values, then the hidden keys, with `_class_name` set to the loading class and `_diffusers_version` kept
    /// from the file when it had one.
    let resolved (className: string) (fields: (string * JsonValue) seq) (hidden: (string * JsonValue) seq) : ConfigDict =
        let version =
            hidden |> Seq.tryFind (fun (k, _) -> k = "_diffusers_version") |> Option.map snd
            |> Option.defaultValue (JsonValue.String DiffusersVersion)
        let others = hidden |> Seq.filter (fun (k, _) -> k <> "_class_name" && k <> "_diffusers_version")
        { Members =
            Seq.concat [ seq { "_class_name", JsonValue.String className; "_diffusers_version", version }; fields; others ]
            |> Seq.toArray }
