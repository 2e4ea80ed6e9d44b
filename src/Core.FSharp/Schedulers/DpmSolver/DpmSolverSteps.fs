namespace Schedulers.Core

open System
open System.Collections.Generic

/// The checks of a DPM-Solver `set_timesteps(num_inference_steps)` that both flavours share: no more steps than
/// training timesteps (diffusers' own check, with its message), and a schedule whose timesteps do not repeat.
/// A repeated timestep is a repeated noise level, a step of length zero: the second- and third-order updates divide
/// by that length, and the Flax flavour, which finds a step by its timestep, would run the first occurrence twice.
module DpmSolverSteps =

    /// Throws diffusers' `ValueError` (as `ArgumentException` for `num_inference_steps`) when `n` exceeds
    /// `num_train_timesteps`. A validated config has at most `ConfigLimits.MaxNumTrainTimesteps` training
    /// timesteps, so this also keeps `n` within `ConfigLimits.MaxInferenceSteps`.
    let checkCount (c: DpmSolverConfig) (n: int) : unit =
        ConfigLimits.inferenceSteps n
        let N = c.NumTrainTimesteps
        if n > N then
            raise (
                ArgumentException(
                    sprintf
                        "`num_inference_steps`: %d cannot be larger than `self.config.train_timesteps`: %d as the unet model trained with this scheduler can only handle maximal %d timesteps."
                        n N N,
                    "num_inference_steps"
                )
            )

    /// Throws `ArgumentException` for `num_inference_steps` when a timestep of the schedule occurs twice.
    let checkDistinct (c: DpmSolverConfig) (n: int) (timesteps: 'T[]) : unit =
        let seen = HashSet<'T>()
        match timesteps |> Array.tryFind (fun t -> not (seen.Add t)) with
        | Some t ->
            let clipped =
                if Double.IsNegativeInfinity c.LambdaMinClipped then ""
                else sprintf ", lambda_min_clipped %s" (c.LambdaMinClipped.ToString("R", Globalization.CultureInfo.InvariantCulture))
            raise (
                ArgumentException(
                    sprintf
                        "num_inference_steps is %d but with num_train_timesteps %d, timestep_spacing '%s'%s the timesteps repeat (%s occurs twice), a step of length zero; use fewer steps"
                        n c.NumTrainTimesteps c.TimestepSpacing.Text clipped (string t),
                    "num_inference_steps"
                )
            )
        | None -> ()

    /// The timesteps `make c n` builds, after `checkCount` and before they are used, `checkDistinct`.
    let timesteps (c: DpmSolverConfig) (n: int) (make: DpmSolverConfig -> int -> 'T[]) : 'T[] =
        checkCount c n
        let ts = make c n
        checkDistinct c n ts
        ts
