using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Schedulers.Cli.Training;

/// <summary>The score network <c>schedulers train</c> fits: <c>forward(x: float32[B, D], sigma: float32[B]) →
/// score float32[B, D]</c>. An MLP F (SiLU, <see cref="MlpArchitecture.Layers"/> hidden layers of
/// <see cref="MlpArchitecture.Hidden"/> units) sees the scaled point c_in·x and the noise feature c_noise = ln(σ)/4,
/// and the output is parameterised as EDM's preconditioned denoiser (Karras et al. 2022, Table 1) read as ε:
/// ε̂ = σ/(σ² + σ_d²)·x − σ_d/√(σ² + σ_d²)·F, score = −ε̂/σ. The skip term is the exact ε of a Gaussian with the
/// data's variance σ_d², so F only learns the correction, of unit scale at every σ, and at noise levels beyond the
/// training range (DPM-Solver asks for σ ≈ 157) its share vanishes like σ_d/σ.</summary>
public sealed class ScoreMlp : Module<Tensor, Tensor, Tensor>
{
    private readonly TorchSharp.Modules.Sequential _net;
    private readonly double _sigmaData;
    private readonly List<TorchSharp.Modules.Linear> _linears = [];

    /// <summary>The architecture (also written to the model's sidecar file).</summary>
    public MlpArchitecture Architecture { get; }

    /// <summary>A network with torch's default initialisation, drawn from torch's global generator (replace it with
    /// <see cref="Initialise"/> for a seeded one).</summary>
    public ScoreMlp(MlpArchitecture architecture) : base("ScoreMlp")
    {
        Architecture = architecture;
        _sigmaData = architecture.SigmaData;
        var layers = new List<(string, Module<Tensor, Tensor>)>();
        long width = architecture.Dimension + 1;
        for (int i = 0; i < architecture.Layers; i++)
        {
            var linear = Linear(width, architecture.Hidden);
            _linears.Add(linear);
            layers.Add(($"linear{i}", linear));
            layers.Add(($"silu{i}", SiLU()));
            width = architecture.Hidden;
        }
        var last = Linear(width, architecture.Dimension);
        _linears.Add(last);
        layers.Add(("out", last));
        _net = Sequential(layers);
        RegisterComponents();
    }

    /// <summary>Redraws every weight and bias uniformly in ±1/√fan_in — the bound of torch's default
    /// <c>nn.Linear</c> initialisation — from <paramref name="generator"/>, so that the start does not depend on
    /// torch's global generator.</summary>
    public void Initialise(Generator generator)
    {
        using var noGrad = no_grad();
        foreach (var linear in _linears)
        {
            double bound = 1.0 / Math.Sqrt(linear.in_features);
            linear.weight!.copy_(rand(linear.weight!.shape, generator: generator) * (2 * bound) - bound);
            linear.bias!.copy_(rand(linear.bias!.shape, generator: generator) * (2 * bound) - bound);
        }
    }

    /// <summary>The predicted noise ε̂(x, σ) of shape [B, D] (see the class summary).</summary>
    public Tensor Epsilon(Tensor x, Tensor sigma)
    {
        var s = sigma.unsqueeze(1);
        var total = s.square() + _sigmaData * _sigmaData;
        var cIn = total.rsqrt();
        var cNoise = s.log() / 4.0;
        var f = _net.forward(cat([x * cIn, cNoise], 1));
        return s / total * x - _sigmaData * cIn * f;
    }

    /// <summary>The score ∇ log p_σ(x) = −ε̂/σ.</summary>
    public override Tensor forward(Tensor x, Tensor sigma) => -Epsilon(x, sigma) / sigma.unsqueeze(1);
}
