using Microsoft.FSharp.Core;
using Schedulers.Core;

namespace Schedulers.Tests;

/// <summary>The scheduler registry: one entry per scheduler, consistent with the schedulers' own objects and schemas.</summary>
public sealed class RegistryTests
{
    public static TheoryData<string> Names()
    {
        var data = new TheoryData<string>();
        foreach (var entry in Registry.all) data.Add(entry.Name);
        return data;
    }

    private static RegisteredScheduler Entry(string name) => Registry.tryFindName(name)!.Value;

    [Fact]
    public void Names_and_class_names_are_unique_and_found_both_ways()
    {
        var all = Registry.all.ToList();
        Assert.Equal(all.Count, all.Select(e => e.Name).Distinct().Count());
        Assert.Equal(all.Count, all.Select(e => e.ClassName).Distinct().Count());
        foreach (var e in all)
        {
            Assert.Equal(e.Name, Registry.tryFindClass(e.ClassName)!.Value.Name);
            Assert.True(Registry.isBuilt(e.ClassName));
        }
        Assert.False(Registry.isBuilt("HeunDiscreteScheduler"));
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void The_default_config_saves_again_byte_for_byte(string name)
    {
        var entry = Entry(name);
        var text = entry.DefaultText;
        Assert.Contains($"\"_class_name\": \"{entry.ClassName}\"", text);
        Assert.Equal(text, entry.Resave.Invoke(ConfigFile.parse(text)));
    }

    [Fact]
    public void Each_scheduler_object_names_its_registry_class()
    {
        Assert.Equal(Entry("sde-ve").ClassName, ScoreSdeVe.scheduler<NdArray>(ScoreSdeVe.defaults).ClassName);
        Assert.Equal(Entry("karras").ClassName, KarrasVe.scheduler<NdArray>(KarrasVe.defaults).ClassName);
        Assert.Equal(Entry("heun").ClassName, EdmHeun.scheduler<NdArray>(EdmHeun.defaults).ClassName);
        Assert.Equal(Entry("dpm").ClassName, DpmSolverMultistep.scheduler<NdArray>(DpmSolverConfig.Schema.Defaults).ClassName);
        Assert.Equal(Entry("dpm").ClassName, DpmSolverMultistepFlax.scheduler(DpmSolverConfig.Schema.Defaults).ClassName);
        Assert.Equal(Entry("ddim").ClassName, Ddim.scheduler<NdArray>(Ddim.defaults).ClassName);
        Assert.Equal(Entry("lms").ClassName, Lms.scheduler<NdArray>(Lms.defaults).ClassName);
    }

    [Fact]
    public void A_config_keeps_the_keys_of_other_classes_when_saved_again()
    {
        var dpm = ConfigFile.parse(Entry("dpm").DefaultText);
        var resaved = Entry("karras").Resave.Invoke(dpm);
        Assert.Contains("\"_class_name\": \"KarrasVeScheduler\"", resaved);
        Assert.Contains("\"algorithm_type\": \"dpmsolver++\"", resaved);
        Assert.Contains("\"s_churn\": 80", resaved);
    }

    [Fact]
    public void Compatibles_name_the_classes_that_exist_both_in_the_core_and_in_the_shell()
    {
        // The family's classes load each other's configs; the VE classes only their own.
        var family = Registry.all.Where(e => e.Compatibles.Contains("DDIMScheduler")).Select(e => e.Name).ToList();
        Assert.Equal(family, Registry.compatibles("DDIMScheduler").Select(e => e.Name));
        Assert.Contains("dpm", family);
        Assert.Contains("ddim", family);
        Assert.Equal(family.Count, DDIMScheduler.CompatibleClasses.Count);
        Assert.Contains(typeof(DPMSolverMultistepScheduler), DDIMScheduler.CompatibleClasses);
        Assert.Contains(typeof(DDIMScheduler), DPMSolverMultistepScheduler.CompatibleClasses);
        Assert.Equal(new[] { typeof(KarrasVeScheduler) }, KarrasVeScheduler.CompatibleClasses);
        // Every registry class has its shell class.
        foreach (var entry in Registry.all) Assert.NotNull(SchedulerClasses.Find(entry.ClassName));
    }

    [Fact]
    public void Flax_compatibles_are_the_six_flax_classes_all_built()
    {
        // diffusers' FlaxKarrasDiffusionSchedulers: each of the six loads the others' configs, and all six are built.
        var names = Registry.flaxCompatibles("FlaxEulerDiscreteScheduler").Select(e => Registry.flaxClassName(e)!.Value).ToList();
        Assert.Equal(DiffusersClasses.flaxKarrasDiffusionSchedulers.OrderBy(n => n), names.OrderBy(n => n));
        Assert.Equal(names, Registry.flaxCompatibles("FlaxDDPMScheduler").Select(e => Registry.flaxClassName(e)!.Value));
        // The VE Flax classes are not in the group; the EDM Heun class has no Flax flavour.
        Assert.Empty(Registry.flaxCompatibles("FlaxKarrasVeScheduler"));
        Assert.True(OptionModule.IsNone(Registry.flaxClassName(Registry.tryFindName("heun")!.Value)));
    }
}

