namespace Schedulers.Core

open System

/// Builds an `ElementwiseProgram` so that its formulas read like the scheduler's: `let x0 = b.Lin [ 1.0f, x;
/// -s, e ] |> b.Div a`, then `b.Build [ x0; prev ]`.
[<Sealed>]
type ProgramBuilder(inputs: int) =
    do if inputs < 1 then invalidArg "inputs" "a program reads at least one input"
    let body = ResizeArray<Instr>()

    member private _.Add(instr: Instr) : Reg =
        body.Add instr
        Reg(inputs + body.Count - 1)

    member private _.Check(r: Reg) =
        if r.Index < 0 || r.Index >= inputs + body.Count then
            invalidArg "register" (sprintf "register %d is not defined yet" r.Index)

    /// Input `k`.
    member _.Input(k: int) : Reg =
        if k < 0 || k >= inputs then invalidArg "k" (sprintf "input %d does not exist (the program has %d)" k inputs)
        Reg k

    /// `Σ cₖ·rₖ` with scalar coefficients.
    member b.Lin(terms: (float32 * Reg) list) : Reg =
        if List.isEmpty terms then invalidArg "terms" "a linear combination needs at least one term"
        terms |> List.iter (fun (_, r) -> b.Check r)
        b.Add(Instr.Combine(terms |> List.map (fun (c, r) -> struct (Scalar c, r)) |> List.toArray))

    /// `Σ cₖ·rₖ` with any coefficients.
    member b.Combine(terms: struct (Coef * Reg)[]) : Reg =
        if terms.Length = 0 then invalidArg "terms" "a linear combination needs at least one term"
        terms |> Array.iter (fun struct (_, r) -> b.Check r)
        b.Add(Instr.Combine(Array.copy terms))

    /// `r / d`, a true division.
    member b.Div (d: float32) (r: Reg) : Reg =
        b.Check r
        b.Add(Instr.Divide(r, Scalar d))

    /// `r / d` as the flavour's reference divides by a scalar (true division, or a product with the float32
    /// reciprocal: `Backend.divideAs`).
    member b.DivAs (flavour: Flavour) (d: float32) (r: Reg) : Reg =
        match flavour.Division with
        | Divide -> b.Div d r
        | MultiplyByReciprocal -> b.Lin [ 1.0f / d, r ]

    /// `min(max(r, lo), hi)`.
    member b.Clamp (lo: float32) (hi: float32) (r: Reg) : Reg =
        b.Check r
        b.Add(Instr.Clamp(r, lo, hi))

    /// A standard normal draw of the program's shape from noise source `slot`.
    member b.Normal(slot: int) : Reg =
        if slot < 0 then invalidArg "slot" (sprintf "slot is %d but must be at least 0" slot)
        b.Add(Instr.Normal slot)

    /// The program returning `outputs`.
    member b.Build(outputs: Reg list) : ElementwiseProgram =
        if List.isEmpty outputs then invalidArg "outputs" "a program returns at least one register"
        outputs |> List.iter b.Check
        if (outputs |> List.distinct |> List.length) <> outputs.Length then invalidArg "outputs" "a program returns each register once"
        { Inputs = inputs; Body = body.ToArray(); Outputs = List.toArray outputs }
