module Schedulers.PropertyTests.JsonProperties

open System
open System.Globalization
open Xunit
open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open Schedulers.Core

/// Python's repr of these doubles (written by CPython 3.11), which json.dumps emits verbatim.
[<Theory>]
    [<InlineData("0.0001")>]
    [<InlineData("1e-05")>]
    [<InlineData("1348.0")>]
    [<InlineData("0.15")>]
    [<InlineData("100.0")>]
    [<InlineData("5.960464477539063e-08")>]
    [<InlineData("1e+16")>]
    [<InlineData("1000000000000000.0")>]
    [<InlineData("1.2345678901234568e+17")>]
    [<InlineData("0.30000000000000004")>]
    [<InlineData("-0.5")>]
    [<InlineData("5e-324")>]
    [<InlineData("1.7976931348623157e+308")>]
    [<InlineData("0.012")>]
    [<InlineData("0.00085")>]
    [<InlineData("124.8983")>]
    [<InlineData("1e-10")>]
    [<InlineData("-2.5e-07")>]
    [<InlineData("3.0")>]
    [<InlineData("1e+22")>]
    [<InlineData("12345.678")>]
    [<InlineData("-0.0")>]
    [<InlineData("0.0")>]
    [<InlineData("10928588.983213553")>]
    [<InlineData("1.4186613525849614e+134")>]
    [<InlineData("-7.571968556055867e-74")>]
    [<InlineData("-1.4074705188261364e+113")>]
    [<InlineData("-3.3339745473042614e-121")>]
    [<InlineData("-1.2342180766211395e-271")>]
    [<InlineData("-5.126864004244935e+111")>]
    [<InlineData("-2.1520217579844227e+32")>]
    [<InlineData("0.1399601630397701")>]
    [<InlineData("1.01853664031722e-244")>]
let ``pythonFloat writes what Python's repr writes`` (python: string) =
    Assert.Equal(python, Json.pythonFloat (Double.Parse(python, CultureInfo.InvariantCulture)))

[<Property>]
let ``pythonFloat round-trips every finite double`` (bits: int64) =
    let x = BitConverter.Int64BitsToDouble bits
    Double.IsNaN x || Json.numberValue (Json.pythonFloat x) = x

[<Fact>]
let ``non-finite values are written as Python's bare literals`` () =
    Assert.Equal("NaN", Json.pythonFloat nan)
    Assert.Equal("Infinity", Json.pythonFloat infinity)
    Assert.Equal("-Infinity", Json.pythonFloat -infinity)

let private scalarGen =
    Gen.oneof
        [ Gen.constant JsonValue.Null
          Gen.elements [ true; false ] |> Gen.map JsonValue.Bool
          ArbMap.defaults |> ArbMap.generate<NormalFloat> |> Gen.map (fun (NormalFloat f) -> JsonValue.Number(Json.pythonFloat f))
          Gen.elements [ "linear"; "a\"b"; "tab\there"; "ünï"; "" ] |> Gen.map JsonValue.String ]

let rec private valueGen depth =
    if depth = 0 then scalarGen
    else
        Gen.oneof
            [ scalarGen
              Gen.listOfLength 3 (valueGen (depth - 1)) |> Gen.map (List.toArray >> JsonValue.Array)
              Gen.listOfLength 3 (valueGen (depth - 1))
              |> Gen.map (List.mapi (fun i v -> (sprintf "k%d" (2 - i), v)) >> List.toArray >> JsonValue.Object) ]

let rec private sortKeys (v: JsonValue) =
    match v with
    | JsonValue.Object ms -> ms |> Array.sortWith (fun (a, _) (b, _) -> String.CompareOrdinal(a, b)) |> Array.map (fun (k, x) -> k, sortKeys x) |> JsonValue.Object
    | JsonValue.Array xs -> xs |> Array.map sortKeys |> JsonValue.Array
    | x -> x

[<Property>]
let ``parse after writeIndented gives the value back with sorted keys`` () =
    Prop.forAll (Arb.fromGen (valueGen 3)) (fun v -> Json.parse (Json.writeIndented v) = sortKeys v)

[<Fact>]
let ``writeIndented lays out objects as json.dumps with indent 2 and sorted keys`` () =
    let v = JsonValue.Object [| "b", JsonValue.Number "100"; "a", JsonValue.Array [| JsonValue.Null; JsonValue.Number "-Infinity" |]; "c", JsonValue.Object [||] |]
    Assert.Equal("{\n  \"a\": [\n    null,\n    -Infinity\n  ],\n  \"b\": 100,\n  \"c\": {}\n}", Json.writeIndented v)
