using System.Text;

namespace Schedulers.Hub;

/// <summary>
/// Where configs are fetched from and cached, as huggingface_hub reads it from the environment: <c>HF_ENDPOINT</c>
/// (default https://huggingface.co), <c>HF_TOKEN</c>, <c>HF_HUB_OFFLINE=1</c>, and the cache folder
/// <c>HF_HUB_CACHE</c>, else <c>HF_HOME/hub</c>, else <c>$XDG_CACHE_HOME/huggingface/hub</c>, else
/// <c>~/.cache/huggingface/hub</c>. Printing the settings (<see cref="object.ToString"/>) masks the token and any
/// password in the endpoint.
/// </summary>
public sealed record HubSettings(string Endpoint, string? Token, bool Offline, string CacheDirectory)
{
    /// <summary>The public Hub's address.</summary>
    public const string DefaultEndpoint = "https://huggingface.co";

    /// <summary>Settings from the process environment.</summary>
    public static HubSettings FromEnvironment() => FromVariables(Environment.GetEnvironmentVariable);

    /// <summary>Settings from any variable lookup (tests pass a dictionary).</summary>
    public static HubSettings FromVariables(Func<string, string?> variable)
    {
        ArgumentNullException.ThrowIfNull(variable);
        string? Get(string name) => string.IsNullOrWhiteSpace(variable(name)) ? null : variable(name);
        var endpoint = (Get("HF_ENDPOINT") ?? DefaultEndpoint).TrimEnd('/');
        var offline = Get("HF_HUB_OFFLINE") is { } o && (o == "1" || o.Equals("true", StringComparison.OrdinalIgnoreCase) || o.Equals("yes", StringComparison.OrdinalIgnoreCase) || o.Equals("on", StringComparison.OrdinalIgnoreCase));
        var cache = Get("HF_HUB_CACHE")
            ?? (Get("HF_HOME") is { } home ? Path.Combine(home, "hub")
            : Path.Combine(Get("XDG_CACHE_HOME") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "huggingface", "hub"));
        return new HubSettings(endpoint, Get("HF_TOKEN"), offline, cache);
    }

    // Records print every member; the token and the endpoint's user information must never reach a log.
    private bool PrintMembers(StringBuilder builder)
    {
        builder.Append("Endpoint = ").Append(HubEndpoint.Redact(Endpoint))
            .Append(", Token = ").Append(Token is null ? "null" : HubEndpoint.Mask)
            .Append(", Offline = ").Append(Offline)
            .Append(", CacheDirectory = ").Append(CacheDirectory);
        return true;
    }
}
