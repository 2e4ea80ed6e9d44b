using Schedulers.Core;
using Schedulers.Evaluation;

namespace Schedulers.Models;

/// <summary>A trained network as the samplers call it: a batch x of shape [B, D] and one conditioning value per
/// row (the noise level σ or the timestep t) in, an array of shape [B, D] out (its meaning is given separately, see
/// <see cref="ModelOutputKind"/>). Implementations are deterministic and safe to call from several threads.</summary>
public interface IDenoiserModel : IDisposable
{
    /// <summary>The file the model was loaded from (for error messages).</summary>
    string Path { get; }

    /// <summary>Evaluates the network; throws <see cref="ModelException"/> when the output is not [B, D] or not
    /// finite.</summary>
    NdArray Forward(NdArray x, float[] conditioning);
}
