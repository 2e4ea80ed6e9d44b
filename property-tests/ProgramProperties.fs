module Schedulers.PropertyTests.ProgramProperties

open System
open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open Schedulers.Core

/// A random elementwise program over `inputs` tensors of `batch` rows of `row` elements: combinations of 1–7 terms
/// (scalar or per-batch coefficients), normal draws from two keys, divisions, clamps, and 1–3 returned registers.
type ProgramCase = ProgramCase of program: ElementwiseProgram * batch: int * row: int * seed: int

type ProgramGenerators =
    static member ProgramCase() : Arbitrary<ProgramCase> =
        gen {
            let! inputs = Gen.choose (1, 4)
            let! length = Gen.choose (1, 12)
            let! batch = Gen.choose (1, 4)
            let! row = Gen.elements [ 1; 3; 7; 16; 33; 700; 2049 ]
            let! seed = Gen.choose (0, 100000)
            let! choices = Gen.listOfLength length (Gen.choose (0, 99))
            let b = ProgramBuilder(inputs)
            let random = Random(seed)
            let coef () =
                if random.Next 4 = 0 then PerBatch(Array.init batch (fun _ -> float32 (random.NextDouble() * 4.0 - 2.0)))
                else Scalar(float32 (random.NextDouble() * 4.0 - 2.0))
            let mutable defined = inputs
            for choice in choices do
                let pick () = Reg(random.Next defined)
                if choice < 60 then
                    b.Combine(Array.init (1 + random.Next 7) (fun _ -> struct (coef (), pick ()))) |> ignore
                elif choice < 78 then
                    b.Normal(random.Next 2) |> ignore
                elif choice < 85 then
                    let d = float32 (random.NextDouble() * 3.0 + 0.1) * (if random.Next 2 = 0 then -1.0f else 1.0f)
                    b.Div d (pick ()) |> ignore
                else
                    let lo = float32 (random.NextDouble() * -2.0)
                    b.Clamp lo (lo + float32 (random.NextDouble() * 3.0)) (pick ()) |> ignore
                defined <- defined + 1
            let outputs = List.init (1 + random.Next 3) (fun _ -> random.Next defined) |> List.distinct |> List.map Reg
            return ProgramCase(b.Build outputs, batch, row, seed)
        }
        |> Arb.fromGen

let private inputsOf (program: ElementwiseProgram) (batch: int) (row: int) (seed: int) =
    let random = Random(seed + 1)
    Array.init program.Inputs (fun _ ->
        NdArray.create [| batch; row |] (Array.init (batch * row) (fun _ ->
            match random.Next 50 with
            | 0 -> nanf
            | 1 -> infinityf
            | 2 -> -infinityf
            | 3 -> -0.0f
            | 4 -> 1e-40f * float32 (random.NextDouble() - 0.5) // subnormal
            | 5 -> 3e38f * float32 (random.NextDouble() - 0.5)
            | _ -> float32 (random.NextDouble() * 6.0 - 3.0))))

let private bits (x: NdArray) = x.ToArray() |> Array.map BitConverter.SingleToInt32Bits

/// The one-pass run (tile by tile, thread chunks, batch segments, normals drawn per tile) gives the bits of the
/// instructions run one at a time over whole arrays (normals drawn whole), NaN and infinities included; an input
/// register comes back as the input itself.
[<Property(Arbitrary = [| typeof<ProgramGenerators> |], MaxTest = 200)>]
let ``a program in one pass equals the program op by op`` (ProgramCase(program, batch, row, seed)) =
    let inputs = inputsOf program batch row seed
    let keys = [| Prng.key (int64 seed); Prng.key (int64 seed + 1L) |]
    let fused = Backend.runWithNoise NdArrayBackend.Default program inputs keys
    let reference = Backend.runWithNoise (OpByOpBackend(NdArrayBackend.Default)) program inputs keys
    Array.forall2 (fun (a: NdArray) (b: NdArray) -> bits a = bits b) fused reference
    && Array.forall2
        (fun (r: Reg) (x: NdArray) -> r.Index >= program.Inputs || obj.ReferenceEquals(x, inputs[r.Index]))
        program.Outputs
        fused

/// The compiled loop (`ProgramCompiler.compile`, one vector per register) gives the bits of the tile-by-tile
/// interpreter, which gives those of the op-by-op form: NaN, ±∞, −0, subnormals and near-overflow values, per-batch
/// coefficients, rows that are not a multiple of the vector width (their last elements interpreted), normals.
[<Property(Arbitrary = [| typeof<ProgramGenerators> |], MaxTest = 200)>]
let ``the compiled loop equals the interpreter`` (ProgramCase(program, batch, row, seed)) =
    let inputs = inputsOf program batch row seed
    let keys = [| Prng.key (int64 seed); Prng.key (int64 seed + 1L) |]
    let written = program.Outputs |> Array.filter (fun r -> r.Index >= program.Inputs)
    let subset = { program with Outputs = written }
    let fill = FillNormals(fun slot total offset dest ahead -> NormalFill.into ThreefryMode.Partitionable keys[slot] total offset dest ahead)
    let memories = inputs |> Array.map (fun x -> ReadOnlyMemory x.Buffer)
    let runWith (runner: ReadOnlyMemory<float32>[] -> Memory<float32>[] -> unit) =
        let outputs = written |> Array.map (fun _ -> Array.zeroCreate<float32> (batch * row))
        runner memories (outputs |> Array.map Memory)
        outputs |> Array.map (Array.map BitConverter.SingleToInt32Bits)
    let compiled = runWith (Stages.runCompiled 1 batch subset (ProgramCompiler.compile subset) fill)
    let interpreted = runWith (Stages.runInterpreted 1 batch subset fill)
    let reference =
        Backend.runWithNoise (OpByOpBackend(NdArrayBackend.Default)) subset inputs keys |> Array.map bits
    compiled = interpreted && interpreted = reference

/// Programs are compiled once per structure: the same shape with other coefficients reuses the loop, another shape
/// gets its own.
[<Xunit.Fact>]
let ``programs are cached by structure, not by coefficients`` () =
    let build (c: float32) (clampHigh: float32) =
        let b = ProgramBuilder(2)
        let y = b.Lin [ c, b.Input 0; 1.0f - c, b.Input 1 ] |> b.Div (c + 1.0f) |> b.Clamp -1.0f clampHigh
        b.Build [ y ]
    let first = ProgramCompiler.tryGet (build 0.25f 1.0f)
    let second = ProgramCompiler.tryGet (build 0.75f 2.0f)
    Xunit.Assert.True(ProgramCompiler.isSupported)
    Xunit.Assert.True(first.IsSome && second.IsSome)
    Xunit.Assert.Same(first.Value, second.Value)
    Xunit.Assert.Equal(ProgramCompiler.key (build 0.25f 1.0f), ProgramCompiler.key (build 0.5f 3.0f))
    let b = ProgramBuilder(2)
    let other = b.Build [ b.Lin [ 1.0f, b.Input 1; 1.0f, b.Input 0 ] ]
    Xunit.Assert.NotEqual<string>(ProgramCompiler.key (build 0.25f 1.0f), ProgramCompiler.key other)

/// Large enough to cross the parallel threshold: every thread's chunk and every tile boundary gives the same bits.
[<Xunit.Fact>]
let ``a program over many tiles and threads equals the program op by op`` () =
    let b = ProgramBuilder(2)
    let x, e = b.Input 0, b.Input 1
    let x0 = b.Lin [ 1.0f, x; -0.3f, e ] |> b.Div 0.7f |> b.Clamp -1.0f 1.0f
    let z = b.Normal 0
    let prev = b.Combine [| struct (PerBatch [| 0.5f; 0.25f |], x0); struct (Scalar 0.9f, e); struct (Scalar -0.1f, x); struct (Scalar 0.3f, z) |]
    let program = b.Build [ x0; prev ]
    let n = 300_001
    let random = Random(7)
    let inputs = Array.init 2 (fun _ -> NdArray.create [| 2; n |] (Array.init (2 * n) (fun _ -> float32 (random.NextDouble() * 4.0 - 2.0))))
    let keys = [| Prng.key 9L |]
    let fused = Backend.runWithNoise NdArrayBackend.Default program inputs keys
    let reference = Backend.runWithNoise (OpByOpBackend(NdArrayBackend.Default)) program inputs keys
    Xunit.Assert.Equal<int[]>(bits reference[0], bits fused[0])
    Xunit.Assert.Equal<int[]>(bits reference[1], bits fused[1])

/// The builder refuses registers that are not defined yet and returns each register once.
[<Xunit.Fact>]
let ``the builder refuses undefined registers`` () =
    let b = ProgramBuilder(1)
    Xunit.Assert.Throws<ArgumentException>(fun () -> b.Lin [ 1.0f, Reg 1 ] |> ignore) |> ignore
    let r = b.Lin [ 2.0f, b.Input 0 ]
    Xunit.Assert.Throws<ArgumentException>(fun () -> b.Build [ r; r ] |> ignore) |> ignore
    Xunit.Assert.Throws<ArgumentException>(fun () -> b.Input 1 |> ignore) |> ignore
