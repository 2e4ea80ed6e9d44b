using Schedulers.Core;
using Schedulers.Pipelines;
using TorchSharp;
using static TorchSharp.torch;

namespace Schedulers.Tests;

/// <summary>The pipeline loop over the compatible family: the same numbers as the diffusers loop written by hand with
/// each class's own methods, the img2img start, and its checks.</summary>
public sealed class FamilyPipelineTests
{
    private static readonly long[] Shape = [2, 3, 4];

    /// <summary>Each class, fresh, under its pipeline adapter, and the same class again for the hand-written loop.</summary>
    public static TheoryData<string> Classes => new() { "ddim", "ddpm", "pndm", "lms", "euler", "dpm" };

    private static IPipelineScheduler Make(string name) => name switch
    {
        "ddim" => PipelineSchedulers.For(new DDIMScheduler()),
        "ddpm" => PipelineSchedulers.For(new DDPMScheduler()),
        "pndm" => PipelineSchedulers.For(new PNDMScheduler()),
        "lms" => PipelineSchedulers.For(new LMSDiscreteScheduler()),
        "euler" => PipelineSchedulers.For(new EulerDiscreteScheduler()),
        "dpm" => PipelineSchedulers.For(new DPMSolverMultistepScheduler(new Dictionary<string, object?> { ["algorithm_type"] = "sde-dpmsolver++" })),
        _ => throw new ArgumentException(name),
    };

    /// <summary>A smooth stand-in for a network: depends on the input and the timestep.</summary>
    private static Tensor Model(Tensor x, double t) => tanh(x) * 0.7 + (float)(t / 1000.0);

    /// <summary>diffusers' loop written out with the class's own methods (through the same adapter, one call each).</summary>
    private static Tensor ByHand(IPipelineScheduler s, int steps, ulong seed)
    {
        s.SetTimesteps(steps);
        var x = Noise.Randn(NoiseSource.Of(new Generator(seed)), Shape, CPU) * s.InitNoiseSigma;
        var g = NoiseSource.Of(new Generator(seed + 1));
        foreach (var t in s.Timesteps)
            x = s.Step(Model(s.ScaleModelInput(x, t), t), t, x, g);
        return x;
    }

    [Theory]
    [MemberData(nameof(Classes))]
    public void Generate_equals_the_loop_written_by_hand(string name)
    {
        using var scope = NewDisposeScope();
        var expected = ByHand(Make(name), 12, 7).data<float>().ToArray();
        // The pipeline draws the start from the generator it is given, then the step noise from the same generator:
        // the hand loop uses two generators, so draw the start the same way here.
        var s = Make(name);
        s.SetTimesteps(12);
        var latents = Noise.Randn(NoiseSource.Of(new Generator(7)), Shape, CPU) * s.InitNoiseSigma;
        var seen = new List<int>();
        var actual = FamilyPipeline.Run(s, Model, latents, 0, new Generator(8), p => seen.Add(p.Step));
        Assert.Equal(expected, actual.data<float>().ToArray());
        Assert.Equal(Enumerable.Range(0, s.Timesteps.Count), seen);
        // The caller's latents are not disposed.
        Assert.Equal(24, latents.data<float>().ToArray().Length);
    }

    [Theory]
    [MemberData(nameof(Classes))]
    public void Generate_draws_the_start_then_steps_from_one_generator(string name)
    {
        using var scope = NewDisposeScope();
        var a = FamilyPipeline.Generate(Make(name), Model, Shape, 8, new Generator(3)).data<float>().ToArray();
        var b = FamilyPipeline.Generate(Make(name), Model, Shape, 8, new Generator(3)).data<float>().ToArray();
        Assert.Equal(a, b);
        Assert.All(a, v => Assert.True(float.IsFinite(v)));
    }

    /// <summary>The managed torch CPU stream gives the run a <c>torch.Generator</c> with the same seed gives (DDPM draws
    /// its variance noise at every step but the last, SDE-DPM-Solver++ at every step).</summary>
    [Theory]
    [InlineData("ddpm")]
    [InlineData("dpm")]
    public void Generate_from_the_managed_torch_stream_equals_the_torch_generator(string name)
    {
        using var scope = NewDisposeScope();
        var torchRun = FamilyPipeline.Generate(Make(name), Model, Shape, 10, new Generator(123)).data<float>().ToArray();
        var managed = FamilyPipeline.Generate(Make(name), Model, Shape, 10, NoiseSource.FromTorchCpuSeed(123)).data<float>().ToArray();
        Assert.Equal(torchRun, managed);
    }

    /// <summary>
    /// img2img with the noise itself as the model's ε: the deterministic schedulers then stay on the exact path
    /// x_t = √ᾱ·x0 + √(1 − ᾱ)·ε (VE: x0 + σ·ε) and return the image, to float32 rounding. Two classes do not, in
    /// diffusers as here (reproduced; docs/pipelines.md): LMS, because from a begin index it takes
    /// min(step_index + 1, order) coefficients while its history holds fewer derivatives; PNDM, because its counter
    /// starts its second-order warm-up (and with PRK steps its Runge–Kutta stage) wherever the run begins, while its
    /// timesteps repeat an entry only at the start of the schedule.
    /// </summary>
    [Theory]
    [InlineData("ddim")]
    [InlineData("euler")]
    [InlineData("dpm")]
    public void From_image_with_a_perfect_model_returns_the_image(string name)
    {
        using var scope = NewDisposeScope();
        var image = rand(Shape, generator: new Generator(11)) * 2 - 1;
        var noise = Noise.Randn(NoiseSource.Of(new Generator(5)), Shape, CPU);
        var s = name switch
        {
            "dpm" => PipelineSchedulers.For(new DPMSolverMultistepScheduler()),
            _ => Make(name),
        };
        var result = FamilyPipeline.FromImage(s, (_, _) => noise.clone(), image, 0.6, 20, new Generator(5));
        var worst = (result - image).abs().max().item<float>();
        Assert.True(worst < 2e-3f, $"{name}: worst {worst}");
        // 60 % of 20 steps: the run started at index 8 (diffusers' get_timesteps).
        Assert.Equal(8, Img2Img.beginIndex(20, 1, 0.6));
    }

    [Fact]
    public void From_image_starts_at_the_kept_steps_and_checks_strength()
    {
        using var scope = NewDisposeScope();
        var image = zeros(Shape);
        var seen = new List<double>();
        var s = Make("ddim");
        FamilyPipeline.FromImage(s, Model, image, 0.25, 20, new Generator(1), p => seen.Add(p.Timestep));
        Assert.Equal(s.Timesteps.Skip(15), seen);
        Assert.Equal("strength", Assert.Throws<ArgumentException>(() => FamilyPipeline.FromImage(Make("ddim"), Model, image, 1.5, 20)).ParamName);
        var copy = FamilyPipeline.FromImage(Make("euler"), Model, image, 0.0, 20);
        Assert.False(ReferenceEquals(copy, image));
        Assert.Equal(image.data<float>().ToArray(), copy.data<float>().ToArray());
        Assert.Equal([50, 10, 0], new[] { 0.0, 0.8, 1.0 }.Select(st => Img2Img.beginIndex(50, 1, st)));
    }
}

/// <summary>The compatible family on the shell's CPU fast path (each step one pass: <c>IBackend.TryRun</c>) against
/// the same runs op by op through torch: whole pipeline runs bit for bit, every option that changes the program.</summary>
public sealed class FamilyFastPathTests
{
    public static TheoryData<string, string> Cases => new()
    {
        { "ddim", "{}" },
        { "ddim", "{\"prediction_type\": \"v_prediction\", \"clip_sample\": true}" },
        { "ddim", "{\"prediction_type\": \"sample\", \"thresholding\": true}" },
        { "ddpm", "{\"variance_type\": \"fixed_large\"}" },
        { "pndm", "{}" },
        { "pndm", "{\"skip_prk_steps\": true, \"prediction_type\": \"v_prediction\"}" },
        { "lms", "{}" },
        { "lms", "{\"prediction_type\": \"v_prediction\"}" },
        { "euler", "{}" },
        { "euler", "{\"prediction_type\": \"v_prediction\", \"use_karras_sigmas\": true}" },
    };

    private static IPipelineScheduler Make(string name, string json)
    {
        var config = ConfigFile.parse(json);
        return name switch
        {
            "ddim" => PipelineSchedulers.For(DDIMScheduler.FromConfig(config)),
            "ddpm" => PipelineSchedulers.For(DDPMScheduler.FromConfig(config)),
            "pndm" => PipelineSchedulers.For(PNDMScheduler.FromConfig(config)),
            "lms" => PipelineSchedulers.For(LMSDiscreteScheduler.FromConfig(config)),
            "euler" => PipelineSchedulers.For(EulerDiscreteScheduler.FromConfig(config)),
            _ => throw new ArgumentException(name),
        };
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_run_on_the_fast_path_equals_the_run_op_by_op(string name, string json)
    {
        int[] Run(bool fastPath)
        {
            HostKernels.Enabled = fastPath;
            try
            {
                using var scope = NewDisposeScope();
                var result = FamilyPipeline.Generate(Make(name, json), (x, t) => tanh(x) * 0.7 + (float)(t / 1000.0), [2, 3, 40], 9, new Generator(4));
                return HostKernelsTests.Bits(result);
            }
            finally
            {
                HostKernels.Enabled = true;
            }
        }
        Assert.Equal(Run(false), Run(true));
    }
}
