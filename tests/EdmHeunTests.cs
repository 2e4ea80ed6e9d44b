using Microsoft.FSharp.Core;
using Schedulers.Cli;
using Schedulers.Core;
using Schedulers.Evaluation;
using TorchSharp;
using static TorchSharp.torch;

namespace Schedulers.Tests;

/// <summary>The EDM Heun sampler from the command line (<c>sample --scheduler heun</c>, its config, <c>compare</c>'s
/// step count) and on torch tensors (the same core function as on NdArray, the same bits).</summary>
public sealed class EdmHeunTests
{
    private static TargetSampler Heun(params string[] config) =>
        SamplerConfigs.Build(SamplerConfigs.ParseKind("heun"), null, config, Targets.ring8);

    [Fact]
    public void SampleHeunRunsOnRing8AndLandsNearIt()
    {
        var dir = Path.Combine(Path.GetTempPath(), "schedulers-heun-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var output = new StringWriter();
            var error = new StringWriter();
            int code = SampleCommand.Invoke(["--scheduler", "heun", "--steps", "18", "--out", dir], output, error);
            Assert.True(code == 0, error.ToString());
            Assert.Contains("EDM Heun", output.ToString());
            Assert.Contains("18 steps (35 NFE)", output.ToString());
            var (_, points) = SampleFiles.ReadCsv(Path.Combine(dir, "samples.csv"));
            var at18 = Metrics.evaluate(SampleCommand.MetricsKey, Targets.ring8, points);
            Assert.Equal(0, at18.NonFiniteCount);
            Assert.Equal(8, at18.Coverage.ModesCovered);
            var at100 = Metrics.evaluate(SampleCommand.MetricsKey, Targets.ring8,
                SampleRun.Run(Heun(), Targets.ring8, 100, 0, 0, points.BatchSize, 256));
            Assert.True(at18.SlicedWasserstein2 <= 1.3 * at100.SlicedWasserstein2,
                $"SW2 at 18 steps {at18.SlicedWasserstein2} but at 100 steps {at100.SlicedWasserstein2}");
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void ConfigIsSizedToTheTargetAndOverridesWin()
    {
        var config = Assert.IsType<TargetSampler.EdmHeunSampler>(Heun()).heun;
        Assert.Equal(Math.Ceiling(SamplerConfigs.Diameter(Targets.ring8)), config.SigmaMax);
        Assert.Equal(EdmHeun.defaults.SigmaMin, config.SigmaMin);
        Assert.Equal(7.0, config.Rho);
        var custom = Assert.IsType<TargetSampler.EdmHeunSampler>(Heun("rho=3", "sigma_max=20")).heun;
        Assert.Equal((3.0, 20.0), (custom.Rho, custom.SigmaMax));
        var bad = Assert.Throws<UsageException>(() => Heun("rho=-1"));
        Assert.Contains("rho=-1", bad.Message);
        Assert.Contains("must be a finite number > 0", bad.Message);
        Assert.Contains("not a heun config key", Assert.Throws<UsageException>(() => Heun("s_churn=1")).Message);
    }

    [Fact]
    public void SigmaScheduleComesFromTheCommandLineOrAnEdmEulerConfigFile()
    {
        Assert.Equal(SigmaSchedule.Karras, Assert.IsType<TargetSampler.EdmHeunSampler>(Heun()).heun.SigmaSchedule);
        var exponential = Assert.IsType<TargetSampler.EdmHeunSampler>(Heun("sigma_schedule=exponential")).heun;
        Assert.Equal(SigmaSchedule.Exponential, exponential.SigmaSchedule);
        var bad = Assert.Throws<UsageException>(() => Heun("sigma_schedule=linear"));
        Assert.Contains("sigma_schedule is \"linear\" but must be one of \"karras\", \"exponential\"", bad.Message);
        var file = Path.Combine(Path.GetTempPath(), "schedulers-edm-" + Guid.NewGuid().ToString("N") + ".json");
        try
        {
            File.WriteAllText(file, "{\"_class_name\": \"EDMEulerScheduler\", \"sigma_schedule\": \"exponential\", \"sigma_data\": 0.5}");
            var sampler = SamplerConfigs.Build(SchedulerKind.Heun, file, [], Targets.ring8);
            Assert.Equal(SigmaSchedule.Exponential, Assert.IsType<TargetSampler.EdmHeunSampler>(sampler).heun.SigmaSchedule);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void CompareSpendsTwoEvaluationsPerStepButTheLast()
    {
        var heun = Heun();
        Assert.Equal(35, TargetSampling.nfe(heun, 18));
        Assert.Equal(18, CompareCommand.StepsFor(heun, 35));
        Assert.Equal(18, CompareCommand.StepsFor(heun, 36));
        Assert.Equal(1, CompareCommand.StepsFor(heun, 2));
    }

    [Fact]
    public void TorchTensorsGiveTheSameBitsAsNdArray()
    {
        var state = EdmHeun.setTimesteps(7, EdmHeun.createState(EdmHeunConfig.Schema.SetValue("sigma_max", 10.0, EdmHeunConfig.Schema.Defaults)));
        var x0 = NdArrayModule.scale(10f, NdArrayModule.create([3, 2], Prng.normal([3, 2], Prng.key(5))));
        var expected = EdmHeunSampling.runArray(FuncConvert.FromFunc((NdArray x, double sigma) => Targets.edmDenoiser(Targets.ring8, sigma, x)), state, x0);
        using var scope = NewDisposeScope();
        var t0 = tensor(x0.ToArray(), [3, 2]);
        var result = EdmHeunSampling.run(TorchBackend.Instance,
            FuncConvert.FromFunc((Tensor x, double sigma) =>
                tensor(Targets.edmDenoiser(Targets.ring8, sigma, NdArrayModule.create([3, 2], x.data<float>().ToArray())).ToArray(), [3, 2])),
            state, t0);
        Assert.Equal(expected.ToArray(), result.data<float>().ToArray());
    }

    [Fact]
    public void TheShellClassSamplesAsTheCoreLoopAndSavesItsConfig()
    {
        var config = EdmHeunConfig.Schema.SetValue("sigma_max", 10.0, EdmHeunConfig.Schema.Defaults);
        var state = EdmHeun.setTimesteps(7, EdmHeun.createState(config));
        var x0 = NdArrayModule.scale(10f, NdArrayModule.create([3, 2], Prng.normal([3, 2], Prng.key(5))));
        var expected = EdmHeunSampling.runArray(FuncConvert.FromFunc((NdArray x, double sigma) => Targets.edmDenoiser(Targets.ring8, sigma, x)), state, x0);
        Tensor Denoise(Tensor x, ModelQuery q) =>
            tensor(Targets.edmDenoiser(Targets.ring8, q.Sigma, NdArrayModule.create([3, 2], x.data<float>().ToArray())).ToArray(), [3, 2]);

        using var scope = NewDisposeScope();
        var scheduler = new EDMHeunScheduler(config);
        scheduler.SetTimesteps(7);
        Assert.Equal(10.0, scheduler.InitNoiseSigma);
        Assert.Equal(7, scheduler.Steps);
        Assert.Equal(13, scheduler.Evaluations(7));
        Assert.Equal(EdmHeun.sigmasOf(state), scheduler.Sigmas);
        var progress = new List<int>();
        var sampled = scheduler.Sample(tensor(x0.ToArray(), [3, 2]), Denoise, progress: p => progress.Add(p.Step));
        Assert.Equal(expected.ToArray(), sampled.data<float>().ToArray());
        Assert.Equal(Enumerable.Range(0, 7), progress);

        // Step by step, the same bits.
        var x = tensor(x0.ToArray(), [3, 2]);
        for (int i = 0; i < scheduler.Steps; i++) x = scheduler.Step(Denoise, i, x);
        Assert.Equal(expected.ToArray(), x.data<float>().ToArray());

        // The config half: the class name, a round trip, and an EDMEulerScheduler file read as diffusers would.
        var text = scheduler.ConfigText();
        Assert.Contains("\"_class_name\": \"EDMHeunScheduler\"", text);
        Assert.Equal(text, EDMHeunScheduler.FromConfig(ConfigFile.parse(text)).ConfigText());
        Assert.Contains("EDMEulerScheduler", EDMHeunScheduler.Compatibles);
        var euler = EDMHeunScheduler.FromConfig(ConfigFile.parse("{\"_class_name\": \"EDMEulerScheduler\", \"sigma_max\": 20.0, \"sigma_data\": 0.5}"));
        Assert.Equal(20.0, euler.Config.SigmaMax);
        Assert.Contains("\"sigma_data\": 0.5", euler.ConfigText());
    }
}
