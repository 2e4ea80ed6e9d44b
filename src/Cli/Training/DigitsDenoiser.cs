using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Schedulers.Cli.Training;

/// <summary>The digits denoiser <c>schedulers train --target digits</c> fits: <c>forward(x: float32[B, 64], sigma:
/// float32[B]) → D(x; σ) float32[B, 64]</c>, the clean image's estimate (an x0 model). A small convolutional network
/// F on the 8×8 image, wrapped in EDM's preconditioning (Karras et al. 2022, Table 1):
/// D = c_skip·x + c_out·F(c_in·x, c_noise), c_skip = σ_d²/(σ² + σ_d²), c_out = σ·σ_d/√(σ² + σ_d²),
/// c_in = 1/√(σ² + σ_d²), c_noise = ln(σ)/4. F: a 3×3 convolution to <see cref="DigitsArchitecture.Channels"/>
/// channels, <see cref="DigitsArchitecture.Blocks"/> residual blocks (SiLU, conv, + the noise embedding per channel,
/// SiLU, conv), SiLU and a 3×3 convolution back to one channel; padding keeps 8×8 throughout, and the receptive field
/// of the stack covers the whole image.</summary>
public sealed class DigitsDenoiser : Module<Tensor, Tensor, Tensor>
{
    private readonly TorchSharp.Modules.Conv2d _input, _output;
    private readonly TorchSharp.Modules.ModuleList<TorchSharp.Modules.Conv2d> _convs;
    private readonly TorchSharp.Modules.Linear _embed;
    private readonly TorchSharp.Modules.ModuleList<TorchSharp.Modules.Linear> _shifts;
    private readonly double _sigmaData;

    /// <summary>The architecture (also written to the sidecar).</summary>
    public DigitsArchitecture Architecture { get; }

    /// <summary>A network with torch's default initialisation (replace it with <see cref="Initialise"/>).</summary>
    public DigitsDenoiser(DigitsArchitecture architecture) : base("DigitsDenoiser")
    {
        Architecture = architecture;
        _sigmaData = architecture.SigmaData;
        int c = architecture.Channels;
        _input = Conv2d(1, c, 3, padding: 1);
        _output = Conv2d(c, 1, 3, padding: 1);
        _convs = new TorchSharp.Modules.ModuleList<TorchSharp.Modules.Conv2d>(
            Enumerable.Range(0, 2 * architecture.Blocks).Select(_ => Conv2d(c, c, 3, padding: 1)).ToArray());
        _embed = Linear(1, architecture.Embedding);
        _shifts = new TorchSharp.Modules.ModuleList<TorchSharp.Modules.Linear>(
            Enumerable.Range(0, architecture.Blocks).Select(_ => Linear(architecture.Embedding, c)).ToArray());
        RegisterComponents();
    }

    /// <summary>Redraws every weight and bias uniformly in ±1/√fan_in (the bound of torch's default initialisation)
    /// from <paramref name="generator"/>, in the order of <c>parameters()</c>, so the start depends only on the seed.
    /// The last convolution starts at zero, so that the untrained network is the data-std Gaussian's denoiser
    /// c_skip·x.</summary>
    public void Initialise(Generator generator)
    {
        using var noGrad = no_grad();
        foreach (var (name, p) in named_parameters())
        {
            long fanIn = p.dim() == 1 ? FanInOfBias(name) : p.shape.Skip(1).Aggregate(1L, (a, b) => a * b);
            double bound = 1.0 / Math.Sqrt(fanIn);
            var drawn = rand(p.shape, generator: generator) * (2 * bound) - bound;
            p.copy_(name.StartsWith("_output", StringComparison.Ordinal) ? zeros_like(p) : drawn);
        }
    }

    private long FanInOfBias(string name)
    {
        var weight = named_parameters().First(p => p.name == name[..name.LastIndexOf('.')] + ".weight").parameter;
        return weight.shape.Skip(1).Aggregate(1L, (a, b) => a * b);
    }

    /// <summary>F's raw output for the preconditioned input (shape [B, 64]).</summary>
    public Tensor Raw(Tensor x, Tensor sigma)
    {
        var s = sigma.unsqueeze(1);
        var cIn = (s * s + _sigmaData * _sigmaData).rsqrt();
        var embedding = functional.silu(_embed.forward(s.log() / 4.0));
        var h = Conv((x * cIn).view(-1, 1, DigitsArchitecture.Side, DigitsArchitecture.Side), _input);
        for (int b = 0; b < Architecture.Blocks; b++)
        {
            var shift = _shifts[b].forward(embedding).unsqueeze(2).unsqueeze(3);
            var inner = functional.silu(Conv(functional.silu(h), _convs[2 * b]) + shift);
            h = h + Conv(inner, _convs[2 * b + 1]);
        }
        return Conv(functional.silu(h), _output).view(-1, DigitsArchitecture.Side * DigitsArchitecture.Side);
    }

    /// <summary>A 3×3 convolution with padding 1 as a product with the unfolded patches: the function and weights of
    /// <paramref name="conv"/>.forward, computed without libtorch's CPU convolution kernels, whose backward pass
    /// returned NaN input gradients at random steps (seen with TorchSharp-cpu 0.107, one and eight channels).</summary>
    private static Tensor Conv(Tensor x, TorchSharp.Modules.Conv2d conv)
    {
        // Without gradients (sampling) libtorch's convolution is the faster path and its forward pass is sound.
        if (!is_grad_enabled()) return conv.forward(x);
        var patches = functional.unfold(x, 3, padding: 1);
        var weight = conv.weight!;
        var y = weight.view(weight.shape[0], -1).matmul(patches) + conv.bias!.view(1, -1, 1);
        return y.view(-1, weight.shape[0], DigitsArchitecture.Side, DigitsArchitecture.Side);
    }

    /// <summary>c_skip and c_out of σ (shape [B, 1] each).</summary>
    public (Tensor Skip, Tensor Out) Scalings(Tensor sigma)
    {
        var s = sigma.unsqueeze(1);
        var total = s * s + _sigmaData * _sigmaData;
        return (_sigmaData * _sigmaData / total, s * _sigmaData * total.rsqrt());
    }

    /// <summary>D(x; σ): the denoised image estimate (see the class summary).</summary>
    public override Tensor forward(Tensor x, Tensor sigma)
    {
        var (skip, output) = Scalings(sigma);
        return skip * x + output * Raw(x, sigma);
    }
}
