using System.ComponentModel.DataAnnotations;
using System.Net;
using Microsoft.Extensions.Options;

namespace PiOrchestrator.Http;

public sealed class ApiOptions
{
    /// <summary>
    /// When set, mutating endpoints need <c>Authorization: Bearer &lt;key&gt;</c>. Read-only evidence stays key-free.
    /// Prefer the systemd credential <c>api-key</c> (see README) to keeping it in a file under /etc.
    /// </summary>
    public string? Key { get; set; }

    /// <summary>Source networks (CIDR) allowed on any endpoint; others get 403. Unset: loopback and private ranges.</summary>
    public string[]? AllowedNetworks { get; set; }

    /// <summary>
    /// Host names the API answers to besides IP literals, localhost and this machine's name (and name.local);
    /// <c>*</c> answers any name (gives up the DNS-rebinding protection).
    /// </summary>
    public string[]? AllowedHosts { get; set; }

    /// <summary>Requests per second each client address may keep up; 0 turns the limit off.</summary>
    [Range(0, 1_000_000)]
    public int RateLimitPerSecond { get; set; } = 50;

    /// <summary>Requests a client may make at once above the steady rate (a dashboard's first page load).</summary>
    [Range(1, 1_000_000)]
    public int RateLimitBurst { get; set; } = 200;

    /// <summary>Open connections one client address may hold; more are closed at once.</summary>
    [Range(1, 100_000)]
    public int MaxConnectionsPerClient { get; set; } = 100;

    /// <summary>Time a client has to send its request headers (slow-client protection).</summary>
    [Range(1, 300)]
    public int RequestHeadersTimeoutSeconds { get; set; } = 10;

    /// <summary>Loopback, RFC 1918, link-local, and IPv6 unique-local and link-local.</summary>
    public static readonly string[] DefaultAllowedNetworks =
        ["127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "fc00::/7", "fe80::/10"];

    public IReadOnlyList<IPNetwork> ParsedAllowedNetworks() =>
        (AllowedNetworks ?? DefaultAllowedNetworks).Select(n => TryParseNetwork(n, out var network) ? network : throw new FormatException(n)).ToList();

    /// <summary>A CIDR, or a bare address meaning that one host.</summary>
    public static bool TryParseNetwork(string text, out IPNetwork network)
    {
        text = text.Trim();
        if (IPNetwork.TryParse(text, out network)) return true;
        if (IPAddress.TryParse(text, out var address))
        {
            network = new IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128);
            return true;
        }
        return false;
    }
}

/// <summary>The attribute checks of <see cref="ApiOptions"/>, generated at compile time (no reflection, safe to trim).</summary>
[OptionsValidator]
internal sealed partial class ApiOptionsAnnotations : IValidateOptions<ApiOptions>
{
}
