using Schedulers.Cli;

namespace Schedulers.Tests;

/// <summary><c>schedulers merge</c> with a damaged or hand-edited part: one line naming the file and the field, exit
/// code 2, never an exception.</summary>
public sealed class MergePartTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("schedulers-merge-parts").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private const string Header = "# schedulers sample target=ring8 scheduler=dpm steps=3 nfe=3 samples=2 seed=0 first=0 count=2 shard=0/1 | DPM";

    [Theory]
    [InlineData("first=0", "first=abc", "first=abc")]
    [InlineData("samples=2", "samples=99999999999", "samples=99999999999")]
    [InlineData("count=2", "count=-1", "count=-1")]
    [InlineData("shard=0/1", "shard=0/x", "shard=x")]
    [InlineData("shard=0/1", "shard=0", "shard=0")]
    [InlineData("target=ring8", "target=ring9", "target=ring9")]
    [InlineData("nfe=3", "nfe=lots", "nfe=lots")]
    [InlineData(" first=0", "", "first=")]
    [InlineData("x0,x1", "x0,x1,x2", "header")]
    [InlineData("1,2\n", "1,2,3\n", "line 3")]
    [InlineData("1,2\n", "1,zz\n", "column x1")]
    [InlineData("1,2\n", "", "count=2")]
    public void A_malformed_part_names_the_file_and_the_field(string from, string to, string field)
    {
        var part = Path.Combine(_dir, "samples.part-0-of-1.csv");
        File.WriteAllText(part, (Header + "\nx0,x1\n1,2\n3,4\n").Replace(from, to));
        var error = new StringWriter();
        int code = MergeCommand.Invoke([part, "--out", Path.Combine(_dir, "out")], new StringWriter(), error);
        var line = error.ToString().TrimEnd();
        Assert.Equal(2, code);
        Assert.DoesNotContain('\n', line);
        Assert.StartsWith($"merge: {part}: ", line);
        Assert.Contains(field, line);
        Assert.DoesNotContain("--target", line);
    }

    [Fact]
    public void A_file_that_is_no_part_at_all_is_named()
    {
        var part = Path.Combine(_dir, "samples.part-0-of-1.csv");
        File.WriteAllText(part, "");
        var error = new StringWriter();
        Assert.Equal(2, MergeCommand.Invoke([part, "--out", Path.Combine(_dir, "out")], new StringWriter(), error));
        Assert.Contains(part, error.ToString());
    }
}
