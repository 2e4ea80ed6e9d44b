using System.Net;

namespace Schedulers.Tests;

/// <summary>An HTTP handler that answers every request itself (nothing leaves the process) and records what it was
/// asked, so tests can prove a request was never sent.</summary>
internal sealed class RecordingHandler(Func<HttpRequestMessage, HttpResponseMessage>? answer = null) : HttpMessageHandler
{
    /// <summary>Every request received, in order.</summary>
    public List<HttpRequestMessage> Requests { get; } = new();

    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        lock (Requests) Requests.Add(request);
        return answer?.Invoke(request) ?? new HttpResponseMessage(HttpStatusCode.NotFound);
    }

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        Task.FromResult(Send(request, cancellationToken));
}
