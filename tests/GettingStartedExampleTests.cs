using System.Text;
using Schedulers.Core;
using Schedulers.Hub;
using Schedulers.Pipelines;
using static TorchSharp.torch;

namespace Schedulers.Tests;

/// <summary>The snippets of docs/getting-started-csharp.md, compiled and run so the guide cannot drift from the API.
/// Each snippet's code stands between its begins/ends markers as in the guide (its using lines are at the top of this
/// file).</summary>
public sealed class GettingStartedExampleTests
{
    [Fact]
    public void First_loop_samples_the_unit_gaussian_and_the_pipeline_gives_the_same_bits()
    {
        // getting-started (C#, first loop) begins
        var scheduler = new DPMSolverMultistepScheduler();          // diffusers' defaults: DPM-Solver++ (2M), 1000 train steps
        // Stands in for a trained network: for data x0 ~ N(0, I), E[ε | x_t] = σ_t·x_t exactly.
        Tensor Model(Tensor x, long t) => x * scheduler.State.Tables.SigmaT[t];

        var generator = new Generator(42);                          // torch.Generator().manual_seed(42)
        scheduler.SetTimesteps(20);
        var sample = randn(new long[] { 4096, 2 }, generator: generator) * scheduler.InitNoiseSigma;
        foreach (var t in scheduler.State.Timesteps)
            sample = scheduler.Step(Model(sample, t), t, sample, generator).PrevSample;
        Console.WriteLine($"std {sample.std().item<float>():F3}");    // ≈ 1
        // getting-started (C#, first loop) ends

        Assert.InRange(sample.std().item<float>(), 0.97f, 1.03f);
        Assert.InRange(sample.mean().item<float>(), -0.05f, 0.05f);

        // getting-started (C#, pipeline) begins
        var pipeline = new DpmSolverPipeline(Model, scheduler);   // sets the timesteps again, which resets the scheduler
        var samples = pipeline.Call(new long[] { 4096, 2 }, numInferenceSteps: 20, generator: new Generator(42));
        // samples has the same bits as the loop's sample: same seed, same draws in the same order
        // getting-started (C#, pipeline) ends

        Assert.Equal(sample.data<float>().ToArray(), samples.data<float>().ToArray());
    }

    [Fact]
    public void Config_saved_and_loaded_back()
    {
        // getting-started (C#, configs) begins
        var folder = Directory.CreateTempSubdirectory("my-scheduler-").FullName;
        var custom = new DPMSolverMultistepScheduler(new Dictionary<string, object?>
        {
            ["solver_order"] = 3,
            ["use_karras_sigmas"] = true,
        });
        string path = custom.SaveConfig(folder);                    // folder/scheduler_config.json, written atomically
        var loaded = DPMSolverMultistepScheduler.FromPretrained(folder);
        var same = DPMSolverMultistepScheduler.FromConfig(SchedulerConfigs.ReadFile(path));
        Console.WriteLine(loaded.Config.SolverOrder);               // 3
        // getting-started (C#, configs) ends
        try
        {
            Assert.Equal(3, loaded.Config.SolverOrder);
            Assert.Equal(Path.Combine(folder, "scheduler_config.json"), path);
            Assert.True(loaded.Config.UseKarrasSigmas);
            Assert.Equal(custom.Config, same.Config);
            Assert.Equal(File.ReadAllText(path), loaded.ConfigText());
            Assert.Contains("\"solver_order\": 3,", File.ReadAllText(path));
        }
        finally
        {
            Directory.Delete(folder, true);
        }
    }

    [Fact]
    public void Hub_settings_from_the_environment_and_a_config_from_a_hub_then_offline()
    {
        // getting-started (C#, Hub settings) begins
        var hub = HubSettings.FromEnvironment();     // HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE, HF_HUB_CACHE or HF_HOME
        // getting-started (C#, Hub settings) ends
        Assert.Equal(HubSettings.FromVariables(Environment.GetEnvironmentVariable), hub);

        // The same calls against a local stand-in for the Hub and a fresh cache.
        using var fake = new FakeHub();
        var cache = Directory.CreateTempSubdirectory("schedulers-hub-cache-");
        try
        {
            fake.Files["org/model|main|scheduler/scheduler_config.json"] = (Encoding.UTF8.GetBytes(
                "{\n  \"_class_name\": \"EulerDiscreteScheduler\",\n  \"sigma_max\": 14.6,\n  \"sigma_min\": 0.03,\n  \"use_karras_sigmas\": true\n}\n"),
                "0123456789abcdef0123456789abcdef01234567");
            hub = new HubSettings(fake.Endpoint, null, false, cache.FullName);

            // getting-started (C#, Hub) begins
            var fromHub = DPMSolverMultistepScheduler.FromPretrained("org/model", subfolder: "scheduler", hub: hub);
            var cachedOnly = DPMSolverMultistepScheduler.FromPretrained("org/model", subfolder: "scheduler", hub: hub with { Offline = true });
            // getting-started (C#, Hub) ends

            Assert.True(fromHub.Config.UseKarrasSigmas);
            Assert.Equal(fromHub.ConfigText(), cachedOnly.ConfigText());
            Assert.Contains("\"sigma_max\": 14.6", fromHub.ConfigText());   // another class's key, kept as diffusers keeps it
            Assert.Single(fake.Requests, r => r.Method == "GET");
        }
        finally
        {
            cache.Delete(true);
        }
    }

    [Fact]
    public void Torch_generator_and_jax_key_noise()
    {
        // getting-started (C#, noise) begins
        var torchNoise = Noise.Randn(NoiseSource.Of(new Generator(0)), new long[] { 2, 3 }, CPU);   // torch.randn(generator=...)
        var jaxNoise = Noise.Randn(NoiseSource.Of(Prng.key(0)), new long[] { 2, 3 }, CPU);         // jax.random.normal(PRNGKey(0))
        // getting-started (C#, noise) ends

        // torch.manual_seed(0); torch.randn(2, 3) starts 1.5410, -0.2934, -2.1788; the key gives jax.random.normal's bits.
        Assert.Equal(new[] { 1.5410f, -0.2934f, -2.1788f }, torchNoise.data<float>().ToArray()[..3].Select(v => MathF.Round(v, 4)).ToArray());
        Assert.Equal(randn(new long[] { 2, 3 }, generator: new Generator(0)).data<float>().ToArray(), torchNoise.data<float>().ToArray());
        Assert.Equal(Prng.normal(new[] { 2, 3 }, Prng.key(0)), jaxNoise.data<float>().ToArray());
    }
}
