using System.Text;
using Schedulers.Core;
using Schedulers.Hub;

namespace Schedulers.Tests;

/// <summary>Loading configs from folders, the Hugging Face cache and a (local, fake) Hub; pushing configs.</summary>
public sealed class HubTests : IDisposable
{
    private const string Commit = "0123456789abcdef0123456789abcdef01234567";
    private static readonly byte[] Config = Encoding.UTF8.GetBytes("{\n  \"_class_name\": \"KarrasVeScheduler\",\n  \"sigma_max\": 100\n}\n");
    private readonly DirectoryInfo _cache = Directory.CreateTempSubdirectory();
    private readonly FakeHub _hub = new();

    private HubSettings Settings(bool offline = false, string? token = null) => new(_hub.Endpoint, token, offline, _cache.FullName);

    public void Dispose()
    {
        _hub.Dispose();
        _cache.Delete(true);
    }

    [Fact]
    public void Settings_follow_the_huggingface_environment_variables()
    {
        var env = new Dictionary<string, string> { ["HF_ENDPOINT"] = "http://127.0.0.1:9/", ["HF_HOME"] = "/data/hf", ["HF_HUB_OFFLINE"] = "1", ["HF_TOKEN"] = "t" };
        var s = HubSettings.FromVariables(k => env.GetValueOrDefault(k));
        Assert.Equal(new HubSettings("http://127.0.0.1:9", "t", true, "/data/hf/hub"), s);
        env["HF_HUB_CACHE"] = "/cache";
        Assert.Equal("/cache", HubSettings.FromVariables(k => env.GetValueOrDefault(k)).CacheDirectory);
    }

    [Fact]
    public void A_download_lands_in_the_cache_layout_and_is_then_served_offline()
    {
        _hub.Files["org/model|main|scheduler/scheduler_config.json"] = (Config, Commit);
        var path = ConfigLocator.Locate("org/model", "scheduler", settings: Settings());
        Assert.Equal(Path.Combine(_cache.FullName, "models--org--model", "snapshots", Commit, "scheduler", "scheduler_config.json"), path);
        Assert.Equal(Config, File.ReadAllBytes(path));
        Assert.Equal(Commit, File.ReadAllText(Path.Combine(_cache.FullName, "models--org--model", "refs", "main")));

        _hub.Files.Clear();
        Assert.Equal(path, ConfigLocator.Locate("org/model", "scheduler", settings: Settings(offline: true)));
        Assert.Equal(path, ConfigLocator.Locate("org/model", "scheduler", revision: Commit, settings: Settings(offline: true)));
    }

    [Fact]
    public void Offline_without_a_cached_copy_is_a_clear_error()
    {
        var e = Assert.Throws<SchedulerConfigException>(() => ConfigLocator.Locate("org/missing", settings: Settings(offline: true)));
        Assert.Contains("HF_HUB_OFFLINE", e.Message);
        Assert.DoesNotContain(_hub.Requests, r => r.Method == "GET");
    }

    [Theory]
    [InlineData("{\"_class_name\": \"DDIM")]
    [InlineData("<html>rate limited</html>")]
    [InlineData("[1, 2, 3]")]
    public void A_corrupted_or_partial_download_is_rejected_and_the_cache_is_untouched(string body)
    {
        _hub.Files["org/model|main|scheduler_config.json"] = (Encoding.UTF8.GetBytes(body), Commit);
        var e = Assert.Throws<SchedulerConfigException>(() => ConfigLocator.Locate("org/model", settings: Settings()));
        Assert.Contains("not a valid scheduler config", e.Message);
        Assert.Empty(Directory.GetFileSystemEntries(_cache.FullName));
    }

    [Fact]
    public void A_missing_file_on_the_hub_names_the_url()
    {
        var e = Assert.Throws<SchedulerConfigException>(() => ConfigLocator.Locate("org/none", settings: Settings()));
        Assert.Contains("/org/none/resolve/main/scheduler_config.json", e.Message);
    }

    [Fact]
    public void Folders_and_subfolders_are_read_directly()
    {
        var dir = Directory.CreateTempSubdirectory();
        try
        {
            Directory.CreateDirectory(Path.Combine(dir.FullName, "scheduler"));
            File.WriteAllBytes(Path.Combine(dir.FullName, "scheduler", "scheduler_config.json"), Config);
            Assert.Equal(Path.Combine(dir.FullName, "scheduler", "scheduler_config.json"), ConfigLocator.Locate(dir.FullName, "scheduler"));
            var e = Assert.Throws<SchedulerConfigException>(() => ConfigLocator.Locate(dir.FullName));
            Assert.Contains("no file named scheduler_config.json", e.Message);
        }
        finally
        {
            dir.Delete(true);
        }
    }

    [Fact]
    public void Pushing_creates_the_repo_once_and_commits_the_file_with_the_token()
    {
        var client = new HubClient(Settings(token: "secret"));
        client.CreateRepo("me/sched");
        client.CreateRepo("me/sched"); // already exists: fine
        client.CommitFile("me/sched", "scheduler_config.json", Config, "Upload scheduler");
        var commit = Assert.Single(_hub.Requests, r => r.Path == "/api/models/me/sched/commit/main");
        Assert.Equal("Bearer secret", commit.Authorization);
        var lines = commit.Body.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("\"summary\":\"Upload scheduler\"", lines[0]);
        var file = System.Text.Json.JsonDocument.Parse(lines[1]).RootElement.GetProperty("value");
        Assert.Equal("scheduler_config.json", file.GetProperty("path").GetString());
        Assert.Equal(Config, Convert.FromBase64String(file.GetProperty("content").GetString()!));
    }

    [Fact]
    public void A_commit_to_a_repo_that_does_not_exist_fails_clearly()
    {
        var e = Assert.Throws<SchedulerConfigException>(() => new HubClient(Settings()).CommitFile("me/nothing", "scheduler_config.json", Config, "x"));
        Assert.Contains("404", e.Message);
    }

    [Fact]
    public void Bad_repo_ids_are_rejected_before_any_request()
    {
        Assert.Throws<SchedulerConfigException>(() => ConfigLocator.Locate("../../etc/passwd-like/../x", settings: Settings()));
        Assert.Empty(_hub.Requests);
    }
}
