using System.Text;
using Schedulers.Core;
using Schedulers.Hub;

namespace Schedulers.Tests;

/// <summary>Subfolders, revisions and repository ids that would lead outside the Hugging Face cache are refused
/// before any request, and nothing is written outside the repository's cache folder.</summary>
public sealed class HubPathSafetyTests : IDisposable
{
    private const string Commit = "0123456789abcdef0123456789abcdef01234567";
    private static readonly byte[] Config = Encoding.UTF8.GetBytes("{\"_class_name\": \"KarrasVeScheduler\"}\n");
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory();
    private readonly FakeHub _hub = new();

    private string Cache => Path.Combine(_root.FullName, "cache");

    private HubSettings Settings(bool offline = false) => new(_hub.Endpoint, null, offline, Cache);

    public void Dispose()
    {
        _hub.Dispose();
        _root.Delete(true);
    }

    [Theory]
    [InlineData("../../../outside/x")]
    [InlineData("scheduler/../../../../outside/x")]
    [InlineData("/tmp/outside")]
    [InlineData("scheduler\\..\\..")]
    [InlineData("a//b")]
    [InlineData("sched\0uler")]
    public void A_subfolder_that_leaves_the_repository_is_refused_before_any_request(string subfolder)
    {
        _hub.Files[$"org/model|main|{subfolder}/scheduler_config.json"] = (Config, Commit);
        var e = Assert.Throws<SchedulerConfigException>(() => KarrasVeScheduler.FromPretrained("org/model", subfolder, hub: Settings()));
        Assert.Contains("subfolder", e.Message);
        Assert.Empty(_hub.Requests);
        Assert.False(Directory.Exists(Path.Combine(_root.FullName, "outside")));
    }

    [Theory]
    [InlineData("../../../outside/y")]
    [InlineData("refs/../../../../outside/y")]
    [InlineData("/tmp/outside-y")]
    [InlineData("main\\..\\..")]
    [InlineData("")]
    [InlineData("release//1")]
    [InlineData("ma\0in")]
    public void A_revision_that_is_not_a_branch_tag_or_commit_is_refused_before_any_request(string revision)
    {
        _hub.Files[$"org/model|{revision}|scheduler_config.json"] = (Config, Commit);
        var e = Assert.Throws<SchedulerConfigException>(() => KarrasVeScheduler.FromPretrained("org/model", revision: revision, hub: Settings()));
        Assert.Contains("revision", e.Message);
        Assert.Empty(_hub.Requests);
        Assert.False(Directory.Exists(Path.Combine(_root.FullName, "outside")));
        Assert.False(File.Exists("/tmp/outside-y"));
    }

    [Fact]
    public void A_revision_that_escapes_is_refused_for_cache_reads_too()
    {
        // A commit id planted outside the repository's folder must not be read as the ref of a revision.
        Directory.CreateDirectory(Path.Combine(Cache, "models--org--model", "snapshots", Commit));
        File.WriteAllBytes(Path.Combine(Cache, "models--org--model", "snapshots", Commit, "scheduler_config.json"), Config);
        File.WriteAllText(Path.Combine(Cache, "planted"), Commit);
        Assert.Throws<SchedulerConfigException>(() => ConfigLocator.Locate("org/model", revision: "../../planted", settings: Settings(offline: true)));
    }

    [Fact]
    public void Branch_names_with_slashes_and_safe_subfolders_still_download()
    {
        _hub.Files["org/model|refs/pr/1|sub/dir/scheduler_config.json"] = (Config, Commit);
        var path = ConfigLocator.Locate("org/model", "sub/dir/", "refs/pr/1", Settings());
        Assert.Equal(Path.Combine(Cache, "models--org--model", "snapshots", Commit, "sub", "dir", "scheduler_config.json"), path);
        Assert.Equal(Commit, File.ReadAllText(Path.Combine(Cache, "models--org--model", "refs", "refs", "pr", "1")));
    }

    [Theory]
    [InlineData("org/na--me")]
    [InlineData("org/-name")]
    [InlineData("org/name.")]
    [InlineData("a/b/c")]
    [InlineData("org/n%2e%2e")]
    public void Repository_ids_outside_the_hub_rules_are_refused(string repoId)
    {
        Assert.Throws<SchedulerConfigException>(() => ConfigLocator.Locate(repoId, settings: Settings()));
        Assert.Empty(_hub.Requests);
    }

    [Fact]
    public void The_cache_refuses_to_store_outside_the_repository_folder()
    {
        var cache = new HubCache(Cache);
        Assert.Throws<SchedulerConfigException>(() => cache.Store("org/model", "../../../outside", Commit, "scheduler_config.json", Config));
        Assert.Throws<SchedulerConfigException>(() => cache.Store("org/model", "main", Commit, "../../../outside/scheduler_config.json", Config));
        Assert.False(Directory.Exists(Path.Combine(_root.FullName, "outside")));
        Assert.False(Directory.Exists(Path.Combine(Cache, "models--org--model", "snapshots")));
    }
}
