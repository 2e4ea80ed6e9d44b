namespace Schedulers.Core

open System

/// The largest sizes a scheduler config or a `set_timesteps` call may ask for, in one place. Every table a
/// scheduler builds is as long as one of these counts, so without a bound an 80-byte config asking for two billion
/// training steps would allocate gigabytes before anything failed. The limits are far above what diffusers' own
/// configs use (1000 training steps, 2000 for ScoreSdeVe, a few hundred inference steps) and far below what
/// exhausts memory (a table of 100 000 float32 values is 400 kB). Each check throws `ArgumentException` whose
/// parameter name is the diffusers key and whose message names the key, the value and the limit.
[<RequireQualifiedAccess>]
module ConfigLimits =

    /// `num_train_timesteps` (DPM-Solver, ScoreSdeVe): the length of the training tables and, for ScoreSdeVe, of
    /// the schedule built at creation. Also bounds the length of `trained_betas`, which must equal it.
    [<Literal>]
    let MaxNumTrainTimesteps = 100_000

    /// `num_inference_steps` of any `set_timesteps` (and `set_sigmas`): the length of the inference schedule and
    /// the number of loop steps. DPM-Solver also refuses more steps than training timesteps, as diffusers does.
    [<Literal>]
    let MaxInferenceSteps = 100_000

    /// `solver_order` (DPM-Solver): diffusers implements orders 1, 2 and 3; the history holds this many outputs.
    [<Literal>]
    let MaxSolverOrder = 3

    /// `correct_steps` (ScoreSdeVe): Langevin corrector iterations per step, each a model evaluation (diffusers'
    /// default is 1). A thousand per step is already far past any useful sampler.
    [<Literal>]
    let MaxCorrectSteps = 1_000

    /// Throws `ArgumentException` naming `key` when `value` exceeds `limit` (`limitName` is the constant's name,
    /// quoted so the message says where the limit is defined).
    let atMost (key: string) (limitName: string) (limit: int) (value: int) : unit =
        if value > limit then
            raise (ArgumentException(sprintf "%s is %d but must be at most %d (ConfigLimits.%s)" key value limit limitName, key))

    /// Checks `num_train_timesteps` against `MaxNumTrainTimesteps`.
    let numTrainTimesteps (value: int) : unit =
        atMost "num_train_timesteps" (nameof MaxNumTrainTimesteps) MaxNumTrainTimesteps value

    /// Checks a `num_inference_steps` argument against `MaxInferenceSteps`.
    let inferenceSteps (value: int) : unit =
        atMost "num_inference_steps" (nameof MaxInferenceSteps) MaxInferenceSteps value
