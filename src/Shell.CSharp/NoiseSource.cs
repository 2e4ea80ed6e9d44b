using Schedulers.Core;
using TorchSharp;

namespace Schedulers;

/// <summary>
/// Where a scheduler step draws its Gaussian noise: a <see cref="torch.Generator"/> (diffusers' torch stream,
/// reproduced exactly by TorchSharp), torch's CPU or CUDA stream computed in managed code
/// (<see cref="FromTorchCpuSeed"/>, <see cref="FromTorchCudaSeed"/>), or a JAX key (the Flax flavour's stream,
/// bit-exact with <c>jax.random.normal</c>).
/// </summary>
public abstract record NoiseSource
{
    private NoiseSource() { }

    /// <summary>Draw with <c>torch.randn</c> from <paramref name="Generator"/>; null uses torch's default generator.</summary>
    public sealed record FromGenerator(torch.Generator? Generator) : NoiseSource;

    /// <summary>Draw <c>jax.random.normal(Key, shape)</c> on the host and move it to the sample's device.</summary>
    public sealed record FromKey(PrngKey Key, ThreefryMode Mode = ThreefryMode.Partitionable) : NoiseSource;

    /// <summary>Draw <c>torch.randn</c> from torch's CPU or CUDA stream computed in managed code, on the host, and
    /// move it to the sample's device. Shared by every draw like a <c>torch.Generator</c>.</summary>
    public sealed record FromManaged(ManagedTorchGenerator Generator) : NoiseSource;

    /// <summary>Noise from <c>torch.Generator().manual_seed(seed)</c>, computed in managed code (no libtorch).</summary>
    public static NoiseSource FromTorchCpuSeed(long seed, TorchCpuBoxMuller boxMuller = TorchCpuBoxMuller.Avx2) =>
        new FromManaged(ManagedTorchGenerator.Cpu(seed, boxMuller));

    /// <summary>Noise from <c>torch.Generator("cuda").manual_seed(seed)</c> on <paramref name="device"/> (a
    /// <see cref="CudaDevice"/> preset such as <c>CudaDevices.H100Sxm</c>), computed in managed code on the host.</summary>
    public static NoiseSource FromTorchCudaSeed(long seed, CudaDevice device) =>
        new FromManaged(ManagedTorchGenerator.Cuda(seed, device));

    /// <summary>Noise from a managed torch stream.</summary>
    public static NoiseSource Of(ManagedTorchGenerator generator)
    {
        ArgumentNullException.ThrowIfNull(generator);
        return new FromManaged(generator);
    }

    /// <summary>Noise from a torch generator.</summary>
    public static NoiseSource Of(torch.Generator? generator) => new FromGenerator(generator);

    /// <summary>Noise from a JAX key in the default (partitionable) threefry mode.</summary>
    public static NoiseSource Of(PrngKey key) => new FromKey(key);
}
