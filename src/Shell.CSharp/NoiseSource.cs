using Schedulers.Core;
using TorchSharp;

namespace Schedulers;

/// <summary>
/// Where a scheduler step draws its Gaussian noise: a <see cref="torch.Generator"/> (diffusers' torch stream,
/// reproduced exactly by TorchSharp) or a JAX key (the Flax flavour's stream, bit-exact with <c>jax.random.normal</c>).
/// </summary>
public abstract record NoiseSource
{
    private NoiseSource() { }

    /// <summary>Draw with <c>torch.randn</c> from <paramref name="Generator"/>; null uses torch's default generator.</summary>
    public sealed record FromGenerator(torch.Generator? Generator) : NoiseSource;

    /// <summary>Draw <c>jax.random.normal(Key, shape)</c> on the host and move it to the sample's device.</summary>
    public sealed record FromKey(PrngKey Key, ThreefryMode Mode = ThreefryMode.Partitionable) : NoiseSource;

    /// <summary>Noise from a torch generator.</summary>
    public static NoiseSource Of(torch.Generator? generator) => new FromGenerator(generator);

    /// <summary>Noise from a JAX key in the default (partitionable) threefry mode.</summary>
    public static NoiseSource Of(PrngKey key) => new FromKey(key);
}
