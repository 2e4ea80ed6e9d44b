namespace Schedulers.Core

open System
open System.Globalization
open System.Text

/// A JSON value as Python's `json` module reads and writes it: numbers keep their text (so `100` stays an integer
/// and `0.1` keeps every digit), objects keep their key order, and the bare literals `NaN`, `Infinity` and
/// `-Infinity` that Python writes are numbers.
[<RequireQualifiedAccess>]
type JsonValue =
    /// `null` (Python's None).
    | Null
    /// `true` or `false`.
    | Bool of bool
    /// A number, as written (including `NaN`, `Infinity`, `-Infinity`).
    | Number of text: string
    /// A string.
    | String of string
    /// An array.
    | Array of JsonValue[]
    /// An object; keys in file order.
    | Object of (string * JsonValue)[]

/// The error a malformed JSON document raises: where it failed and what was expected.
exception JsonParseException of message: string * position: int
    with
        /// The message with the character offset.
        override this.Message = sprintf "%s (at character %d)" this.message this.position

/// Reading JSON text into `JsonValue` and reading values back out of it.
module Json =

    [<Struct>]
    type private Reader =
        val Text: string
        val mutable Pos: int
        new(text) = { Text = text; Pos = 0 }

    let private fail (r: byref<Reader>) (what: string) = raise (JsonParseException(what, r.Pos))

    let private skipWhitespace (r: byref<Reader>) =
        while r.Pos < r.Text.Length && (let c = r.Text[r.Pos] in c = ' ' || c = '\n' || c = '\r' || c = '\t') do
            r.Pos <- r.Pos + 1

    let private expectLiteral (r: byref<Reader>) (literal: string) =
        if String.CompareOrdinal(r.Text, r.Pos, literal, 0, literal.Length) = 0 then
            r.Pos <- r.Pos + literal.Length
        else
            fail &r (sprintf "expected '%s'" literal)

    let private parseString (r: byref<Reader>) : string =
        // r.Pos is at the opening quote.
        r.Pos <- r.Pos + 1
        let sb = StringBuilder()
        let mutable fin = false
        while not fin do
            if r.Pos >= r.Text.Length then fail &r "unterminated string"
            let c = r.Text[r.Pos]
            if c = '"' then
                r.Pos <- r.Pos + 1
                fin <- true
            elif c = '\\' then
                if r.Pos + 1 >= r.Text.Length then fail &r "unterminated escape"
                let e = r.Text[r.Pos + 1]
                r.Pos <- r.Pos + 2
                match e with
                | '"' -> sb.Append '"' |> ignore
                | '\\' -> sb.Append '\\' |> ignore
                | '/' -> sb.Append '/' |> ignore
                | 'b' -> sb.Append '\b' |> ignore
                | 'f' -> sb.Append '\f' |> ignore
                | 'n' -> sb.Append '\n' |> ignore
                | 'r' -> sb.Append '\r' |> ignore
                | 't' -> sb.Append '\t' |> ignore
                | 'u' ->
                    if r.Pos + 4 > r.Text.Length then fail &r "truncated \\u escape"
                    let hex = r.Text.Substring(r.Pos, 4)
                    match Int32.TryParse(hex, NumberStyles.HexNumber, CultureInfo.InvariantCulture) with
                    | true, code ->
                        sb.Append(char code) |> ignore
                        r.Pos <- r.Pos + 4
                    | _ -> fail &r (sprintf "bad \\u escape '%s'" hex)
                | other -> fail &r (sprintf "unknown escape '\\%c'" other)
            elif c < ' ' then
                fail &r "control character in string"
            else
                sb.Append c |> ignore
                r.Pos <- r.Pos + 1
        sb.ToString()

    let private parseNumber (r: byref<Reader>) : string =
        let start = r.Pos
        if r.Pos < r.Text.Length && r.Text[r.Pos] = '-' then r.Pos <- r.Pos + 1
        if String.CompareOrdinal(r.Text, r.Pos, "Infinity", 0, 8) = 0 then
            r.Pos <- r.Pos + 8
        else
            let digitsStart = r.Pos
            while r.Pos < r.Text.Length && Char.IsAsciiDigit r.Text[r.Pos] do
                r.Pos <- r.Pos + 1
            if r.Pos = digitsStart then fail &r "expected a digit"
            if r.Pos < r.Text.Length && r.Text[r.Pos] = '.' then
                r.Pos <- r.Pos + 1
                let fracStart = r.Pos
                while r.Pos < r.Text.Length && Char.IsAsciiDigit r.Text[r.Pos] do
                    r.Pos <- r.Pos + 1
                if r.Pos = fracStart then fail &r "expected a digit after '.'"
            if r.Pos < r.Text.Length && (r.Text[r.Pos] = 'e' || r.Text[r.Pos] = 'E') then
                r.Pos <- r.Pos + 1
                if r.Pos < r.Text.Length && (r.Text[r.Pos] = '+' || r.Text[r.Pos] = '-') then r.Pos <- r.Pos + 1
                let expStart = r.Pos
                while r.Pos < r.Text.Length && Char.IsAsciiDigit r.Text[r.Pos] do
                    r.Pos <- r.Pos + 1
                if r.Pos = expStart then fail &r "expected an exponent"
        r.Text.Substring(start, r.Pos - start)

    let rec private parseValue (r: byref<Reader>) (depth: int) : JsonValue =
        if depth > 512 then fail &r "nesting deeper than 512 levels"
        skipWhitespace &r
        if r.Pos >= r.Text.Length then fail &r "unexpected end of input"
        match r.Text[r.Pos] with
        | '{' ->
            r.Pos <- r.Pos + 1
            let items = ResizeArray()
            skipWhitespace &r
            if r.Pos < r.Text.Length && r.Text[r.Pos] = '}' then
                r.Pos <- r.Pos + 1
            else
                let mutable more = true
                while more do
                    skipWhitespace &r
                    if r.Pos >= r.Text.Length || r.Text[r.Pos] <> '"' then fail &r "expected a string key"
                    let key = parseString &r
                    skipWhitespace &r
                    if r.Pos >= r.Text.Length || r.Text[r.Pos] <> ':' then fail &r "expected ':'"
                    r.Pos <- r.Pos + 1
                    items.Add((key, parseValue &r (depth + 1)))
                    skipWhitespace &r
                    if r.Pos < r.Text.Length && r.Text[r.Pos] = ',' then r.Pos <- r.Pos + 1
                    elif r.Pos < r.Text.Length && r.Text[r.Pos] = '}' then
                        r.Pos <- r.Pos + 1
                        more <- false
                    else fail &r "expected ',' or '}'"
            JsonValue.Object(items.ToArray())
        | '[' ->
            r.Pos <- r.Pos + 1
            let items = ResizeArray()
            skipWhitespace &r
            if r.Pos < r.Text.Length && r.Text[r.Pos] = ']' then
                r.Pos <- r.Pos + 1
            else
                let mutable more = true
                while more do
                    items.Add(parseValue &r (depth + 1))
                    skipWhitespace &r
                    if r.Pos < r.Text.Length && r.Text[r.Pos] = ',' then r.Pos <- r.Pos + 1
                    elif r.Pos < r.Text.Length && r.Text[r.Pos] = ']' then
                        r.Pos <- r.Pos + 1
                        more <- false
                    else fail &r "expected ',' or ']'"
            JsonValue.Array(items.ToArray())
        | '"' -> JsonValue.String(parseString &r)
        | 't' -> expectLiteral &r "true"; JsonValue.Bool true
        | 'f' -> expectLiteral &r "false"; JsonValue.Bool false
        | 'n' -> expectLiteral &r "null"; JsonValue.Null
        | 'N' -> expectLiteral &r "NaN"; JsonValue.Number "NaN"
        | 'I' -> expectLiteral &r "Infinity"; JsonValue.Number "Infinity"
        | c when c = '-' || Char.IsAsciiDigit c -> JsonValue.Number(parseNumber &r)
        | c -> fail &r (sprintf "unexpected character '%c'" c)

    /// Parses a whole JSON document; throws `JsonParseException` on malformed or trailing text.
    let parse (text: string) : JsonValue =
        if obj.ReferenceEquals(text, null) then nullArg "text"
        let mutable r = Reader(text)
        // A UTF-8 byte-order mark decoded into the string is not content.
        if text.Length > 0 && text[0] = '\uFEFF' then r.Pos <- 1
        let v = parseValue &r 0
        skipWhitespace &r
        if r.Pos <> text.Length then fail &r "unexpected text after the JSON value"
        v

    /// The double a number's text denotes (`NaN`, `Infinity`, `-Infinity` included).
    let numberValue (text: string) : float =
        match text with
        | "NaN" -> nan
        | "Infinity" -> infinity
        | "-Infinity" -> -infinity
        | t -> Double.Parse(t, NumberStyles.Float, CultureInfo.InvariantCulture)

    /// True when a number's text is an integer literal (no '.', exponent or named value).
    let isIntegerText (text: string) =
        text.Length > 0 && text |> Seq.forall (fun c -> Char.IsAsciiDigit c || c = '-')

    /// The value of `key` in an object, if the value is an object holding it.
    let tryField (key: string) (v: JsonValue) : JsonValue option =
        match v with
        | JsonValue.Object items -> items |> Array.tryFind (fun (k, _) -> k = key) |> Option.map snd
        | _ -> None

    /// The number a value holds as a double, if it is a number.
    let tryFloat (v: JsonValue) : float option =
        match v with
        | JsonValue.Number t -> Some(numberValue t)
        | _ -> None

    /// A double as Python's `repr` writes it (what `json.dumps` emits): the shortest text that reads back to the
    /// same double, with `.0` on integral values, exponent form below 1e-4 and from 1e16 (`1e-05`, `1e+16`), and
    /// `NaN`, `Infinity`, `-Infinity` for the non-finite values.
    let pythonFloat (value: float) : string =
        if Double.IsNaN value then "NaN"
        elif Double.IsPositiveInfinity value then "Infinity"
        elif Double.IsNegativeInfinity value then "-Infinity"
        elif value = 0.0 then (if Double.IsNegative value then "-0.0" else "0.0")
        else
            let shortest = value.ToString("R", CultureInfo.InvariantCulture)
            let negative = value < 0.0
            let body = if negative then shortest.Substring 1 else shortest
            // Split the shortest round-trip text into its digits and decimal exponent.
            let mantissa, exp10 =
                let eIndex = body.IndexOfAny [| 'E'; 'e' |]
                let m, e = if eIndex >= 0 then body.Substring(0, eIndex), int (body.Substring(eIndex + 1)) else body, 0
                let dot = m.IndexOf '.'
                let intPart, fracPart = if dot >= 0 then m.Substring(0, dot), m.Substring(dot + 1) else m, ""
                let digits = (intPart + fracPart).TrimStart '0'
                let leadingZeros = (intPart + fracPart).Length - digits.Length
                let pointPos = intPart.Length + e - leadingZeros
                digits.TrimEnd '0', pointPos - 1
            let digits = if mantissa = "" then "0" else mantissa
            let text =
                if exp10 < -4 || exp10 >= 16 then
                    let m = if digits.Length = 1 then digits else digits.Substring(0, 1) + "." + digits.Substring 1
                    let sign = if exp10 < 0 then "-" else "+"
                    sprintf "%se%s%02d" m sign (abs exp10)
                elif exp10 < 0 then
                    "0." + String('0', -exp10 - 1) + digits
                elif digits.Length <= exp10 + 1 then
                    digits + String('0', exp10 + 1 - digits.Length) + ".0"
                else
                    digits.Substring(0, exp10 + 1) + "." + digits.Substring(exp10 + 1)
            if negative then "-" + text else text

    let private escapeString (sb: StringBuilder) (s: string) =
        sb.Append '"' |> ignore
        for c in s do
            match c with
            | '"' -> sb.Append "\\\"" |> ignore
            | '\\' -> sb.Append "\\\\" |> ignore
            | '\n' -> sb.Append "\\n" |> ignore
            | '\r' -> sb.Append "\\r" |> ignore
            | '\t' -> sb.Append "\\t" |> ignore
            | '\b' -> sb.Append "\\b" |> ignore
            | '\f' -> sb.Append "\\f" |> ignore
            | c when c < ' ' || c > '~' -> sb.AppendFormat("\\u{0:x4}", int c) |> ignore
            | c -> sb.Append c |> ignore
        sb.Append '"' |> ignore

    /// Writes a value as Python's `json.dumps(value, indent=2, sort_keys=True)` does (diffusers' `to_json_string`
    /// without its trailing newline): keys sorted by code point, `": "` and `","` separators, non-ASCII escaped,
    /// numbers written from their kept text, empty containers as `{}` and `[]`.
    let writeIndented (value: JsonValue) : string =
        let sb = StringBuilder()
        let rec write (v: JsonValue) (indent: int) =
            match v with
            | JsonValue.Null -> sb.Append "null" |> ignore
            | JsonValue.Bool b -> sb.Append(if b then "true" else "false") |> ignore
            | JsonValue.Number t -> sb.Append t |> ignore
            | JsonValue.String s -> escapeString sb s
            | JsonValue.Array [||] -> sb.Append "[]" |> ignore
            | JsonValue.Object [||] -> sb.Append "{}" |> ignore
            | JsonValue.Array items ->
                sb.Append "[\n" |> ignore
                items |> Array.iteri (fun i item ->
                    sb.Append(' ', indent + 2) |> ignore
                    write item (indent + 2)
                    sb.Append(if i < items.Length - 1 then ",\n" else "\n") |> ignore)
                sb.Append(' ', indent).Append ']' |> ignore
            | JsonValue.Object members ->
                let sorted = members |> Array.sortWith (fun (a, _) (b, _) -> String.CompareOrdinal(a, b))
                sb.Append "{\n" |> ignore
                sorted |> Array.iteri (fun i (k, item) ->
                    sb.Append(' ', indent + 2) |> ignore
                    escapeString sb k
                    sb.Append ": " |> ignore
                    write item (indent + 2)
                    sb.Append(if i < sorted.Length - 1 then ",\n" else "\n") |> ignore)
                sb.Append(' ', indent).Append '}' |> ignore
        write value 0
        sb.ToString()
