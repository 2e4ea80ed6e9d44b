namespace Schedulers.Core

/// What a sampling loop tells the model at one evaluation: the timestep in the scheduler's own units (an integer
/// training timestep, a continuous time, or σ itself) and the noise level σ of the input.
[<Struct>]
type ModelQuery =
    { /// The timestep the model is evaluated at, in the scheduler's units.
      Timestep: float
      /// The noise level σ of the model's input (the VE/EDM σ; for VP schedulers √((1 − ᾱ)/ᾱ)).
      Sigma: float }

/// Where a loop gets the noise source of each draw: `Next carried` returns the source to carry on and the one this
/// draw uses. A stateful `torch.Generator` returns itself twice; JAX keys split (`key, sub = split(key)`).
type NoiseStream<'N> = 'N -> struct ('N * 'N)

/// Where a step's noise comes from: a tensor the caller draws (`Tensor`, called once when the step needs noise),
/// or a noise source the step draws from itself (`Source`, called once likewise), inside its pass where the backend
/// generates noise tile by tile (JAX keys) and as one whole draw otherwise.
[<RequireQualifiedAccess>]
type StepNoise<'T, 'N> =
    /// The noise as a tensor.
    | Tensor of draw: (unit -> 'T)
    /// The noise source to draw from.
    | Source of source: (unit -> 'N)

/// A step's noise once asked for: the tensor (an input of the step's program) or the source (a `Normal` of it).
[<Struct>]
type DrawnNoise<'T, 'N> =
    | Given of tensor: 'T
    | FromSource of source: 'N

/// Putting a step's noise into its one-pass program.
[<RequireQualifiedAccess>]
module StepNoise =

    /// Asks for the noise (calls the tensor's or the source's function, once).
    let draw (noise: StepNoise<'T, 'N>) : DrawnNoise<'T, 'N> =
        match noise with
        | StepNoise.Tensor draw -> Given(draw ())
        | StepNoise.Source source -> FromSource(source ())

    /// The program inputs the noise adds: the tensor, if it is one.
    let inputs (noise: DrawnNoise<'T, 'N> voption) : 'T list =
        match noise with
        | ValueSome(Given z) -> [ z ]
        | _ -> []

    /// The program's noise sources: the source, if it is one (slot 0).
    let sources (noise: DrawnNoise<'T, 'N> voption) : 'N[] =
        match noise with
        | ValueSome(FromSource s) -> [| s |]
        | _ -> [||]

    /// The noise's register in a program: input `k` for a tensor (the program reads it after its other inputs), a
    /// normal drawn from slot 0 for a source.
    let register (b: ProgramBuilder) (k: int) (noise: DrawnNoise<'T, 'N>) : Reg =
        match noise with
        | Given _ -> b.Input k
        | FromSource _ -> b.Normal 0

    /// Releases a tensor the step was given for its noise (its own handle: the step made or was handed it).
    let release (ops: IBackend<'T, 'N>) (noise: DrawnNoise<'T, 'N> voption) =
        match noise with
        | ValueSome(Given z) -> ops.Release z
        | _ -> ()

/// The one shape every scheduler has, as optax gives every transformation `init`/`update` (`'State` its state, `'T`
/// the tensor type, `'Output` what one loop iteration returns). A scheduler object is built from its config
/// (`ScoreSdeVe.scheduler config`, …) and then only moves immutable states. `Create` and `SetTimesteps` make states;
/// `Step` is one iteration of the scheduler's sampling loop — the model calls its pipeline makes (one for
/// DPM-Solver, correctors and a predictor for SDE-VE, Euler and Heun for the Karras samplers) and the update — on
/// any backend. The generic loop (`Sampling.run`) and the registry work over this interface; each scheduler module
/// keeps its own diffusers-named functions as well.
type IScheduler<'State, 'T, 'Output> =
    /// diffusers' class name, as `scheduler_config.json` writes it in `_class_name`.
    abstract ClassName: string

    /// The state after construction, computing with the given flavour's rounding.
    abstract Create: flavour: Flavour -> 'State

    /// `set_timesteps(n)` for samples of the given shape (the Flax DPM-Solver sizes its history buffer from it).
    abstract SetTimesteps: numInferenceSteps: int * shape: int[] * state: 'State -> 'State

    /// The number of loop iterations of a state after `SetTimesteps`.
    abstract Steps: state: 'State -> int

    /// The iteration a run starts at: 0, or `begin_index` where the scheduler has one (img2img starts part-way).
    abstract FirstIndex: state: 'State -> int

    /// The timestep iteration `index` evaluates the model at (in the scheduler's units), as progress reports it.
    abstract TimestepAt: state: 'State * index: int -> float

    /// `init_noise_sigma`: the scale of the initial noise.
    abstract InitNoiseSigma: state: 'State -> float

    /// The model evaluations (NFE) of a run of `steps` iterations.
    abstract Evaluations: steps: int -> int

    /// Iteration `index` of the sampling loop from `sample`: calls `model` as the scheduler's pipeline does, draws
    /// any noise from sources `draw ()` hands out (one per draw, in the pipeline's order), and returns the new state
    /// and the iteration's output. Temporaries (model outputs, intermediate samples) are released inside; `sample`
    /// is not.
    abstract Step<'N> :
        ops: IBackend<'T, 'N> * model: ('T -> ModelQuery -> 'T) * draw: (unit -> 'N) * state: 'State * index: int * sample: 'T ->
            struct ('State * 'Output)

    /// The sample the next iteration starts from.
    abstract Sample: output: 'Output -> 'T

    /// What the pipeline returns when this output is the last one (SDE-VE: the noise-free mean).
    abstract Result: output: 'Output -> 'T

    /// Every tensor the output holds (released by the loop once the next iteration no longer needs them).
    abstract Tensors: output: 'Output -> 'T list

    /// Every tensor the state holds (DPM-Solver's model-output history): the loop releases those a step drops,
    /// unless the state it started from held them.
    abstract StateTensors: state: 'State -> 'T list
