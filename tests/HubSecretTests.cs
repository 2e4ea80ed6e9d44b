using System.Net;
using System.Text;
using Schedulers.Core;
using Schedulers.Hub;

namespace Schedulers.Tests;

/// <summary>The Hub token and an endpoint's password never appear in printed settings or messages; the token is
/// never sent in clear to a remote host; an endpoint that is not http(s) is a configuration error.</summary>
public sealed class HubSecretTests : IDisposable
{
    private static readonly byte[] Config = Encoding.UTF8.GetBytes("{\"_class_name\": \"KarrasVeScheduler\"}\n");
    private readonly DirectoryInfo _cache = Directory.CreateTempSubdirectory();

    public void Dispose() => _cache.Delete(true);

    private static HttpResponseMessage Ok(HttpRequestMessage _) => new(HttpStatusCode.OK) { Content = new ByteArrayContent(Config) };

    [Fact]
    public void Printed_settings_hide_the_token_and_the_endpoint_password()
    {
        var text = new HubSettings("https://user:hunter2@hub.example", "hf_secret_token", false, "/cache").ToString();
        Assert.DoesNotContain("hf_secret_token", text);
        Assert.DoesNotContain("hunter2", text);
        Assert.Contains("hub.example", text);
        Assert.Contains("/cache", text);
    }

    [Fact]
    public void Messages_hide_the_password_of_an_endpoint()
    {
        using var hub = new FakeHub();
        var endpoint = hub.Endpoint.Replace("http://", "http://user:hunter2@");
        var e = Assert.Throws<SchedulerConfigException>(() => ConfigLocator.Locate("org/none", settings: new HubSettings(endpoint, null, false, _cache.FullName)));
        Assert.Contains("404", e.Message);
        Assert.DoesNotContain("hunter2", e.Message);
        Assert.DoesNotContain("hunter2", e.Path ?? "");
        var push = Assert.Throws<SchedulerConfigException>(() => new HubClient(new HubSettings(endpoint, null, false, _cache.FullName)).CommitFile("me/none", "scheduler_config.json", Config, "x"));
        Assert.DoesNotContain("hunter2", push.Message);
    }

    [Fact]
    public void A_token_is_never_sent_over_plain_http_to_a_remote_host()
    {
        var handler = new RecordingHandler(Ok);
        var client = new HubClient(new HubSettings("http://hub.example", "hf_secret_token", false, _cache.FullName), new HttpClient(handler));
        var e = Assert.Throws<SchedulerConfigException>(() => client.DownloadConfig("org/model", "scheduler_config.json"));
        Assert.Contains("https", e.Message);
        Assert.Contains("HF_ENDPOINT", e.Message);
        Assert.DoesNotContain("hf_secret_token", e.Message);
        Assert.Throws<SchedulerConfigException>(() => client.CreateRepo("me/sched"));
        Assert.Empty(handler.Requests);
    }

    [Fact]
    public void Without_a_token_plain_http_and_https_are_both_usable()
    {
        var handler = new RecordingHandler(Ok);
        var client = new HubClient(new HubSettings("http://hub.example", null, false, _cache.FullName), new HttpClient(handler));
        Assert.True(File.Exists(client.DownloadConfig("org/model", "scheduler_config.json")));
        var secure = new HubClient(new HubSettings("https://hub.example", "hf_secret_token", false, _cache.FullName), new HttpClient(handler));
        secure.DownloadConfig("org/other", "scheduler_config.json");
        Assert.Equal("Bearer hf_secret_token", handler.Requests[^1].Headers.Authorization?.ToString());
    }

    [Theory]
    [InlineData("file:///tmp/hub")]
    [InlineData("ftp://hub.example")]
    [InlineData("hub.example")]
    [InlineData("/srv/hub")]
    [InlineData("https://hub.example/?q=1")]
    public void An_endpoint_that_is_not_http_or_https_is_a_config_error_naming_HF_ENDPOINT(string endpoint)
    {
        var handler = new RecordingHandler(Ok);
        var client = new HubClient(new HubSettings(endpoint, null, false, _cache.FullName), new HttpClient(handler));
        var e = Assert.Throws<SchedulerConfigException>(() => client.DownloadConfig("org/model", "scheduler_config.json"));
        Assert.Contains("HF_ENDPOINT", e.Message);
        Assert.Throws<SchedulerConfigException>(() => client.CreateRepo("me/sched"));
        Assert.Empty(handler.Requests);
    }
}
