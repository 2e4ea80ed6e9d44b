namespace Schedulers.Core

open System
open System.Collections.Concurrent
open System.Numerics
open System.Reflection
open System.Reflection.Emit
open System.Runtime.CompilerServices
open System.Text

/// A compiled elementwise program: runs every instruction on `count` elements (a multiple of
/// `Vector<float32>.Count`) one vector at a time, each register a vector in the processor's registers.
/// `inputs` points to the base addresses of the input registers' float32 data followed by those of the normal
/// draws (one per `Instr.Normal`, in program order), `outputs` to those of the written outputs, `coefficients` to
/// the segment's float32 coefficients in `ProgramCompiler.coefficientsInto` order.
type CompiledProgram = delegate of inputs: nativeint * outputs: nativeint * coefficients: nativeint * count: int -> unit

/// Compiles an `ElementwiseProgram` into one vector loop (what XLA calls loop fusion): where the tile-by-tile
/// interpreter of `Stages` runs each instruction over a tile held in cache, the compiled loop keeps every
/// intermediate in a vector register, so a step costs about its memory traffic. Each instruction is emitted as the
/// vector operations of the span kernel the op-by-op form runs (`Kernels.scale/combine2/3/4`, `divide`, `clamp`),
/// in the same order with the same operands, so the results are bit-identical; lanes round as the kernels' scalar
/// tails do, which is why the interpreter may finish a range's last few elements. Programs are cached by their
/// structure (coefficient values are arguments, not constants), so a scheduler compiles each of its step shapes
/// once per process.
module ProgramCompiler =

    /// The longest program compiled (longer ones are interpreted): bounds the IL and the registers of one method.
    [<Literal>]
    let MaxInstructions = 256

    /// The most inputs, outputs and normal draws together, and the most coefficients, of a compiled program (its
    /// loop's arguments live on the stack).
    [<Literal>]
    let MaxOperands = 1024

    /// The most program shapes kept compiled; further shapes are interpreted, so input that builds ever new
    /// programs cannot grow the process without bound.
    [<Literal>]
    let MaxCached = 512

    let private vector = typeof<Vector<float32>>
    let private vectorInt = typeof<Vector<int>>

    /// A member the compiler needs; every .NET with `Vector<T>` has it, so its absence is a broken runtime.
    let private required (what: string) (m: 'M | null) : 'M =
        match m with
        | null -> invalidOp (sprintf "the runtime lacks %s, which compiled programs need" what)
        | m -> m

    let private operator (name: string) = vector.GetMethod(name, [| vector; vector |]) |> required name

    let private multiply = operator "op_Multiply"
    let private add = operator "op_Addition"
    let private divide = operator "op_Division"
    let private broadcast = vector.GetConstructor [| typeof<float32> |] |> required "Vector<float32>(float32)"

    let private genericVector (name: string) =
        typeof<Vector>.GetMethods(BindingFlags.Public ||| BindingFlags.Static)
        |> Array.find (fun m -> m.Name = name && m.IsGenericMethodDefinition && m.GetParameters().Length = 2)
        |> fun m -> m.MakeGenericMethod typeof<float32>

    // The overloads `Kernels.clamp` resolves to.
    let private vmin = genericVector "Min"
    let private vmax = genericVector "Max"
    let private equals = typeof<Vector>.GetMethod("Equals", [| vector; vector |]) |> required "Vector.Equals"
    let private select = typeof<Vector>.GetMethod("ConditionalSelect", [| vectorInt; vector; vector |]) |> required "Vector.ConditionalSelect"

    /// The coefficient values of a program in the order the compiled loop reads them: each Combine's terms, each
    /// divisor, each clamp's bounds, in instruction order.
    let coefficientCount (program: ElementwiseProgram) : int =
        program.Body
        |> Array.sumBy (fun i ->
            match i with
            | Instr.Combine terms -> terms.Length
            | Instr.Divide _ -> 1
            | Instr.Clamp _ -> 2
            | Instr.Normal _ -> 0)

    /// Writes the coefficients of batch segment `segment` into `dest` (`coefficientCount` values).
    let coefficientsInto (program: ElementwiseProgram) (segment: int) (dest: Span<float32>) =
        let mutable k = 0
        for i in program.Body do
            match i with
            | Instr.Combine terms ->
                for struct (c, _) in terms do
                    dest[k] <- Coef.at segment c
                    k <- k + 1
            | Instr.Divide(_, d) ->
                dest[k] <- Coef.at segment d
                k <- k + 1
            | Instr.Clamp(_, lo, hi) ->
                dest[k] <- lo
                dest[k + 1] <- hi
                k <- k + 2
            | Instr.Normal _ -> ()

    /// The structure of a program without its coefficient values: two programs with the same key compile to the same
    /// loop.
    let key (program: ElementwiseProgram) : string =
        let b = StringBuilder()
        b.Append('I').Append(program.Inputs) |> ignore
        for i in program.Body do
            match i with
            | Instr.Combine terms ->
                b.Append(";C") |> ignore
                for struct (_, r) in terms do
                    b.Append(',').Append(r.Index) |> ignore
            | Instr.Divide(r, _) -> b.Append(";D").Append(r.Index) |> ignore
            | Instr.Clamp(r, _, _) -> b.Append(";K").Append(r.Index) |> ignore
            | Instr.Normal _ -> b.Append(";N") |> ignore
        b.Append(";O") |> ignore
        for r in program.Outputs do
            b.Append(',').Append(r.Index) |> ignore
        b.ToString()

    /// The normal draws of a program in order: (instruction index, noise slot).
    let normals (program: ElementwiseProgram) : struct (int * int)[] =
        program.Body
        |> Array.indexed
        |> Array.choose (fun (k, i) ->
            match i with
            | Instr.Normal slot -> Some(struct (k, slot))
            | _ -> None)

    /// Compiles `program` into its vector loop, uncached (`tryGet` caches); throws where dynamic code is not supported.
    let compile (program: ElementwiseProgram) : CompiledProgram =
        let registers = program.Inputs + program.Body.Length
        let method =
            DynamicMethod(
                "ElementwiseProgram",
                typeof<Void>,
                [| typeof<nativeint>; typeof<nativeint>; typeof<nativeint>; typeof<int> |],
                typeof<CompiledProgram>.Module,
                true)
        let il = method.GetILGenerator()
        let index = il.DeclareLocal typeof<int>
        let width = Vector<float32>.Count
        // Which register is written to which output (the first output naming it; inputs are never written).
        let outputOf = Array.create registers -1
        program.Outputs
        |> Array.iteri (fun j r -> if r.Index >= program.Inputs && outputOf[r.Index] < 0 then outputOf[r.Index] <- j)
        let written = outputOf |> Array.filter (fun j -> j >= 0) |> Array.length
        // A pointer per input register and per normal draw (read like inputs), and per written output.
        let normalOf = Array.create registers -1
        normals program |> Array.iteri (fun j struct (k, _) -> normalOf[program.Inputs + k] <- program.Inputs + j)
        let readCount = program.Inputs + (normals program).Length
        let readPointers = Array.init readCount (fun _ -> il.DeclareLocal typeof<nativeint>)
        let writePointers = Array.init written (fun _ -> il.DeclareLocal typeof<nativeint>)
        let loadPointer (argument: int) (slot: int) (local: LocalBuilder) =
            il.Emit(OpCodes.Ldarg, int16 argument)
            il.Emit(OpCodes.Ldc_I4, slot * IntPtr.Size)
            il.Emit OpCodes.Conv_I
            il.Emit OpCodes.Add
            il.Emit OpCodes.Ldind_I
            il.Emit(OpCodes.Stloc, local)
        readPointers |> Array.iteri (fun k local -> loadPointer 0 k local)
        writePointers |> Array.iteri (fun k local -> loadPointer 1 k local)
        // Coefficients broadcast once, before the loop.
        let coefficients = Array.init (coefficientCount program) (fun _ -> il.DeclareLocal vector)
        coefficients
        |> Array.iteri (fun k local ->
            il.Emit(OpCodes.Ldarg_2)
            il.Emit(OpCodes.Ldc_I4, k * sizeof<float32>)
            il.Emit OpCodes.Conv_I
            il.Emit OpCodes.Add
            il.Emit OpCodes.Ldind_R4
            il.Emit(OpCodes.Newobj, broadcast)
            il.Emit(OpCodes.Stloc, local))
        let values = Array.init registers (fun _ -> il.DeclareLocal vector)
        // The element address `pointer + 4·index`.
        let address (pointer: LocalBuilder) =
            il.Emit(OpCodes.Ldloc, pointer)
            il.Emit(OpCodes.Ldloc, index)
            il.Emit OpCodes.Conv_I
            il.Emit(OpCodes.Ldc_I4_4)
            il.Emit OpCodes.Conv_I
            il.Emit OpCodes.Mul
            il.Emit OpCodes.Add
        let head = il.DefineLabel()
        let test = il.DefineLabel()
        il.Emit OpCodes.Ldc_I4_0
        il.Emit(OpCodes.Stloc, index)
        il.Emit(OpCodes.Br, test)
        il.MarkLabel head
        for k in 0 .. program.Inputs - 1 do
            address readPointers[k]
            il.Emit(OpCodes.Unaligned, 1uy)
            il.Emit(OpCodes.Ldobj, vector)
            il.Emit(OpCodes.Stloc, values[k])
        let mutable coefficient = 0
        let nextCoefficient () =
            il.Emit(OpCodes.Ldloc, coefficients[coefficient])
            coefficient <- coefficient + 1
        let load (r: Reg) = il.Emit(OpCodes.Ldloc, values[r.Index])
        program.Body
        |> Array.iteri (fun k instr ->
            let r = program.Inputs + k
            match instr with
            | Instr.Combine terms ->
                // ((c0·x0 + c1·x1) + c2·x2) + …, coefficient first, as `Kernels.combine*` write it.
                terms
                |> Array.iteri (fun j (struct (_, source)) ->
                    nextCoefficient ()
                    load source
                    il.Emit(OpCodes.Call, multiply)
                    if j > 0 then il.Emit(OpCodes.Call, add))
            | Instr.Divide(source, _) ->
                load source
                nextCoefficient ()
                il.Emit(OpCodes.Call, divide)
            | Instr.Clamp(source, _, _) ->
                // ConditionalSelect(x == x, min(max(x, lo), hi), x): NaN kept, as `Kernels.clamp`.
                let lo = coefficients[coefficient]
                let hi = coefficients[coefficient + 1]
                coefficient <- coefficient + 2
                load source
                load source
                il.Emit(OpCodes.Call, equals)
                load source
                il.Emit(OpCodes.Ldloc, lo)
                il.Emit(OpCodes.Call, vmax)
                il.Emit(OpCodes.Ldloc, hi)
                il.Emit(OpCodes.Call, vmin)
                load source
                il.Emit(OpCodes.Call, select)
            | Instr.Normal _ ->
                address readPointers[normalOf[r]]
                il.Emit(OpCodes.Unaligned, 1uy)
                il.Emit(OpCodes.Ldobj, vector)
            il.Emit(OpCodes.Stloc, values[r])
            if outputOf[r] >= 0 then
                let j = outputOf[r]
                // Written outputs are numbered in program.Outputs order among the written ones.
                let slot = program.Outputs |> Array.take j |> Array.filter (fun o -> o.Index >= program.Inputs) |> Array.length
                address writePointers[slot]
                il.Emit(OpCodes.Ldloc, values[r])
                il.Emit(OpCodes.Unaligned, 1uy)
                il.Emit(OpCodes.Stobj, vector))
        il.Emit(OpCodes.Ldloc, index)
        il.Emit(OpCodes.Ldc_I4, width)
        il.Emit OpCodes.Add
        il.Emit(OpCodes.Stloc, index)
        il.MarkLabel test
        il.Emit(OpCodes.Ldloc, index)
        il.Emit(OpCodes.Ldarg_3)
        il.Emit(OpCodes.Blt, head)
        il.Emit OpCodes.Ret
        method.CreateDelegate(typeof<CompiledProgram>) :?> CompiledProgram

    let private cache = ConcurrentDictionary<string, CompiledProgram>()

    /// Whether programs are compiled at all: where the runtime cannot generate code (native AOT) they are
    /// interpreted.
    let isSupported = RuntimeFeature.IsDynamicCodeSupported && RuntimeFeature.IsDynamicCodeCompiled

    /// The compiled loop of `program`, compiling it on first use; ValueNone when it is interpreted instead (no
    /// dynamic code, a program longer than `MaxInstructions` or with more than `MaxOperands` operands, or `MaxCached` other shapes already compiled).
    let tryGet (program: ElementwiseProgram) : CompiledProgram voption =
        if not isSupported || program.Body.Length > MaxInstructions
           || program.Inputs + program.Outputs.Length + program.Body.Length > MaxOperands
           || coefficientCount program > MaxOperands then ValueNone
        else
            let k = key program
            match cache.TryGetValue k with
            | true, compiled -> ValueSome compiled
            | _ when cache.Count >= MaxCached -> ValueNone
            | _ -> ValueSome(cache.GetOrAdd(k, fun _ -> compile program))
