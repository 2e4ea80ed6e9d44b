using Schedulers.Conformance.Checkers;

namespace Schedulers.Conformance;

/// <summary>The checkers this build has, in the order the runner asks them. A new scheduler adds its checkers here.</summary>
public static class CheckerRegistry
{
    /// <summary>Every golden-file checker; the pending-scheduler fallback comes last.</summary>
    public static IEnumerable<IGoldenChecker> All()
    {
        yield return new PrngChecker();
        yield return new SdeVeFlaxChecker();
        yield return new SdeVeTorchChecker();
        yield return new KarrasVeFlaxChecker();
        yield return new KarrasVeTorchChecker();
        yield return new ConfigChecker();
        yield return new DpmTorchChecker();
        yield return new DpmFlaxChecker();
        yield return new FamilyChecker();
        yield return new TorchRngChecker();
        yield return new PendingSchedulerChecker();
    }

    /// <summary>The real-configs directory checker (DPM-Solver's from_config on real model configs).</summary>
    public static IRealConfigsChecker? RealConfigs() => new RealConfigsChecker();
}
