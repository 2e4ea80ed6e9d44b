namespace Schedulers.Core

open System
open System.Collections
open System.Collections.Generic
open Microsoft.FSharp.Reflection

/// The diffusers spellings of a string option whose cases are an F# union: the allowed values (one per case, in
/// declaration order) and the other spellings diffusers accepts and re-registers as a case (`"deis"` is read as
/// `"dpmsolver++"`). A config file's text becomes a case once, when it is read; code matches on the case.
[<Sealed>]
type Choices<'U when 'U: equality>(cases: (string * 'U)[], aliases: (string * 'U)[]) =

    /// Each case with its spelling, in declaration order: the values a config may hold and the text written.
    member _.Cases = cases

    /// Spellings that read as a case but are never written.
    member _.Aliases = aliases

    /// The spelling written for a case.
    member _.Text(value: 'U) : string = cases |> Array.find (fun (_, u) -> u = value) |> fst

    /// The case a spelling denotes (an alias included), if any.
    member _.TryParse(text: string) : 'U option =
        Array.append cases aliases |> Array.tryFind (fun (t, _) -> t = text) |> Option.map snd

    /// The allowed spellings as error messages and docs list them: `"linear", "scaled_linear", "squaredcos_cap_v2"`.
    member _.Listed = cases |> Array.map (fun (t, _) -> sprintf "\"%s\"" t) |> String.concat ", "

/// Building `Choices` from a union.
module Choices =

    /// Every case of `'U` (a union whose cases carry no fields), spelled by `text`, plus `aliases`. The cases are
    /// found by reflection, so the allowed values are listed once: in the union and its exhaustive `text`.
    let ofUnion (text: 'U -> string) (aliases: (string * 'U) list) : Choices<'U> =
        let cases =
            FSharpType.GetUnionCases(typeof<'U>, true)
            |> Array.map (fun case ->
                if case.GetFields().Length > 0 then
                    invalidOp (sprintf "%s.%s carries fields; Choices.ofUnion needs cases without fields" typeof<'U>.Name case.Name)
                let value = FSharpValue.MakeUnion(case, [||], true) :?> 'U
                text value, value)
        Choices(cases, Array.ofList aliases)

/// One key of a scheduler's `scheduler_config.json`: its JSON type and allowed values (as `Expected` says them),
/// how a value is read into the config record and written back, and the check of the value alone. Fields are
/// made with the `ConfigField` functions, one line per key, in a `ConfigSchema`.
[<NoEquality; NoComparison>]
type ConfigField<'C> =
    { /// diffusers' key.
      Key: string
      /// What a value must be, as error messages and the docs say it: "an integer", "a number", "true or false",
      /// `one of "linear", "scaled_linear"`, ...
      Expected: string
      /// True for a key the class does not take but reads when a config of another class carries it (DPM-Solver's
      /// `sigma_min`/`sigma_max`): it is not among the class's keys and is written only when set.
      Carried: bool
      /// The config with the field set from a JSON value; throws `ArgumentException` naming the key, the value and
      /// what was expected.
      Read: JsonValue -> 'C -> 'C
      /// The field's JSON value, keeping the text `source` held when the value is unchanged (`100` stays `100`,
      /// `1e-05` stays `1e-05`); None for a carried key that is not set.
      Write: ConfigDict option -> 'C -> JsonValue option
      /// Checks the field's value alone; throws `ArgumentException` naming the key.
      Check: 'C -> unit }

/// The field constructors of a `ConfigSchema`: each takes the diffusers key, the record's getter and setter, and
/// for floats the default's exact text (how diffusers writes it).
module ConfigField =

    /// A JSON value as messages show it: `null`, `true`, `2.5`, `"cubic"`, `an array`, `an object`.
    let describe (v: JsonValue) : string =
        match v with
        | JsonValue.Null -> "null"
        | JsonValue.Bool b -> if b then "true" else "false"
        | JsonValue.Number t -> t
        | JsonValue.String s -> sprintf "\"%s\"" s
        | JsonValue.Array _ -> "an array"
        | JsonValue.Object _ -> "an object"

    /// Throws the `ArgumentException` of a value that is not what `key` expects.
    let wrong (key: string) (value: JsonValue) (expected: string) : 'a =
        raise (ArgumentException(sprintf "%s is %s but must be %s" key (describe value) expected, key))

    let private field key expected (read: JsonValue -> 'V) (write: ConfigDict option -> 'V -> JsonValue) (get: 'C -> 'V) (set: 'V -> 'C -> 'C) =
        { Key = key
          Expected = expected
          Carried = false
          Read = fun v c -> set (read v) c
          Write = fun source c -> Some(write source (get c))
          Check = ignore }

    /// The number text to write: the loaded file's text when the value is unchanged, else the default's text when
    /// the value is the default (diffusers writes `100` for an int default), else Python's repr.
    let numberText (key: string) (value: float) (defaultText: string) (source: ConfigDict option) : JsonValue =
        let loaded =
            source
            |> Option.bind (fun d -> d.TryGet key)
            |> Option.bind (function
                | JsonValue.Number t when Json.numberValue t = value || (Double.IsNaN value && t = "NaN") -> Some t
                | _ -> None)
        match loaded with
        | Some t -> JsonValue.Number t
        | None when Json.numberValue defaultText = value -> JsonValue.Number defaultText
        | None -> JsonValue.Number(Json.pythonFloat value)

    let private readFloat key (v: JsonValue) =
        match v with
        | JsonValue.Number t -> Json.numberValue t
        | _ -> wrong key v "a number"

    /// An integer key, written as an integer; `3.0` reads as 3, `3.5` and `"3"` are refused.
    let int (key: string) (get: 'C -> int) (set: int -> 'C -> 'C) : ConfigField<'C> =
        let read v =
            match v with
            | JsonValue.Number t ->
                let x = Json.numberValue t
                if Double.IsInteger x && abs x <= 2147483647.0 then Operators.int x else wrong key v "an integer"
            | _ -> wrong key v "an integer"
        field key "an integer" read (fun _ i -> JsonValue.Number(string i)) get set

    /// A float key (integers, `NaN` and `Infinity` accepted) whose default diffusers writes as `defaultText`.
    let float (key: string) (defaultText: string) (get: 'C -> float) (set: float -> 'C -> 'C) : ConfigField<'C> =
        field key "a number" (readFloat key) (fun source x -> numberText key x defaultText source) get set

    /// A boolean key.
    let bool (key: string) (get: 'C -> bool) (set: bool -> 'C -> 'C) : ConfigField<'C> =
        let read v =
            match v with
            | JsonValue.Bool b -> b
            | _ -> wrong key v "true or false"
        field key "true or false" read (fun _ b -> JsonValue.Bool b) get set

    /// A string key whose values are the cases of a union: read once into a case, written as its spelling.
    let choice (key: string) (choices: Choices<'U>) (get: 'C -> 'U) (set: 'U -> 'C -> 'C) : ConfigField<'C> =
        let expected = "one of " + choices.Listed
        let read v =
            match v with
            | JsonValue.String s ->
                match choices.TryParse s with
                | Some u -> u
                | None -> wrong key v expected
            | _ -> wrong key v expected
        field key expected read (fun _ u -> JsonValue.String(choices.Text u)) get set

    /// A key holding null or an array of numbers (`trained_betas`); a loaded array is written back as it was read
    /// when its values are unchanged.
    let floatArrayOrNull (key: string) (get: 'C -> float[] option) (set: float[] option -> 'C -> 'C) : ConfigField<'C> =
        let expected = "null or an array of numbers"
        let read v =
            match v with
            | JsonValue.Null -> None
            | JsonValue.Array items ->
                items
                |> Array.map (function
                    | JsonValue.Number t -> Json.numberValue t
                    | item -> raise (ArgumentException(sprintf "%s holds %s but must hold only numbers" key (describe item), key)))
                |> Some
            | _ -> wrong key v expected
        let write (source: ConfigDict option) (value: float[] option) =
            match value, source |> Option.bind (fun d -> d.TryGet key) with
            | None, _ -> JsonValue.Null
            | Some values, Some(JsonValue.Array items) when items.Length = values.Length
                                                          && Array.forall2 (fun v b -> Json.tryFloat v = Some b) items values ->
                JsonValue.Array items
            | Some values, _ -> values |> Array.map (fun b -> JsonValue.Number(Json.pythonFloat b)) |> JsonValue.Array
        field key expected read write get set

    /// A float key the class reads when a config of another class carries it (null or absent: not set), written
    /// only when set.
    let carriedFloat (key: string) (get: 'C -> float option) (set: float option -> 'C -> 'C) : ConfigField<'C> =
        let read v =
            match v with
            | JsonValue.Null -> None
            | _ -> Some(readFloat key v)
        { Key = key
          Expected = "null or a number"
          Carried = true
          Read = fun v c -> set (read v) c
          Write = fun source c -> get c |> Option.map (fun x -> numberText key x (Json.pythonFloat x) source)
          Check = ignore }

    /// A key whose value is read and written by the given functions (for a type none of the constructors covers).
    let custom (key: string) (expected: string) (read: JsonValue -> 'V) (write: 'V -> JsonValue) (get: 'C -> 'V) (set: 'V -> 'C -> 'C) : ConfigField<'C> =
        field key expected read (fun _ v -> write v) get set

    /// The field with a check of its value alone: `ok` must hold, else `ArgumentException` "key is value but
    /// `requirement`" (`solver_order is 7 but must be 1, 2 or 3`).
    let requires (ok: 'C -> bool) (requirement: string) (f: ConfigField<'C>) : ConfigField<'C> =
        let check c =
            f.Check c
            if not (ok c) then
                let shown = f.Write None c |> Option.map describe |> Option.defaultValue "null"
                raise (ArgumentException(sprintf "%s is %s but %s" f.Key shown requirement, f.Key))
        { f with Check = check }

    /// The field with a check of its value alone that throws `ArgumentException` naming the key itself (for checks
    /// whose message says more than `requires` can, such as a `ConfigLimits` bound).
    let checks (check: 'C -> unit) (f: ConfigField<'C>) : ConfigField<'C> =
        { f with Check = fun c -> f.Check c; check c }

    /// Runs `run`, turning its `ArgumentException` (whose parameter name is the diffusers key) into the
    /// `SchedulerConfigException` that names the key.
    let asConfigError (run: unit -> 'T) : 'T =
        try
            run ()
        with :? ArgumentException as e ->
            match e.ParamName with
            | null -> raise (SchedulerConfigException(e.Message, None, None, Some(e :> exn)))
            | key ->
                let message = e.Message.Replace(sprintf " (Parameter '%s')" key, "")
                raise (SchedulerConfigException(message, Some key, None, Some(e :> exn)))

    /// A .NET value as the JSON value it stands for: null, bool, string, integers, floats (Python's repr), a
    /// sequence of numbers, or a `JsonValue` itself.
    let rec ofObject (key: string) (value: objnull) : JsonValue =
        match value with
        | null -> JsonValue.Null
        | :? JsonValue as j -> j
        | :? bool as b -> JsonValue.Bool b
        | :? string as s -> JsonValue.String s
        | :? int as i -> JsonValue.Number(string i)
        | :? int64 as i -> JsonValue.Number(string i)
        | :? int16 as i -> JsonValue.Number(string i)
        | :? byte as i -> JsonValue.Number(string i)
        | :? float as x -> JsonValue.Number(Json.pythonFloat x)
        | :? float32 as x -> JsonValue.Number(Json.pythonFloat (Operators.float x))
        | :? decimal as x -> JsonValue.Number(Json.pythonFloat (Operators.float x))
        | :? IEnumerable as items -> items |> Seq.cast<objnull> |> Seq.map (ofObject key) |> Array.ofSeq |> JsonValue.Array
        | other ->
            raise (ArgumentException(sprintf "%s is a %s but must be a boolean, number, string, null or array of numbers" key (other.GetType().Name), key))

/// A scheduler's config schema: the class name diffusers writes, the classes whose configs it is meant to load, the
/// defaults, one `ConfigField` per key in diffusers' constructor order, and the checks across fields
/// (`sigma_min < sigma_max`, ...). Everything a config does with JSON comes from it: the keys, reading a
/// `ConfigDict` (missing keys take the defaults; a wrong value is a `SchedulerConfigException` naming the key, the
/// value and what was expected), writing it back byte for byte, validation, and get/set by key.
[<Sealed>]
type ConfigSchema<'C>(className: string, compatibles: string[], defaults: 'C, fields: ConfigField<'C> list, validate: 'C -> 'C) =
    let fields = Array.ofList fields
    let byKey = fields |> Array.map (fun f -> f.Key, f) |> dict
    do
        if byKey.Count <> fields.Length then invalidArg "fields" (sprintf "%s: a key is listed twice" className)

    let field (key: string) =
        match byKey.TryGetValue key with
        | true, f -> f
        | _ -> raise (ArgumentException(sprintf "%s is not a %s config key" key className, "key"))

    /// The class name diffusers writes (`_class_name`).
    member _.ClassName = className

    /// diffusers' `compatibles`: the classes whose configs this class is meant to load.
    member _.Compatibles: IReadOnlyList<string> = compatibles

    /// The class's defaults (diffusers' constructor defaults).
    member _.Defaults = defaults

    /// The fields, in diffusers' constructor order (carried keys last).
    member _.Fields = fields

    /// The class's keys, in diffusers' constructor order (the carried keys are not among them).
    member _.Keys: string[] = fields |> Array.filter (fun f -> not f.Carried) |> Array.map (fun f -> f.Key)

    /// Every key a config of this class is read from: the class's keys, then the carried keys.
    member _.AllKeys: string[] = fields |> Array.map (fun f -> f.Key)

    /// The field of a key; throws `ArgumentException` for a key the schema does not have.
    member _.Field(key: string) : ConfigField<'C> = field key

    /// Checks every field, then the fields together; returns the config or throws `ArgumentException` naming the key.
    member _.Validate(config: 'C) : 'C =
        for f in fields do
            f.Check config
        validate config

    /// The config with the key set from a JSON value (not validated); throws `ArgumentException` naming the key.
    member _.Set(key: string, value: JsonValue, config: 'C) : 'C = (field key).Read value config

    /// The config with the key set from a .NET value (bool, int, double, string, null, a sequence of numbers, or
    /// a `JsonValue`), as `Set` reads its JSON form.
    member s.SetValue(key: string, value: objnull, config: 'C) : 'C = s.Set(key, ConfigField.ofObject key value, config)

    /// The config with each (key, value) applied by `SetValue`, in order (not validated).
    member s.SetValues(pairs: seq<KeyValuePair<string, objnull>>, config: 'C) : 'C =
        pairs |> Seq.fold (fun acc (KeyValue(k, v)) -> s.SetValue(k, v, acc)) config

    /// The JSON value of a key as the config would be written (null for an unset carried key).
    member _.Get(key: string, config: 'C) : JsonValue =
        (field key).Write None config |> Option.defaultValue JsonValue.Null

    /// The config a dict describes, not validated: its keys of this schema over the defaults; a wrong type or value
    /// throws `SchedulerConfigException` naming the key.
    member _.Read(d: ConfigDict) : 'C =
        ConfigField.asConfigError (fun () ->
            fields
            |> Array.fold (fun c f ->
                match d.TryGet f.Key with
                | Some v -> f.Read v c
                | None -> c) defaults)

    /// The config a dict describes, validated (diffusers' constructor); every error is a `SchedulerConfigException`
    /// naming the key.
    member s.OfDict(d: ConfigDict) : 'C =
        let c = s.Read d
        ConfigField.asConfigError (fun () -> s.Validate c)

    /// diffusers' `from_config` on a parsed config: drops the keys listed in `_use_default_values`, reads the
    /// class's keys over its defaults (validated; errors name the key) and keeps every other key. Returns the config,
    /// the dict it was read from (whose number text `Text` keeps) and the keys of other classes (saved again).
    member s.Load(d: ConfigDict) : struct ('C * ConfigDict * (string * JsonValue)[]) =
        let init, hidden = ConfigFile.extractInit s.Keys d
        // The schema reads its keys from everything kept: its carried keys (DPM-Solver's sigma_min/sigma_max) are
        // among the keys of other classes.
        let kept = { Members = Array.append init.Members hidden }
        struct (s.OfDict kept, kept, hidden)

    /// `from_config` then `save_config`: the text a class writes for a config it loaded (hidden keys and unchanged
    /// number text kept).
    member s.Resave(d: ConfigDict) : string =
        let struct (config, kept, hidden) = s.Load d
        s.Text(config, Some kept, hidden)

    /// The config's keys and values as JSON members: the class's keys, then the carried keys that are set. Numbers
    /// keep the text `source` held where unchanged.
    member _.ToMembers(config: 'C, source: ConfigDict option) : (string * JsonValue)[] =
        fields |> Array.choose (fun f -> f.Write source config |> Option.map (fun v -> f.Key, v))

    /// The text diffusers' `save_config` writes: the config's members, then the hidden keys a loaded file carried
    /// (a hidden key that is also written as a field is written once, as the field).
    member s.Text(config: 'C, source: ConfigDict option, hidden: seq<string * JsonValue>) : string =
        let members = s.ToMembers(config, source)
        let own = members |> Array.map fst |> Set.ofArray
        ConfigFile.toText className (Seq.append members (hidden |> Seq.filter (fun (k, _) -> not (own.Contains k))))

    /// The text `save_config` writes for a config made in code.
    member s.Text(config: 'C) : string = s.Text(config, None, Seq.empty)
