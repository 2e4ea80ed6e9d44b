using Microsoft.FSharp.Core;
using Schedulers.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Schedulers;

/// <summary>Draws standard normal float32 tensors the way diffusers' <c>randn_tensor</c> and the Flax schedulers do.</summary>
public static class Noise
{
    /// <summary>
    /// A step's noise as the core's steps take it (<see cref="StepNoise{T, N}"/>). For a float32 model output the step
    /// gets the source itself: it draws inside its one pass where the source is a JAX key, and otherwise makes one whole
    /// draw of its sample's shape on its device — the draw <see cref="Randn"/> makes. For other dtypes it gets that draw
    /// converted to the model output's dtype, as diffusers' <c>randn_tensor(..., dtype=model_output.dtype)</c> gives it.
    /// </summary>
    internal static StepNoise<Tensor, NoiseSource> ForStep(NoiseSource noise, Tensor modelOutput, long[] shape)
    {
        ArgumentNullException.ThrowIfNull(noise);
        if (modelOutput.dtype == ScalarType.Float32)
            return StepNoise<Tensor, NoiseSource>.NewSource(FuncConvert.FromFunc<Unit, NoiseSource>(_ => noise));
        return StepNoise<Tensor, NoiseSource>.NewTensor(FuncConvert.FromFunc<Unit, Tensor>(_ =>
            Randn(noise, shape, modelOutput.device).to(modelOutput.dtype)));
    }

    /// <summary>
    /// A standard normal tensor of <paramref name="shape"/> on <paramref name="device"/>. A CPU generator draws on
    /// the CPU and the result is moved (as <c>randn_tensor</c> does), so the numbers do not depend on the device; a
    /// generator on another device than a CPU target is an error. A managed torch stream draws on the host and the result
    /// is moved. A key draws <c>jax.random.normal</c>.
    /// </summary>
    public static Tensor Randn(NoiseSource noise, long[] shape, Device device)
    {
        ArgumentNullException.ThrowIfNull(noise);
        ArgumentNullException.ThrowIfNull(shape);
        switch (noise)
        {
            case NoiseSource.FromGenerator { Generator: null }:
                return randn(shape, dtype: ScalarType.Float32, device: device);
            case NoiseSource.FromGenerator { Generator: { } generator }:
                var generatorDevice = generator.device;
                if (generatorDevice.type == DeviceType.CPU && device.type == DeviceType.CPU)
                    return randn(shape, dtype: ScalarType.Float32, device: CPU, generator: generator);
                if (generatorDevice.type == DeviceType.CPU)
                {
                    using var cpu = randn(shape, dtype: ScalarType.Float32, device: CPU, generator: generator);
                    return cpu.to(device);
                }
                if (device.type == DeviceType.CPU || generatorDevice.type != device.type)
                    throw new ArgumentException(
                        $"generator is on device {generatorDevice} but the sample is on {device}; use a CPU generator or one on the sample's device",
                        "generator");
                return randn(shape, dtype: ScalarType.Float32, device: device, generator: generator);
            case NoiseSource.FromManaged { Generator: var managed }:
                var draw = managed.Randn(ElementCount(shape));
                using (var host = tensor(draw, shape, ScalarType.Float32))
                {
                    return host.to(device);
                }
            case NoiseSource.FromKey fromKey:
                var ints = shape.Select(d => checked((int)d)).ToArray();
                var values = Prng.normalWith(fromKey.Mode, ints, fromKey.Key);
                using (var host = tensor(values, shape, ScalarType.Float32))
                {
                    return host.to(device);
                }
            default:
                throw new ArgumentException($"noise source {noise} is not supported", nameof(noise));
        }
    }

    /// <summary>The number of elements of <paramref name="shape"/>, checked before anything is allocated.</summary>
    private static int ElementCount(long[] shape)
    {
        long count = 1;
        foreach (var d in shape)
        {
            if (d < 0)
                throw new ArgumentException($"shape [{string.Join(",", shape)}] has a negative dimension", nameof(shape));
            if (d != 0 && count > Array.MaxLength / d)
                throw new ArgumentException($"shape [{string.Join(",", shape)}] has more than {Array.MaxLength} elements", nameof(shape));
            count *= d;
        }
        return (int)count;
    }
}
