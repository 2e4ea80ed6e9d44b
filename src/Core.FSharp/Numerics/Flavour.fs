namespace Schedulers.Core

open System

/// How "x / σ" is computed for a scalar σ.
type ScalarDivision =
    /// A true division of every element (torch).
    | Divide
    /// A multiplication by the float32 reciprocal: XLA:CPU rewrites a division by a scalar this way (the Flax golden
    /// values show it on every element).
    | MultiplyByReciprocal

/// Which norm the Langevin corrector takes of the score and the noise.
type CorrectorNorm =
    /// The batch mean of per-sample L2 norms (torch's `ScoreSdeVeScheduler`).
    | BatchMean
    /// The L2 norm of the whole tensor (`FlaxScoreSdeVeScheduler`).
    | WholeTensor

/// Which reference implementation a scheduler reproduces, as the functions in which the two differ: how linspace
/// and cumprod round, the float32 elementary functions, how scalars are held between operations, how a division by
/// a scalar is compiled and which norm the corrector takes. Schedulers call these functions; none of them asks which
/// flavour it has. `Flavour.Torch` and `Flavour.Flax` are the two references; a record with other functions is a
/// new one (say, another XLA version).
[<ReferenceEquality>]
type Flavour =
    { /// "torch" or "flax": the name used in messages and file names.
      Name: string
      /// `linspace(start, stop, n)` in float32: `torch.linspace` or `jnp.linspace` on XLA:CPU.
      Linspace: float32 -> float32 -> int -> float32[]
      /// `cumprod` of a float32 vector: `torch.cumprod` (float64 running product) or `jnp.cumprod` (associative scan).
      Cumprod: float32[] -> float32[]
      /// float32 `exp`: the C library's (torch) or XLA:CPU's (`XlaMath.exp`).
      Exp: float32 -> float32
      /// float32 `log`: the C library's (torch) or XLA:CPU's (`XlaMath.log`).
      Log: float32 -> float32
      /// The float32 log of a Python float bound: torch takes `math.log` in float64 and rounds it; jnp takes the log
      /// of the float32 bound.
      LogOfScalar: float -> float32
      /// How a scalar is held between scalar operations: a 0-d float32 tensor in torch (every result rounded to
      /// float32), a Python float in Flax (float64, rounded only where it meets an array). Applying it after each
      /// scalar operation reproduces the reference's rounding.
      Hold: float -> float
      /// How "x / σ" is computed for a scalar σ.
      Division: ScalarDivision
      /// Which norm the ScoreSdeVe corrector takes.
      CorrectorNorm: CorrectorNorm }

    override f.ToString() = f.Name

    /// diffusers' torch classes: `torch.linspace`, `torch.cumprod`, the C library's float32 functions, 0-d float32
    /// scalars, true division, batch-mean corrector norms.
    static member val Torch =
        { Name = "torch"
          Linspace = Schedules.torchLinspace
          Cumprod = Schedules.torchCumprod
          Exp = MathF.Exp
          Log = MathF.Log
          LogOfScalar = fun x -> float32 (Math.Log x)
          Hold = fun x -> float (float32 x)
          Division = Divide
          CorrectorNorm = BatchMean }

    /// diffusers' Flax classes as XLA:CPU runs them: `jnp.linspace` and `jnp.cumprod` as XLA compiles them,
    /// XLA's float32 `exp`/`log`, Python-float scalars, division by a scalar as a multiplication by its reciprocal,
    /// whole-tensor corrector norms.
    static member val Flax =
        { Name = "flax"
          Linspace = Schedules.jnpLinspace
          Cumprod = Schedules.jnpCumprod
          Exp = XlaMath.exp
          Log = XlaMath.log
          LogOfScalar = fun x -> XlaMath.log (float32 x)
          Hold = id
          Division = MultiplyByReciprocal
          CorrectorNorm = WholeTensor }

    /// The flavour named "torch" or "flax" (case-insensitive).
    static member Parse(name: string | null) : Flavour =
        match (match name with null -> "" | text -> text.ToLowerInvariant()) with
        | "torch" -> Flavour.Torch
        | "flax" -> Flavour.Flax
        | _ -> invalidArg "flavour" (sprintf "flavour is '%s' but must be 'torch' or 'flax'" name)
