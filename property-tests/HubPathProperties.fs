/// Cache paths from hostile names: every subfolder, file name and revision is either refused with the documented
/// SchedulerConfigException or gives a path that, resolved, lies inside the repository's cache folder.
module Schedulers.PropertyTests.HubPathProperties

open System
open System.IO
open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open Schedulers.Core
open Schedulers.Hub

let private cache = Path.Combine(Path.GetTempPath(), "schedulers-hub-path-properties", "hub")
let private repoId = "org/model"
let private commit = "0123456789abcdef0123456789abcdef01234567"
let private hubCache = HubCache cache
let private repoFolder = Path.GetFullPath(Path.Combine(cache, "models--org--model")) + string Path.DirectorySeparatorChar

/// Pieces that path attacks are made of: traversal, roots, separators, NUL and control characters, escapes that a
/// server would decode, look-alike dots, git's forbidden forms, and overlong names.
let private fragment =
    Gen.oneof
        [ Gen.elements
              [ ".."; "."; ""; "/"; "//"; "\\"; "\\\\"; "\000"; "\n"; "%2e%2e"; "%2E%2E%2F"; "..%2f"; "%00"
                "\u2024\u2024"; "\u2025"; "\uFF0E\uFF0E"; "\u3002"; "C:"; "C:\\"; "~"; "/etc/passwd"; "/tmp"; "refs"
                "snapshots"; "scheduler"; "scheduler_config.json"; "main"; "@{"; "x.lock"; " "; "*"; "models--org--model"
                commit ]
          Gen.choose (250, 5000) |> Gen.map (fun n -> String('a', n))
          Gen.choose (1, 40) |> Gen.map (fun n -> String.replicate n "../")
          ArbMap.defaults |> ArbMap.generate<string> |> Gen.map (fun s -> if isNull (box s) then "" else s) ]

let private separator = Gen.elements [ "/"; ""; "\\"; "/../"; "/./"; "//" ]

/// A name of one to eight fragments joined by random separators.
let private hostile =
    gen {
        let! count = Gen.choose (1, 8)
        let! parts = Gen.listOfLength count fragment
        let! seps = Gen.listOfLength count separator
        return List.zip seps parts |> List.map (fun (s, p) -> s + p) |> String.concat "" |> fun s -> s.Substring(min s.Length 1)
    }

/// True when `compute` is refused with SchedulerConfigException or yields only paths inside the repository folder;
/// any other exception (an ArgumentException from a NUL in a path, say) fails the property.
let private refusedOrInside (compute: unit -> string list) =
    try
        compute () |> List.forall (fun p -> Path.GetFullPath(p).StartsWith(repoFolder, StringComparison.Ordinal))
    with :? SchedulerConfigException -> true

[<Property(MaxTest = 1000)>]
let ``hostile subfolders and file names give refused or contained snapshot paths`` () =
    Prop.forAll (Arb.fromGen (Gen.zip hostile hostile)) (fun (subfolder, fileName) ->
        refusedOrInside (fun () -> [ hubCache.SnapshotFile(repoId, commit, HubPaths.ConfigPathInRepo subfolder) ])
        && refusedOrInside (fun () -> [ hubCache.SnapshotFile(repoId, commit, subfolder + "/" + fileName) ])
        && refusedOrInside (fun () -> [ hubCache.SnapshotFile(repoId, commit, fileName) ]))

[<Property(MaxTest = 1000)>]
let ``hostile revisions give refused or contained ref paths`` () =
    Prop.forAll (Arb.fromGen hostile) (fun revision ->
        refusedOrInside (fun () -> if HubPaths.IsCommitHash revision then [] else [ hubCache.RefFile(repoId, revision) ])
        // The cache lookup itself (nothing cached here) must refuse or answer, never reach outside or throw otherwise.
        && refusedOrInside (fun () -> hubCache.TryGetFile(repoId, revision, ConfigFile.FileName) |> Option.ofObj |> Option.toList))

[<Property(MaxTest = 300)>]
let ``hostile names never produce a path outside through the commit slot`` () =
    Prop.forAll (Arb.fromGen hostile) (fun fakeCommit ->
        refusedOrInside (fun () -> [ hubCache.SnapshotFile(repoId, fakeCommit, ConfigFile.FileName) ]))
