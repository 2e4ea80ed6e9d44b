namespace Schedulers.Core

/// What every sampling loop reports after each step: which step of how many, the timestep the model was evaluated
/// at (an integer timestep, a continuous time or a σ, in the scheduler's own terms) and the step's own output
/// record (`ScoreSdeVeOutput`, `KarrasStochasticStep`, `DpmStepResult`, `FlaxDpmStepOutput`, or the sample itself).
/// Tensors in it are valid during the callback: a loop may release the ones it no longer needs right after.
type StepProgress<'Output> =
    { /// The 0-based index of the step just finished.
      Step: int
      /// The number of steps of the run.
      Steps: int
      /// The timestep the model was evaluated at.
      Timestep: float
      /// The step's output.
      Output: 'Output }
