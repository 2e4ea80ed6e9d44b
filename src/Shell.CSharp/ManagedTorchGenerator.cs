using Schedulers.Core;

namespace Schedulers;

/// <summary>
/// torch's CPU (mt19937) or CUDA (Philox) generator computed in managed code by the core (<see cref="TorchCpu"/>,
/// <see cref="TorchCuda"/>): a seeded stream that advances as it is drawn from, like a <c>torch.Generator</c>, so
/// one instance can be shared by every step of a loop. No libtorch is involved: a CUDA machine's noise can be
/// reproduced on any host. Thread-safe: concurrent draws take consecutive, non-overlapping parts of the stream.
/// </summary>
public sealed class ManagedTorchGenerator
{
    private readonly object _gate = new();
    private TorchCpuGenerator? _cpu;
    private TorchCudaGenerator _cuda;

    private ManagedTorchGenerator(TorchCpuGenerator? cpu, TorchCudaGenerator cuda, TorchCpuBoxMuller boxMuller)
    {
        _cpu = cpu;
        _cuda = cuda;
        BoxMuller = boxMuller;
    }

    /// <summary><c>torch.Generator().manual_seed(seed)</c> (a negative seed is read as its two's complement, as torch
    /// does). <paramref name="boxMuller"/> picks the block torch runs on the machine being reproduced (AVX2 x86-64 by
    /// default; see <see cref="TorchCpuBoxMuller"/>).</summary>
    public static ManagedTorchGenerator Cpu(long seed, TorchCpuBoxMuller boxMuller = TorchCpuBoxMuller.Avx2) =>
        new(TorchCpu.manualSeed(unchecked((ulong)seed)), default, boxMuller);

    /// <summary><c>torch.Generator("cuda").manual_seed(seed)</c> on <paramref name="device"/> (a
    /// <see cref="CudaDevice"/> preset or one made with <c>CudaDevices.create</c>).</summary>
    public static ManagedTorchGenerator Cuda(long seed, CudaDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        return new(null, TorchCuda.manualSeed(device, unchecked((ulong)seed)), TorchCpuBoxMuller.Avx2);
    }

    /// <summary>Whether this is the CUDA stream (else the CPU one).</summary>
    public bool IsCuda => _cpu is null;

    /// <summary>The CPU stream's Box–Muller block (unused by the CUDA stream).</summary>
    public TorchCpuBoxMuller BoxMuller { get; }

    /// <summary>The seed (<c>initial_seed()</c>).</summary>
    public ulong InitialSeed
    {
        get { lock (_gate) return _cpu?.Seed ?? _cuda.Seed; }
    }

    /// <summary>The CPU stream's current state, or null for a CUDA stream.</summary>
    public TorchCpuGenerator? CpuState
    {
        get { lock (_gate) return _cpu; }
    }

    /// <summary>The CUDA stream's current state, or null for a CPU stream.</summary>
    public TorchCudaGenerator? CudaState
    {
        get { lock (_gate) return _cpu is null ? _cuda : null; }
    }

    /// <summary><c>torch.randn(count, generator=g)</c> in float32; the stream advances past the draw.</summary>
    public float[] Randn(int count)
    {
        lock (_gate)
        {
            if (_cpu is not null)
            {
                var (values, next) = TorchCpu.randnWith(BoxMuller, count, _cpu);
                _cpu = next;
                return values;
            }
            var (cudaValues, cudaNext) = TorchCuda.randn(count, _cuda);
            _cuda = cudaNext;
            return cudaValues;
        }
    }

    /// <summary><c>torch.rand(count, generator=g)</c> in float32; the stream advances past the draw.</summary>
    public float[] Rand(int count)
    {
        lock (_gate)
        {
            if (_cpu is not null)
            {
                var (values, next) = TorchCpu.rand(count, _cpu);
                _cpu = next;
                return values;
            }
            var (cudaValues, cudaNext) = TorchCuda.rand(count, _cuda);
            _cuda = cudaNext;
            return cudaValues;
        }
    }

    /// <summary>Describes the stream: device, seed and position.</summary>
    public override string ToString()
    {
        lock (_gate)
            return _cpu is not null ? _cpu.ToString() : $"TorchCudaGenerator(seed={_cuda.Seed}, offset={_cuda.Offset}, device={_cuda.Device.Name})";
    }
}
