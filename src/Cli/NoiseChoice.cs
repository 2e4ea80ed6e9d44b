using Schedulers.Core;
using Schedulers.Evaluation;

namespace Schedulers.Cli;

/// <summary>Which noise stream a run draws from: JAX keys per sample (the default: samples independent of batching and
/// sharding), or one of torch's generator streams shared by the whole run in diffusers' order (initial noise, then
/// each step's draw), computed in managed code (<see cref="ManagedTorchGenerator"/>).</summary>
public sealed record NoiseChoice(string Name, CudaDevice? Device)
{
    /// <summary>JAX keys (<c>--noise jax</c>).</summary>
    public static NoiseChoice Jax { get; } = new("jax", null);

    /// <summary>Whether the run draws from a torch stream (one batch, no shards).</summary>
    public bool IsTorch => Name != "jax";

    /// <summary>Reads <c>--noise</c> and <c>--cuda-device</c> (a preset name; only with torch-cuda).</summary>
    public static NoiseChoice Parse(string? noise, string? cudaDevice)
    {
        var name = noise ?? "jax";
        if (name is not ("jax" or "torch-cpu" or "torch-cuda"))
            throw new UsageException($"--noise is '{name}' but must be one of jax, torch-cpu, torch-cuda");
        if (cudaDevice is not null && name != "torch-cuda")
            throw new UsageException("--cuda-device needs --noise torch-cuda");
        if (name != "torch-cuda") return name == "jax" ? Jax : new NoiseChoice(name, null);
        var device = cudaDevice is null
            ? CudaDevices.H100Sxm
            : CudaDevices.tryFind(cudaDevice) is { } found ? found.Value
            : throw new UsageException($"--cuda-device is '{cudaDevice}' but must be one of {string.Join(", ", CudaDevices.presets.Select(p => p.Item1))}");
        return new NoiseChoice(name, device);
    }

    /// <summary>The generator of this choice seeded with <paramref name="seed"/>.</summary>
    public ManagedTorchGenerator Generator(uint seed) =>
        Device is { } d ? ManagedTorchGenerator.Cuda(seed, d) : ManagedTorchGenerator.Cpu(seed);

    /// <summary>Samples <paramref name="count"/> points as one batch drawing from this torch stream.</summary>
    public NdArray Sample(TargetSampler sampler, GaussianMixture target, int steps, uint seed, int count, Action<long>? advance, SamplingModel? model)
    {
        var generator = Generator(seed);
        var ops = new StreamOps<ManagedTorchGenerator>(Draw);
        var initial = NdArrayModule.create([count, target.Dimension], generator.Randn(checked(count * target.Dimension)));
        var shared = Microsoft.FSharp.Core.FuncConvert.FromFunc<ManagedTorchGenerator, ValueTuple<ManagedTorchGenerator, ManagedTorchGenerator>>(g => (g, g));
        var plan = new NoisePlan<ManagedTorchGenerator>(ops, initial, generator, shared, shared, shared);
        var onStep = Microsoft.FSharp.Core.FuncConvert.FromAction<int>(n => advance?.Invoke(n));
        return TargetSampling.runPlanned(model ?? TargetSampling.exactModel(target), sampler, target, steps, plan, onStep);
    }

    /// <summary>A full-shape <c>torch.randn</c> from the shared generator (each step's draw).</summary>
    private static readonly Microsoft.FSharp.Core.FSharpFunc<ManagedTorchGenerator, Microsoft.FSharp.Core.FSharpFunc<int[], float[]>> Draw =
        Microsoft.FSharp.Core.FuncConvert.FromFunc<ManagedTorchGenerator, int[], float[]>((g, shape) => g.Randn(checked(shape.Aggregate(1, (a, d) => a * d))));
}
