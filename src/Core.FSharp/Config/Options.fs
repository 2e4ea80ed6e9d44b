namespace Schedulers.Core

/// `prediction_type`: what the model predicts (diffusers' spellings are the `Text` of each case).
[<RequireQualifiedAccess>]
type PredictionType =
    /// "epsilon": the noise ε.
    | Epsilon
    /// "sample": the clean sample x0.
    | Sample
    /// "v_prediction": v = α·ε − σ·x0 (Salimans & Ho 2022).
    | VPrediction
    /// "flow_prediction": the flow-matching velocity ε − x0.
    | FlowPrediction

    /// The diffusers spelling.
    member p.Text =
        match p with
        | Epsilon -> "epsilon"
        | Sample -> "sample"
        | VPrediction -> "v_prediction"
        | FlowPrediction -> "flow_prediction"

    /// The diffusers spelling.
    override p.ToString() = p.Text

/// `timestep_spacing`: how the inference timesteps are spread over the training ones (Lin et al. 2023, Table 2).
[<RequireQualifiedAccess>]
type TimestepSpacing =
    /// "linspace": evenly from the last training timestep to 0, rounded.
    | Linspace
    /// "leading": multiples of N div (n + 1), plus `steps_offset`.
    | Leading
    /// "trailing": from the last training timestep down in steps of N/n.
    | Trailing

    /// The diffusers spelling.
    member s.Text =
        match s with
        | Linspace -> "linspace"
        | Leading -> "leading"
        | Trailing -> "trailing"

    /// The diffusers spelling.
    override s.ToString() = s.Text

/// `final_sigmas_type`: the noise level the last step goes to.
[<RequireQualifiedAccess>]
type FinalSigmasType =
    /// "zero": σ = 0, the clean sample.
    | Zero
    /// "sigma_min": the smallest training sigma.
    | SigmaMin

    /// The diffusers spelling.
    member f.Text =
        match f with
        | Zero -> "zero"
        | SigmaMin -> "sigma_min"

    /// The diffusers spelling.
    override f.ToString() = f.Text

/// Class names diffusers groups.
module DiffusersClasses =

    /// diffusers' `KarrasDiffusionSchedulers`: the 15 classes whose configs each of them loads (their `compatibles`).
    let karrasDiffusionSchedulers: string[] =
        [| "DDIMScheduler"; "DDPMScheduler"; "PNDMScheduler"; "LMSDiscreteScheduler"; "EulerDiscreteScheduler"
           "HeunDiscreteScheduler"; "EulerAncestralDiscreteScheduler"; "DPMSolverMultistepScheduler"
           "DPMSolverSinglestepScheduler"; "KDPM2DiscreteScheduler"; "KDPM2AncestralDiscreteScheduler"
           "DEISMultistepScheduler"; "UniPCMultistepScheduler"; "DPMSolverSDEScheduler"; "EDMEulerScheduler" |]

    /// diffusers' `FlaxKarrasDiffusionSchedulers`: the six Flax classes whose configs each of them loads (the
    /// `compatibles` of every one of them).
    let flaxKarrasDiffusionSchedulers: string[] =
        [| "FlaxDDIMScheduler"; "FlaxDDPMScheduler"; "FlaxPNDMScheduler"; "FlaxLMSDiscreteScheduler"
           "FlaxDPMSolverMultistepScheduler"; "FlaxEulerDiscreteScheduler" |]

