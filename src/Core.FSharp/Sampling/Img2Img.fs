namespace Schedulers.Core

open System

/// diffusers' img2img start (`StableDiffusionImg2ImgPipeline.get_timesteps`): of a schedule of n steps, strength s
/// keeps the last ⌊n·s⌋, so the run starts at index t_start = n − min(⌊n·s⌋, n) (times the scheduler's `order`);
/// the image is noised to the first kept timestep with the scheduler's `add_noise` and the loop runs from there
/// (`set_begin_index(t_start·order)` where the scheduler has one; `Loop.run` starts at the state's `FirstIndex`).
[<RequireQualifiedAccess>]
module Img2Img =

    /// The loop index an img2img run of `numInferenceSteps` steps with `strength` starts at (`t_start·order`).
    /// Throws unless strength lies in [0, 1] (diffusers raises the same), the steps are at least 1 and the order is.
    let beginIndex (numInferenceSteps: int) (order: int) (strength: float) : int =
        if numInferenceSteps < 1 then
            invalidArg "num_inference_steps" (sprintf "num_inference_steps is %d but must be at least 1" numInferenceSteps)
        if order < 1 then invalidArg "order" (sprintf "order is %d but must be at least 1" order)
        if Double.IsNaN strength || strength < 0.0 || strength > 1.0 then
            invalidArg "strength" (sprintf "strength is %g but must lie in [0, 1]" strength)
        let kept = min (int (float numInferenceSteps * strength)) numInferenceSteps
        max (numInferenceSteps - kept) 0 * order
