using Schedulers.Core;

namespace Schedulers;

/// <summary>The shell's scheduler classes by diffusers class name, so that <c>compatibles</c> can name types: one line
/// per class (next to the core <see cref="Registry"/> line of the same class).</summary>
public static class SchedulerClasses
{
    private static readonly Dictionary<string, Type> ByName = new()
    {
        ["ScoreSdeVeScheduler"] = typeof(ScoreSdeVeScheduler),
        ["KarrasVeScheduler"] = typeof(KarrasVeScheduler),
        ["DPMSolverMultistepScheduler"] = typeof(DPMSolverMultistepScheduler),
        ["EDMHeunScheduler"] = typeof(EDMHeunScheduler),
        ["DDIMScheduler"] = typeof(DDIMScheduler),
        ["DDPMScheduler"] = typeof(DDPMScheduler),
        ["PNDMScheduler"] = typeof(PNDMScheduler),
        ["LMSDiscreteScheduler"] = typeof(LMSDiscreteScheduler),
        ["EulerDiscreteScheduler"] = typeof(EulerDiscreteScheduler),
    };

    /// <summary>Every class, by its diffusers name.</summary>
    public static IReadOnlyDictionary<string, Type> All => ByName;

    /// <summary>The class of a diffusers name, or null when this library does not have it.</summary>
    public static Type? Find(string className) => ByName.GetValueOrDefault(className);

    /// <summary>The classes among <paramref name="names"/> that this library has, in the order given.</summary>
    public static IReadOnlyList<Type> Of(IEnumerable<string> names) =>
        names.Select(Find).OfType<Type>().ToList();
}
