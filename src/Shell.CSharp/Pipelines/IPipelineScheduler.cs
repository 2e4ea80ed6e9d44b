using static TorchSharp.torch;

namespace Schedulers.Pipelines;

/// <summary>
/// What a diffusers pipeline asks of its scheduler, the same for every class of the compatible family: the
/// schedule (<c>set_timesteps</c>, <c>timesteps</c>, <c>init_noise_sigma</c>, <c>order</c>), one iteration
/// (<c>scale_model_input</c>, <c>step</c>) and the img2img start (<c>add_noise</c>, <c>set_begin_index</c>).
/// Timesteps are doubles here whatever the class's own type (int64 for DDIM, DDPM, PNDM and DPM-Solver; float32 for
/// LMS and Euler); each class converts back exactly. <see cref="PipelineSchedulers"/> adapts each class.
/// </summary>
public interface IPipelineScheduler
{
    /// <summary>The diffusers class name (<c>_class_name</c>).</summary>
    string ClassName { get; }

    /// <summary><c>set_timesteps(num_inference_steps)</c>.</summary>
    void SetTimesteps(int numInferenceSteps);

    /// <summary><c>timesteps</c>, one per loop iteration.</summary>
    IReadOnlyList<double> Timesteps { get; }

    /// <summary><c>init_noise_sigma</c>: the scale of the initial noise.</summary>
    double InitNoiseSigma { get; }

    /// <summary><c>order</c>: iterations per step (img2img's begin index is t_start·order).</summary>
    int Order { get; }

    /// <summary>Whether the class has <c>set_begin_index</c> (diffusers' pipelines call it only then).</summary>
    bool HasBeginIndex { get; }

    /// <summary><c>set_begin_index(i)</c>; a class without one ignores it (<see cref="HasBeginIndex"/>).</summary>
    void SetBeginIndex(int beginIndex);

    /// <summary><c>scale_model_input(sample, t)</c>: the model's input at timestep <paramref name="timestep"/>
    /// (the sample itself where the class does not scale).</summary>
    Tensor ScaleModelInput(Tensor sample, double timestep);

    /// <summary><c>step(model_output, t, sample, generator=…).prev_sample</c>, any noise drawn from
    /// <paramref name="noise"/> (a torch generator, a managed torch stream or a JAX key).</summary>
    Tensor Step(Tensor modelOutput, double timestep, Tensor sample, NoiseSource noise);

    /// <summary><c>add_noise(original_samples, noise, [t] · batch)</c>: the sample noised to timestep
    /// <paramref name="timestep"/>.</summary>
    Tensor AddNoise(Tensor originalSamples, Tensor noise, double timestep);
}
