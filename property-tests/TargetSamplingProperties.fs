module Schedulers.PropertyTests.TargetSamplingProperties

open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open Schedulers.Core
open Schedulers.Evaluation

/// A sampler from each family (DPM-Solver in both of its loops).
type SamplerChoice = SamplerChoice of TargetSampler

/// A run of N samples cut into two ranges at c (0 < c < N), from a random seed.
type SplitRun = SplitRun of total: int * cut: int * seed: uint32

/// Generators for samplers and split runs.
type TargetSamplingGenerators =
    /// One of DPM-Solver++ (Flax loop), SDE-DPM-Solver++ (torch loop), KarrasVe, ScoreSdeVe with a short σ range.
    static member SamplerChoice() : Arbitrary<SamplerChoice> =
        Gen.elements
            [ DpmSolverSampler DpmSolverConfig.defaults
              DpmSolverSampler { DpmSolverConfig.defaults with AlgorithmType = AlgorithmType.SdeDpmSolverPlusPlus; SolverOrder = 3 }
              KarrasVeSampler { KarrasVe.defaults with SigmaMax = 3.0; SigmaMin = 0.1 }
              ScoreSdeVeSampler { ScoreSdeVe.defaults with SigmaMax = 10.0 } ]
        |> Gen.map SamplerChoice
        |> Arb.fromGen

    /// N in [2, 40], a cut inside, any seed; the start is offset so that ScoreSdeVe's groups are cut too.
    static member SplitRun() : Arbitrary<SplitRun> =
        gen {
            let! n = Gen.choose (2, 40)
            let! c = Gen.choose (1, n - 1)
            let! seed = Gen.choose (0, System.Int32.MaxValue)
            return SplitRun(n, c, uint32 seed)
        }
        |> Arb.fromGen

/// Sampling a range in two calls gives the same bits as in one, starting anywhere (here across the boundary of
/// ScoreSdeVe's corrector groups at 256): a sample depends only on the key, its index and the sampler.
[<Property(Arbitrary = [| typeof<TargetSamplingGenerators> |], MaxTest = 40)>]
let ``a split range samples the same bits as the whole range`` (SamplerChoice sampler) (SplitRun(n, c, seed)) =
    let key = Prng.key (int64 seed)
    let start = TargetSampling.CorrectorGroup - n / 2
    let run first count = (TargetSampling.run sampler Targets.ring8 3 key first count ignore).ToArray()
    let whole = run start n
    let parts = Array.append (run start c) (run (start + c) (n - c))
    whole = parts && Array.forall System.Single.IsFinite whole

/// Different indices give different samples (each has its own key).
[<Property(Arbitrary = [| typeof<TargetSamplingGenerators> |], MaxTest = 20)>]
let ``samples of different indices differ`` (SamplerChoice sampler) (SplitRun(_, _, seed)) =
    let x = (TargetSampling.run sampler Targets.ring8 2 (Prng.key (int64 seed)) 5 2 ignore).ToArray()
    x[0..1] <> x[2..3]
