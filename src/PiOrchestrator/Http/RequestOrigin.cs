using System.Collections.Frozen;

namespace PiOrchestrator.Http;

/// <summary>
/// What a browser on the LAN could be tricked into: a page whose name rebinds to the Pi's address reads the API under
/// its own host name (DNS rebinding), and any page can send a form POST to it (cross-site request forgery). The
/// address allow-list sees only the browser's LAN address, so the Host and Origin of each request are checked too.
/// </summary>
public sealed class RequestOrigin
{
    private readonly FrozenSet<string> _hosts;
    private readonly bool _anyHost;

    public RequestOrigin(IEnumerable<string>? configuredHosts)
    {
        var configured = (configuredHosts ?? []).Select(h => h.Trim().TrimEnd('.')).Where(h => h.Length > 0).ToList();
        _anyHost = configured.Contains("*");
        var machine = Environment.MachineName;
        _hosts = configured.Concat(["localhost", machine, machine + ".local"]).ToFrozenSet(StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>
    /// IP literals (how a dashboard on the LAN reaches the Pi), localhost, this machine's name and name.local (mDNS),
    /// and the names of Api:AllowedHosts. A name a browser resolved elsewhere is refused: no rebinding reads.
    /// </summary>
    public bool IsServedHost(HttpRequest request)
    {
        if (_anyHost) return true;
        var host = request.Host.Host;
        // No Host (HTTP/1.0): no browser sends that. A bracket is an IPv6 literal; digits and dots only, an IPv4 one
        // (a browser takes an all-numeric name as an address, so no DNS name of an attacker looks like this).
        if (host.Length == 0 || host[0] == '[' || IsIPv4Literal(host)) return true;
        return _hosts.Contains(host.EndsWith('.') ? host[..^1] : host);
    }

    /// <summary>
    /// True for a state-changing request a browser sent on behalf of another site: <c>Sec-Fetch-Site</c> other than
    /// same-origin/none, or an <c>Origin</c> that is not this request's own scheme and host. Tools and dashboards
    /// calling from a server send neither header and are not affected.
    /// </summary>
    public static bool IsCrossSite(HttpRequest request)
    {
        if (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method) || HttpMethods.IsOptions(request.Method)) return false;
        var fetchSite = request.Headers["Sec-Fetch-Site"].ToString();
        if (fetchSite.Length > 0 && fetchSite is not ("same-origin" or "none")) return true;
        var origin = request.Headers.Origin.ToString();
        if (origin.Length == 0) return false;
        return !Uri.TryCreate(origin, UriKind.Absolute, out var uri)
            || !string.Equals(uri.Scheme, request.Scheme, StringComparison.OrdinalIgnoreCase)
            || !string.Equals(uri.Authority, request.Host.Value, StringComparison.OrdinalIgnoreCase);
    }

    private static bool IsIPv4Literal(string host)
    {
        foreach (var c in host)
            if (c is not (>= '0' and <= '9' or '.')) return false;
        return true;
    }
}
