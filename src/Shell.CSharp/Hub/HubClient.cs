using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Schedulers.Core;

namespace Schedulers.Hub;

/// <summary>
/// The few Hugging Face Hub endpoints a scheduler config needs, spoken over plain HTTP:
/// <c>GET {endpoint}/{repo}/resolve/{revision}/{path}</c> to download,
/// <c>POST {endpoint}/api/repos/create</c> to create a repository, and
/// <c>POST {endpoint}/api/models/{repo}/commit/{revision}</c> (NDJSON) to commit a file.
/// Every failure surfaces as a <see cref="SchedulerConfigException"/> that says what was asked and what came back
/// (an endpoint that is not an http or https address included, naming <c>HF_ENDPOINT</c>). Messages never hold the
/// token or the password of an endpoint's <c>user:password@</c>, and the token is sent over plain http only to a
/// loopback address.
/// </summary>
public sealed class HubClient(HubSettings settings, HttpClient? http = null)
{
    private readonly HttpClient _http = http ?? new HttpClient { Timeout = TimeSpan.FromSeconds(60) };

    /// <summary>The settings in use.</summary>
    public HubSettings Settings { get; } = settings ?? throw new ArgumentNullException(nameof(settings));

    private HttpRequestMessage Request(HttpMethod method, string url, string? token)
    {
        var request = new HttpRequestMessage(method, url);
        var auth = token ?? Settings.Token;
        if (auth is not null)
        {
            HubEndpoint.CheckTokenTransport(HubEndpoint.Parse(Settings.Endpoint));
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", auth);
        }
        request.Headers.UserAgent.ParseAdd("schedulers-dotnet/" + ConfigFile.DiffusersVersion);
        return request;
    }

    /// <summary>The endpoint (checked) followed by <paramref name="path"/>, whose parts the caller has escaped.</summary>
    private string Url(string path) => HubEndpoint.Parse(Settings.Endpoint).AbsoluteUri.TrimEnd('/') + "/" + path;

    /// <summary>A repository path for a URL: each segment escaped, so no segment can act as <c>..</c> or a query.</summary>
    private static string EscapePath(string pathInRepo) => string.Join('/', pathInRepo.Split('/').Select(Uri.EscapeDataString));

    /// <summary>
    /// The local path of <paramref name="pathInRepo"/> at <paramref name="revision"/>: from the cache when present
    /// (always when offline), else downloaded into the cache. The repository id, revision and path are checked
    /// (<see cref="HubPaths"/>) before any request. The download streams to a temporary file and stops with a
    /// <see cref="SchedulerConfigException"/> once it passes <see cref="ConfigFile.MaxBytes"/>; the content must
    /// parse as a scheduler config before it is cached, so a truncated, oversized or corrupted download leaves the
    /// cache as it was.
    /// </summary>
    public string DownloadConfig(string repoId, string pathInRepo, string revision = "main")
    {
        HubPaths.CheckRepoId(repoId);
        HubPaths.CheckRevision(revision);
        HubPaths.CheckPathInRepo(pathInRepo);
        var cache = new HubCache(Settings.CacheDirectory);
        var cached = cache.TryGetFile(repoId, revision, pathInRepo);
        if (Settings.Offline)
        {
            return cached ?? throw new SchedulerConfigException(
                $"{pathInRepo} of '{repoId}' at revision '{revision}' is not in the cache {Settings.CacheDirectory} and HF_HUB_OFFLINE is set");
        }
        var url = Url($"{repoId}/resolve/{Uri.EscapeDataString(revision)}/{EscapePath(pathInRepo)}");
        var shown = HubEndpoint.Redact(url);
        HttpResponseMessage response;
        try
        {
            using var request = Request(HttpMethod.Get, url, null);
            response = _http.Send(request, HttpCompletionOption.ResponseHeadersRead);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            if (cached is not null) return cached; // Like huggingface_hub: an unreachable Hub falls back to the cache.
            throw new SchedulerConfigException($"cannot download {shown}: {HubEndpoint.Redact(e.Message)}", shown, e);
        }
        using (response)
        {
            if (response.StatusCode == HttpStatusCode.NotFound)
                throw new SchedulerConfigException($"{shown} does not exist (404): no {pathInRepo} in '{repoId}' at revision '{revision}'", shown, new HttpRequestException("404"));
            if (!response.IsSuccessStatusCode)
                throw new SchedulerConfigException($"{shown} answered {(int)response.StatusCode} {response.ReasonPhrase}", shown, new HttpRequestException(response.ReasonPhrase));
            var temp = Path.Combine(Path.GetTempPath(), "schedulers-" + Guid.NewGuid().ToString("N") + ".download");
            try
            {
                var length = ConfigDownload.ToFile(response, temp, shown);
                if (response.Content.Headers.ContentLength is long declared && declared != length)
                    throw new SchedulerConfigException($"{shown}: download ended after {length} of {declared} bytes", shown, new IOException("truncated"));
                try
                {
                    ConfigFile.parse(SchedulerConfigs.ReadBoundedText(temp));
                }
                catch (SchedulerConfigException e)
                {
                    throw new SchedulerConfigException($"{shown} is not a valid scheduler config: {e.Message}", shown, e);
                }
                var commit = response.Headers.TryGetValues("X-Repo-Commit", out var values) ? values.FirstOrDefault() : null;
                if (commit is null || !HubPaths.IsCommitHash(commit))
                    commit = HubPaths.IsCommitHash(revision) ? revision : ConfigDownload.Sha1(temp);
                return cache.StoreFile(repoId, revision, commit, pathInRepo, temp);
            }
            finally
            {
                File.Delete(temp);
            }
        }
    }

    /// <summary>Creates the repository if it does not exist yet (a 409 "already exists" is success).</summary>
    public void CreateRepo(string repoId, string? token = null, bool isPrivate = false)
    {
        HubPaths.CheckRepoId(repoId);
        var parts = repoId.Split('/');
        var body = parts.Length == 2
            ? JsonSerializer.Serialize(new { name = parts[1], organization = parts[0], type = "model", @private = isPrivate })
            : JsonSerializer.Serialize(new { name = parts[0], type = "model", @private = isPrivate });
        using var request = Request(HttpMethod.Post, Url("api/repos/create"), token);
        request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        Send(request, allowConflict: true);
    }

    /// <summary>Commits one file to the repository's <paramref name="revision"/> with the given message.</summary>
    public void CommitFile(string repoId, string pathInRepo, byte[] content, string commitMessage, string? token = null, string revision = "main")
    {
        HubPaths.CheckRepoId(repoId);
        HubPaths.CheckPathInRepo(pathInRepo);
        HubPaths.CheckRevision(revision);
        var header = JsonSerializer.Serialize(new { key = "header", value = new { summary = commitMessage, description = "" } });
        var file = JsonSerializer.Serialize(new { key = "file", value = new { content = Convert.ToBase64String(content), path = pathInRepo, encoding = "base64" } });
        using var request = Request(HttpMethod.Post, Url($"api/models/{repoId}/commit/{Uri.EscapeDataString(revision)}"), token);
        request.Content = new StringContent(header + "\n" + file + "\n", Encoding.UTF8, "application/x-ndjson");
        Send(request, allowConflict: false);
    }

    private void Send(HttpRequestMessage request, bool allowConflict)
    {
        var shown = HubEndpoint.Redact(request.RequestUri!.ToString());
        if (Settings.Offline) throw new SchedulerConfigException($"cannot reach {shown}: HF_HUB_OFFLINE is set");
        try
        {
            using var response = _http.Send(request);
            if (response.IsSuccessStatusCode || (allowConflict && response.StatusCode == HttpStatusCode.Conflict)) return;
            var text = ConfigDownload.Excerpt(response);
            throw new SchedulerConfigException($"{request.Method} {shown} answered {(int)response.StatusCode} {response.ReasonPhrase}: {HubEndpoint.Redact(text)}", shown, new HttpRequestException(response.ReasonPhrase));
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            throw new SchedulerConfigException($"cannot reach {shown}: {HubEndpoint.Redact(e.Message)}", shown, e);
        }
    }
}
