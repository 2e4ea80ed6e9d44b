using Schedulers.Cli.Training;
using Schedulers.Core;
using Schedulers.Models;

namespace Schedulers.Cli.Models;

/// <summary>A digits denoiser written by <c>schedulers train --target digits</c>: TorchSharp weights plus the sidecar
/// <c>&lt;file&gt;.json</c> (<see cref="DigitsArchitecture"/>), rebuilt as a <see cref="DigitsDenoiser"/> and run on
/// the CPU under no_grad. <c>forward(x: float32[B, 64], sigma: float32[B]) → D(x; σ) float32[B, 64]</c> (an x0 model
/// conditioned on σ). The shipped model is embedded in the tool (<see cref="Shipped"/>).</summary>
public sealed class DigitsDenoiserModel : IDenoiserModel
{
    /// <summary>The name the shipped model goes by in reports.</summary>
    public const string ShippedName = "digits-denoiser.pt (shipped)";

    private readonly DigitsDenoiser _module;
    private readonly Lock _gate = new();

    /// <inheritdoc/>
    public string Path { get; }

    /// <summary>The architecture of the sidecar.</summary>
    public DigitsArchitecture Architecture => _module.Architecture;

    private DigitsDenoiserModel(string path, DigitsDenoiser module)
    {
        Path = path;
        _module = module;
    }

    /// <summary>Loads a model file and its sidecar; throws <see cref="ModelException"/> when either is missing, the
    /// sidecar is invalid, the weights are not the file it was written with, or they do not fit it.</summary>
    public static DigitsDenoiserModel Load(string path)
    {
        if (!File.Exists(path)) throw new ModelException($"model file '{path}' does not exist");
        var sidecar = DigitsArchitecture.SidecarOf(path);
        if (!File.Exists(sidecar)) throw new ModelException($"model file '{path}' has no digits sidecar '{sidecar}'");
        if (new FileInfo(path).Length > 64L << 20) throw new ModelException($"model file '{path}' is over 64 MiB; a digits denoiser is far smaller");
        return FromBytes(path, File.ReadAllBytes(path), File.ReadAllBytes(sidecar));
    }

    /// <summary>The model shipped with the tool (embedded resources <c>digits-denoiser.pt</c> and its sidecar).</summary>
    public static DigitsDenoiserModel Shipped() =>
        FromBytes(ShippedName, Resource("digits-denoiser.pt"), Resource("digits-denoiser.pt.json"));

    /// <summary>The bytes of the tool's embedded resource <paramref name="name"/>.</summary>
    public static byte[] Resource(string name)
    {
        using var stream = typeof(DigitsDenoiserModel).Assembly.GetManifestResourceStream("Schedulers.Cli.Digits." + name)
            ?? throw new InvalidOperationException($"the tool has no embedded resource {name}");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    private static DigitsDenoiserModel FromBytes(string path, byte[] weights, byte[] sidecarBytes)
    {
        var architecture = DigitsArchitecture.Parse(sidecarBytes, DigitsArchitecture.SidecarOf(path));
        if (Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(weights)) != architecture.WeightsSha256)
            throw new ModelException($"model file '{path}' is not the weights its sidecar was written with (SHA-256 differs): the two files come from different runs");
        var module = new DigitsDenoiser(architecture);
        try
        {
            module.load(new MemoryStream(weights));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            module.Dispose();
            throw new ModelException($"model file '{path}' does not hold the weights of the network its sidecar describes ({e.Message.Split('\n')[0].Trim()})", e);
        }
        module.eval();
        return new DigitsDenoiserModel(path, module);
    }

    /// <inheritdoc/>
    public NdArray Forward(NdArray x, float[] conditioning) =>
        TorchNetworkCall.Run(Path, _gate, x, conditioning, (xs, cs) => _module.forward(xs, cs));

    /// <inheritdoc/>
    public void Dispose() => _module.Dispose();
}
