using Schedulers.Cli;
using Schedulers.Core;
using Schedulers.Evaluation;

namespace Schedulers.Tests;

/// <summary><c>schedulers compare</c>: NFE budgets become step counts per scheduler, the grid writes its three
/// files, and the flattening point follows its definition.</summary>
public sealed class CompareCommandTests
{
    [Fact]
    public void BudgetsBecomeTheLargestStepCountThatFits()
    {
        var dpm = SamplerConfigs.Build(SchedulerKind.Dpm, null, [], Targets.ring8);
        var karras = SamplerConfigs.Build(SchedulerKind.Karras, null, [], Targets.ring8);
        var sde = SamplerConfigs.Build(SchedulerKind.SdeVe, null, ["correct_steps=2"], Targets.ring8);
        Assert.Equal(20, CompareCommand.StepsFor(dpm, 20));
        Assert.Equal(10, CompareCommand.StepsFor(karras, 20)); // 2·10 − 1 = 19 ≤ 20 < 21
        Assert.Equal(6, CompareCommand.StepsFor(sde, 20));     // 3 per step
        Assert.Equal(1, CompareCommand.StepsFor(sde, 1));
    }

    [Fact]
    public void GridWritesMarkdownCsvAndPng()
    {
        var dir = Path.Combine(Path.GetTempPath(), "schedulers-compare-" + Guid.NewGuid().ToString("N"));
        try
        {
            var output = new StringWriter();
            var root = new System.CommandLine.RootCommand { CompareCommand.Create(output, new StringWriter()) };
            int code = root.Parse(["compare", "--schedulers", "dpm,karras", "--nfe", "3,9", "--samples", "200", "--target", "line1d", "--out", dir, "-q"]).Invoke();
            Assert.Equal(0, code);
            var csv = File.ReadAllLines(Path.Combine(dir, "compare.csv"));
            Assert.Equal(5, csv.Length); // header + 2 schedulers × 2 budgets
            Assert.StartsWith("\"dpm\",", csv[1]);
            Assert.Contains("| NFE |", File.ReadAllText(Path.Combine(dir, "compare.md")));
            Assert.Contains("| 9 |", output.ToString());
            Assert.Equal(0x89, File.ReadAllBytes(Path.Combine(dir, "compare.png"))[0]);
            var error = new StringWriter();
            var bad = new System.CommandLine.RootCommand { CompareCommand.Create(new StringWriter(), error) };
            Assert.Equal(2, bad.Parse(["compare", "--nfe", "5,x"]).Invoke());
            Assert.Contains("--nfe", error.ToString());
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void CurvesFlattenWhereTheyStayNearTheirBestAndTheTarget()
    {
        QualityReport Report(double sw2, double logp) => new(
            "ring8", 100, 0, 100, 8, sw2, 0.0, new ModeCoverage([1], [1.0], [1.0], 0.0, 8), logp, -2.0);
        var rows = new List<CompareCommand.Row>
        {
            new("dpm", "d", 5, 5, Report(0.50, -3.0), 0),
            new("dpm", "d", 10, 10, Report(0.21, -2.03), 0),
            new("dpm", "d", 20, 20, Report(0.35, -2.0), 0),   // SW2 above 1.5 × the floor: not flat yet
            new("dpm", "d", 50, 50, Report(0.20, -2.02), 0),
            new("dpm", "d", 100, 100, Report(0.25, -1.96), 0),
        };
        Assert.Equal(50, CompareCommand.FlattensAt(rows, 0.2));
        rows.Add(new("dpm", "d", 200, 200, Report(0.2, -2.5), 0));
        Assert.Null(CompareCommand.FlattensAt(rows, 0.2));
    }
}
