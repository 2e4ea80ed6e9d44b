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
/// Every failure surfaces as a <see cref="SchedulerConfigException"/> that says what was asked and what came back.
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
        if (auth is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", auth);
        request.Headers.UserAgent.ParseAdd("schedulers-dotnet/" + ConfigFile.DiffusersVersion);
        return request;
    }

    /// <summary>
    /// The local path of <paramref name="pathInRepo"/> at <paramref name="revision"/>: from the cache when present
    /// (always when offline), else downloaded into the cache. The content must parse as a scheduler config before
    /// it is cached, so a truncated or corrupted download leaves the cache as it was.
    /// </summary>
    public string DownloadConfig(string repoId, string pathInRepo, string revision = "main")
    {
        HubCache.CheckRepoId(repoId);
        var cache = new HubCache(Settings.CacheDirectory);
        var cached = cache.TryGetFile(repoId, revision, pathInRepo);
        if (Settings.Offline)
        {
            return cached ?? throw new SchedulerConfigException(
                $"{pathInRepo} of '{repoId}' at revision '{revision}' is not in the cache {Settings.CacheDirectory} and HF_HUB_OFFLINE is set");
        }
        var url = $"{Settings.Endpoint}/{repoId}/resolve/{Uri.EscapeDataString(revision)}/{pathInRepo}";
        HttpResponseMessage response;
        try
        {
            using var request = Request(HttpMethod.Get, url, null);
            response = _http.Send(request);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            if (cached is not null) return cached; // Like huggingface_hub: an unreachable Hub falls back to the cache.
            throw new SchedulerConfigException($"cannot download {url}: {e.Message}", url, e);
        }
        using (response)
        {
            if (response.StatusCode == HttpStatusCode.NotFound)
                throw new SchedulerConfigException($"{url} does not exist (404): no {pathInRepo} in '{repoId}' at revision '{revision}'", url, new HttpRequestException("404"));
            if (!response.IsSuccessStatusCode)
                throw new SchedulerConfigException($"{url} answered {(int)response.StatusCode} {response.ReasonPhrase}", url, new HttpRequestException(response.ReasonPhrase));
            var content = response.Content.ReadAsByteArrayAsync().GetAwaiter().GetResult();
            if (response.Content.Headers.ContentLength is long declared && declared != content.Length)
                throw new SchedulerConfigException($"{url}: download ended after {content.Length} of {declared} bytes", url, new IOException("truncated"));
            try
            {
                ConfigFile.parse(Encoding.UTF8.GetString(content));
            }
            catch (SchedulerConfigException e)
            {
                throw new SchedulerConfigException($"{url} is not a valid scheduler config: {e.Message}", url, e);
            }
            var commit = response.Headers.TryGetValues("X-Repo-Commit", out var values) ? values.FirstOrDefault() : null;
            if (commit is null || !HubCache.IsCommitHash(commit))
                commit = HubCache.IsCommitHash(revision) ? revision : Convert.ToHexStringLower(System.Security.Cryptography.SHA1.HashData(content));
            return cache.Store(repoId, revision, commit, pathInRepo, content);
        }
    }

    /// <summary>Creates the repository if it does not exist yet (a 409 "already exists" is success).</summary>
    public void CreateRepo(string repoId, string? token = null, bool isPrivate = false)
    {
        HubCache.CheckRepoId(repoId);
        var parts = repoId.Split('/');
        var body = parts.Length == 2
            ? JsonSerializer.Serialize(new { name = parts[1], organization = parts[0], type = "model", @private = isPrivate })
            : JsonSerializer.Serialize(new { name = parts[0], type = "model", @private = isPrivate });
        using var request = Request(HttpMethod.Post, $"{Settings.Endpoint}/api/repos/create", token);
        request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        Send(request, allowConflict: true);
    }

    /// <summary>Commits one file to the repository's <paramref name="revision"/> with the given message.</summary>
    public void CommitFile(string repoId, string pathInRepo, byte[] content, string commitMessage, string? token = null, string revision = "main")
    {
        HubCache.CheckRepoId(repoId);
        var header = JsonSerializer.Serialize(new { key = "header", value = new { summary = commitMessage, description = "" } });
        var file = JsonSerializer.Serialize(new { key = "file", value = new { content = Convert.ToBase64String(content), path = pathInRepo, encoding = "base64" } });
        using var request = Request(HttpMethod.Post, $"{Settings.Endpoint}/api/models/{repoId}/commit/{Uri.EscapeDataString(revision)}", token);
        request.Content = new StringContent(header + "\n" + file + "\n", Encoding.UTF8, "application/x-ndjson");
        Send(request, allowConflict: false);
    }

    private void Send(HttpRequestMessage request, bool allowConflict)
    {
        var url = request.RequestUri!.ToString();
        if (Settings.Offline) throw new SchedulerConfigException($"cannot reach {url}: HF_HUB_OFFLINE is set");
        try
        {
            using var response = _http.Send(request);
            if (response.IsSuccessStatusCode || (allowConflict && response.StatusCode == HttpStatusCode.Conflict)) return;
            var text = response.Content.ReadAsStringAsync().GetAwaiter().GetResult();
            throw new SchedulerConfigException($"{request.Method} {url} answered {(int)response.StatusCode} {response.ReasonPhrase}: {text}", url, new HttpRequestException(response.ReasonPhrase));
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            throw new SchedulerConfigException($"cannot reach {url}: {e.Message}", url, e);
        }
    }
}
