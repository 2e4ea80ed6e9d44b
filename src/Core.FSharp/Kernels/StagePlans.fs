namespace Schedulers.Core

/// The scalars of one Euler or Heun stage (`step` / `step_correct`), rounded as the flavour's reference rounds them.
type KarrasVeStepPlan =
    {
        /// σ̂ as the float32 factor of model_output and the divisor of the derivative.
        SigmaHat: float32
        /// σ_prev as the float32 factor of the corrector's model_output and its divisor.
        SigmaPrev: float32
        /// (σ_prev − σ̂) as the float32 factor of the derivative.
        Delta: float32
        /// True when "x / σ" is computed as x·f32(1/σ): XLA:CPU rewrites a division by a scalar into a multiplication by
        /// its float32 reciprocal (the Flax golden values show it on every element); torch divides.
        DivideByReciprocal: bool
    }

/// The scalar plan of one DPM-Solver update, `x_t = X·x + C0·D0 + C1·D1 + C2·D2 + Z·z`, with the scalars that build
/// the divided differences D1, D2 from the model-output history. All float32, computed in the reference's order.
type DpmUpdatePlan =
    { /// The order of the update: 1, 2 or 3.
      Order: int
      /// Coefficient of the sample.
      SampleCoef: float32
      /// Coefficient of D0 = m0.
      D0Coef: float32
      /// Coefficient of D1 (order ≥ 2).
      D1Coef: float32
      /// Coefficient of D2 (order 3).
      D2Coef: float32
      /// Coefficient of the noise (SDE variants), 0 otherwise.
      NoiseCoef: float32
      /// 1/r0, with r0 = h0/h.
      InvR0: float32
      /// 1/r1, with r1 = h1/h (order 3).
      InvR1: float32
      /// r0/(r0 + r1) (order 3).
      R0OverSum: float32
      /// 1/(r0 + r1) (order 3).
      InvSum: float32 }
