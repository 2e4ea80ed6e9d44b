using System.Text.RegularExpressions;
using Schedulers.Core;

namespace Schedulers.Hub;

/// <summary>
/// What the client accepts as <c>HF_ENDPOINT</c> and how it keeps credentials out of text: only absolute http(s)
/// addresses are endpoints, a bearer token travels over plain http only to a loopback address, and the
/// <c>user:password@</c> part of any address is masked before it reaches a message.
/// </summary>
internal static partial class HubEndpoint
{
    /// <summary>What replaces the user information of an address and the token in printed settings.</summary>
    public const string Mask = "***";

    [GeneratedRegex(@"(?<=://)[^/?#@\s]+@")]
    private static partial Regex UserInfo();

    /// <summary><paramref name="text"/> with the user information of every address in it masked.</summary>
    public static string Redact(string? text) => text is null ? "" : UserInfo().Replace(text, Mask + "@");

    /// <summary>The endpoint as an address; anything but an absolute http or https address without query or
    /// fragment is a <see cref="SchedulerConfigException"/> naming <c>HF_ENDPOINT</c>.</summary>
    public static Uri Parse(string endpoint)
    {
        // On Unix "/path" parses as an absolute file: address, so the scheme is checked, not just absoluteness.
        if (string.IsNullOrWhiteSpace(endpoint)
            || !Uri.TryCreate(endpoint, UriKind.Absolute, out var uri)
            || uri.Scheme is not ("http" or "https")
            || uri.Host.Length == 0
            || uri.Query.Length > 0
            || uri.Fragment.Length > 0)
        {
            throw new SchedulerConfigException(
                $"HF_ENDPOINT '{Redact(endpoint)}' is not an http or https address such as {HubSettings.DefaultEndpoint}", "HF_ENDPOINT");
        }
        return uri;
    }

    /// <summary>Refuses to send a token to <paramref name="endpoint"/> over plain http unless it is a loopback
    /// address: anyone on the path would read it.</summary>
    public static void CheckTokenTransport(Uri endpoint)
    {
        if (endpoint.Scheme == Uri.UriSchemeHttp && !endpoint.IsLoopback)
        {
            throw new SchedulerConfigException(
                $"refusing to send the Hub token (HF_TOKEN or the token argument) in clear over plain http to HF_ENDPOINT '{Redact(endpoint.GetLeftPart(UriPartial.Authority))}': use https (plain http is allowed only for loopback addresses)",
                "HF_ENDPOINT");
        }
    }
}
