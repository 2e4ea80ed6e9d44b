using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Schedulers.Tests;

/// <summary>A tiny Hugging Face Hub stand-in on 127.0.0.1 for tests: serves files per (repo, revision, path), and
/// records repository creations and commits. Nothing leaves the machine.</summary>
internal sealed class FakeHub : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Task _loop;

    /// <summary>Files served by GET /{repo}/resolve/{revision}/{path}: key "repo|revision|path".</summary>
    public Dictionary<string, (byte[] Content, string Commit)> Files { get; } = new();

    /// <summary>Every request seen: method, path, authorization header and body.</summary>
    public List<(string Method, string Path, string? Authorization, string Body)> Requests { get; } = new();

    /// <summary>Repositories that exist (create answers 409 for these).</summary>
    public HashSet<string> Repos { get; } = new();

    public string Endpoint { get; }

    public FakeHub()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        Endpoint = $"http://127.0.0.1:{port}";
        _listener.Prefixes.Add(Endpoint + "/");
        _listener.Start();
        _loop = Task.Run(Serve);
    }

    private async Task Serve()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try { context = await _listener.GetContextAsync(); }
            catch (Exception) { return; }
            var request = context.Request;
            var path = request.Url!.AbsolutePath;
            var body = new StreamReader(request.InputStream, Encoding.UTF8).ReadToEnd();
            lock (Requests) Requests.Add((request.HttpMethod, path, request.Headers["Authorization"], body));
            var response = context.Response;
            if (request.HttpMethod == "GET" && path.Contains("/resolve/"))
            {
                var idx = path.IndexOf("/resolve/", StringComparison.Ordinal);
                var repo = path[1..idx];
                var rest = path[(idx + "/resolve/".Length)..];
                var slash = rest.IndexOf('/');
                var key = $"{repo}|{Uri.UnescapeDataString(rest[..slash])}|{rest[(slash + 1)..]}";
                if (Files.TryGetValue(key, out var file))
                {
                    response.AddHeader("X-Repo-Commit", file.Commit);
                    response.OutputStream.Write(file.Content);
                }
                else response.StatusCode = 404;
            }
            else if (request.HttpMethod == "POST" && path == "/api/repos/create")
            {
                var repo = System.Text.Json.JsonDocument.Parse(body).RootElement;
                var id = repo.TryGetProperty("organization", out var org) ? $"{org.GetString()}/{repo.GetProperty("name").GetString()}" : repo.GetProperty("name").GetString()!;
                response.StatusCode = Repos.Add(id) ? 200 : 409;
            }
            else if (request.HttpMethod == "POST" && path.StartsWith("/api/models/") && path.Contains("/commit/"))
            {
                var repo = path["/api/models/".Length..path.IndexOf("/commit/", StringComparison.Ordinal)];
                response.StatusCode = Repos.Contains(repo) ? 200 : 404;
            }
            else response.StatusCode = 400;
            response.Close();
        }
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        try { _loop.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
    }
}
