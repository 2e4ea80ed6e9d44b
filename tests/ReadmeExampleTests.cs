using Schedulers.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Schedulers.Tests;

/// <summary>The C# examples of README.md, compiled and run so the documentation cannot drift from the API.</summary>
public class ReadmeExampleTests
{
    [Fact]
    public void Readme_dpm_solver_loop_with_a_torch_generator_and_a_config_file()
    {
        var folder = Path.Combine(Path.GetTempPath(), "my-scheduler");
        try
        {
            // README example (C#) begins
            var scheduler = new DPMSolverMultistepScheduler(new Dictionary<string, object?> { ["solver_order"] = 3 });
            scheduler.SaveConfig(folder);             // folder/scheduler_config.json, byte for byte as diffusers writes it
            // FromPretrained reads a file, a folder (and subfolder: "scheduler"), the Hugging Face cache or the Hub.
            scheduler = DPMSolverMultistepScheduler.FromPretrained(folder);

            Func<Tensor, long, Tensor> model = (x, t) => x * (t / (t + 1f));   // stands in for a UNet
            var generator = new Generator(0);
            scheduler.SetTimesteps(20);
            var sample = randn(new long[] { 1, 4, 64, 64 }, generator: generator);
            foreach (var t in scheduler.State.Timesteps)
                sample = scheduler.Step(model(sample, t), t, sample, generator).PrevSample;
            // README example (C#) ends
            Assert.Equal(new long[] { 1, 4, 64, 64 }, sample.shape);
            Assert.True(sample.isfinite().all().item<bool>());
            Assert.Equal(3, scheduler.Config.SolverOrder);
        }
        finally
        {
            Directory.Delete(folder, true);
        }
    }

    [Fact]
    public void Readme_jax_noise_on_a_tensor()
    {
        // README example (C#, noise) begins
        var jax = Noise.Randn(NoiseSource.Of(Prng.key(0)), new long[] { 4, 3, 8, 8 }, CPU);          // jax.random.normal
        var torchNoise = Noise.Randn(NoiseSource.Of(new Generator(0)), new long[] { 4, 3, 8, 8 }, CPU); // torch.randn
        // README example (C#, noise) ends
        Assert.Equal(Prng.normal(new[] { 4, 3, 8, 8 }, Prng.key(0)), jax.data<float>().ToArray());
        Assert.Equal(-1.1258398f, torchNoise.data<float>()[0], 6);
    }
}
