using Schedulers.Core;
using Schedulers.Pipelines;
using TorchSharp;
using static TorchSharp.torch;

namespace Schedulers.Tests;

/// <summary>Every wrong call throws at once with a message naming the argument, the value and what was expected.</summary>
public class ScoreSdeVeErrorTests
{
    [Fact]
    public void Steps_before_set_timesteps_say_what_to_call()
    {
        using var scope = NewDisposeScope();
        var x = zeros(2, 3, 4, 4);
        var scheduler = new ScoreSdeVeScheduler { State = ScoreSdeVe.empty };
        var pred = Assert.Throws<InvalidOperationException>(() => scheduler.StepPred(x, 0.5, x, new Generator(0)));
        Assert.Contains("SetTimesteps", pred.Message);
        var correct = Assert.Throws<InvalidOperationException>(() => scheduler.StepCorrect(x, x, new Generator(0)));
        Assert.Contains("SetTimesteps", correct.Message);

        var a = NdArrayModule.full(new[] { 2, 3 }, 1f);
        var core = Assert.Throws<InvalidOperationException>(() => ScoreSdeVe.stepPred(ScoreSdeVe.empty, a, 0.5f, a, Prng.key(0)));
        Assert.Contains("setTimesteps", core.Message);
        var coreCorrect = Assert.Throws<InvalidOperationException>(() => ScoreSdeVe.stepCorrect(ScoreSdeVe.defaults, ScoreSdeVe.empty, a, a, Prng.key(0)));
        Assert.Contains("setTimesteps", coreCorrect.Message);
        // Timesteps without sigmas (Flax: create() then set_timesteps only): the predictor needs set_sigmas.
        var onlyTimesteps = ScoreSdeVe.setTimesteps(ScoreSdeVe.defaults, 3, ScoreSdeVe.empty);
        var noSigmas = Assert.Throws<InvalidOperationException>(() => ScoreSdeVe.stepPred(onlyTimesteps, a, 0.5f, a, Prng.key(0)));
        Assert.Contains("setSigmas", noSigmas.Message);
    }

    [Fact]
    public void Shape_mismatch_between_model_output_and_sample_names_both_shapes()
    {
        using var scope = NewDisposeScope();
        var scheduler = new ScoreSdeVeScheduler();
        var sample = zeros(4, 3, 8, 8);
        var output = ones(4, 3, 8, 9);
        var pred = Assert.Throws<ArgumentException>(() => scheduler.StepPred(output, 0.5, sample, new Generator(0)));
        Assert.Contains("sample has shape [4,3,8,8] but model_output has [4,3,8,9]", pred.Message);
        var correct = Assert.Throws<ArgumentException>(() => scheduler.StepCorrect(output, sample, new Generator(0)));
        Assert.Contains("sample has shape [4,3,8,8] but model_output has [4,3,8,9]", correct.Message);

        var state = ScoreSdeVe.createState(ScoreSdeVe.defaults);
        var core = Assert.Throws<ArgumentException>(() =>
            ScoreSdeVe.stepPred(state, NdArrayModule.zeros(new[] { 4, 3, 8, 9 }), 0.5f, NdArrayModule.zeros(new[] { 4, 3, 8, 8 }), Prng.key(0)));
        Assert.Contains("sample has shape [4,3,8,8] but model_output has [4,3,8,9]", core.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-3)]
    public void Num_inference_steps_below_one_is_rejected(int n)
    {
        var scheduler = new ScoreSdeVeScheduler();
        Assert.Contains($"num_inference_steps is {n} but must be at least 1", Assert.Throws<ArgumentException>(() => scheduler.SetTimesteps(n)).Message);
        Assert.Contains($"num_inference_steps is {n} but must be at least 1", Assert.Throws<ArgumentException>(() => scheduler.SetSigmas(n)).Message);
        var pipeline = new ScoreSdeVePipeline((x, s) => x, scheduler);
        Assert.Throws<ArgumentOutOfRangeException>(() => pipeline.Call(new long[] { 1, 3, 4, 4 }, n, new Generator(0)));
        Assert.Throws<ArgumentException>(() => ScoreSdeVe.setTimesteps(ScoreSdeVe.defaults, n, ScoreSdeVe.empty));
        Assert.Throws<ArgumentException>(() => PredictorCorrector.run(ScoreSdeVe.defaults, FuncConvertModel(), new[] { 1, 2 }, n, Microsoft.FSharp.Core.FuncConvert.FromAction<StepProgress<ScoreSdeVeOutput<NdArray>>>(_ => { }), Prng.key(0)));
    }

    private static Microsoft.FSharp.Core.FSharpFunc<NdArray, Microsoft.FSharp.Core.FSharpFunc<NdArray, NdArray>> FuncConvertModel() =>
        Microsoft.FSharp.Core.FuncConvert.FromFunc<NdArray, NdArray, NdArray>((x, _) => x);

    [Theory]
    [InlineData(0.0, 1348.0)]
    [InlineData(-1.0, 1348.0)]
    [InlineData(1348.0, 1348.0)]
    [InlineData(2000.0, 1348.0)]
    public void Sigma_min_outside_zero_to_sigma_max_is_rejected_naming_the_key(double sigmaMin, double sigmaMax)
    {
        var ctor = Assert.Throws<ArgumentException>(() => new ScoreSdeVeScheduler(sigmaMin: sigmaMin, sigmaMax: sigmaMax));
        Assert.Equal("sigma_min", ctor.ParamName);
        Assert.Contains($"sigma_min is {sigmaMin:R} but must be > 0 and < sigma_max", ctor.Message);
        var scheduler = new ScoreSdeVeScheduler();
        var set = Assert.Throws<ArgumentException>(() => scheduler.SetSigmas(10, sigmaMin, sigmaMax));
        Assert.Equal("sigma_min", set.ParamName);
        Assert.Throws<ArgumentException>(() => ScoreSdeVe.validate(ScoreSdeVe.defaults is var d ? new ScoreSdeVeConfig(d.NumTrainTimesteps, d.Snr, sigmaMin, sigmaMax, d.SamplingEps, d.CorrectSteps) : d));
    }

    [Theory]
    [InlineData("num_train_timesteps", 0, 0.15, 1e-5, 1)]
    [InlineData("snr", 2000, 0.0, 1e-5, 1)]
    [InlineData("snr", 2000, double.NaN, 1e-5, 1)]
    [InlineData("sampling_eps", 2000, 0.15, 0.0, 1)]
    [InlineData("sampling_eps", 2000, 0.15, 1.0, 1)]
    [InlineData("correct_steps", 2000, 0.15, 1e-5, -1)]
    public void Other_invalid_config_values_name_their_key(string key, int numTrainTimesteps, double snr, double samplingEps, int correctSteps)
    {
        var e = Assert.Throws<ArgumentException>(() => new ScoreSdeVeScheduler(numTrainTimesteps, snr, 0.01, 1348.0, samplingEps, correctSteps));
        Assert.Equal(key, e.ParamName);
        Assert.StartsWith(key + " is ", e.Message);
    }

    [Fact]
    public void A_generator_on_another_device_than_the_sample_is_rejected()
    {
        using var scope = NewDisposeScope();
        var scheduler = new ScoreSdeVeScheduler();
        var x = ones(2, 3, 4, 4);
        var cuda = new Generator(0, new Device(DeviceType.CUDA));
        var pred = Assert.Throws<ArgumentException>(() => scheduler.StepPred(x, 0.5, x, cuda));
        Assert.Contains("generator is on device cuda", pred.Message);
        var correct = Assert.Throws<ArgumentException>(() => scheduler.StepCorrect(x, x, cuda));
        Assert.Contains("generator is on device cuda", correct.Message);
        var pipeline = new ScoreSdeVePipeline((s, _) => s, scheduler);
        Assert.Throws<ArgumentException>(() => pipeline.Call(new long[] { 1, 3, 4, 4 }, 2, cuda));
    }

    [Fact]
    public void A_zero_score_in_the_corrector_is_an_error_not_a_nan()
    {
        using var scope = NewDisposeScope();
        var scheduler = new ScoreSdeVeScheduler();
        var x = ones(2, 3, 4, 4);
        var e = Assert.Throws<ArgumentException>(() => scheduler.StepCorrect(zeros(2, 3, 4, 4), x, new Generator(0)));
        Assert.Contains("model_output has norm 0", e.Message);
    }

    [Fact]
    public void Non_float32_tensors_and_mixed_devices_are_rejected()
    {
        using var scope = NewDisposeScope();
        var scheduler = new ScoreSdeVeScheduler();
        var x = ones(2, 3, 4, 4);
        var e = Assert.Throws<ArgumentException>(() => scheduler.StepPred(x.to_type(ScalarType.Float64), 0.5, x, new Generator(0)));
        Assert.Contains("model_output has dtype Float64 but float32 is expected", e.Message);
        var meta = Assert.Throws<ArgumentException>(() => scheduler.StepPred(x.to(META), 0.5, x, new Generator(0)));
        Assert.Contains("model_output is on device meta but sample is on cpu", meta.Message);
    }

    [Fact]
    public void A_timestep_past_the_schedule_is_rejected()
    {
        using var scope = NewDisposeScope();
        var scheduler = new ScoreSdeVeScheduler();
        var x = ones(2, 3, 4, 4);
        Assert.Throws<ArgumentOutOfRangeException>(() => scheduler.StepPred(x, 1.5, x, new Generator(0)));
        Assert.Throws<ArgumentOutOfRangeException>(() => scheduler.StepPred(x, -0.1, x, new Generator(0)));
    }
}
