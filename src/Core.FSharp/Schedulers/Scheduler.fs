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
