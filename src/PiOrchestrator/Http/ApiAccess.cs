using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace PiOrchestrator.Http;

/// <summary>
/// Who may talk to the agent and how much: the network allow-list (403 on every endpoint), the host names served and
/// no cross-site changes (<see cref="RequestOrigin"/>), a per-address token
/// bucket (429 with Retry-After, <see cref="ClientRateLimiter"/>), and a cap on connections per address so one
/// client cannot use up the server.
/// </summary>
public static class ApiAccess
{
    public static IServiceCollection AddApiAccess(this IServiceCollection services)
    {
        services.AddSingleton<IValidateOptions<ApiOptions>, ApiOptionsValidator>();
        services.AddSingleton<ConnectionsPerClient>();
        services.AddSingleton(sp => new ClientRateLimiter(sp.GetRequiredService<IOptions<ApiOptions>>(), sp.GetRequiredService<TimeProvider>()));
        return services;
    }

    /// <summary>The allow-list runs first (cheapest refusal), then Host and Origin, the declared body size, the rate limit.</summary>
    public static WebApplication UseApiAccess(this WebApplication app)
    {
        // Lazily: options are validated (with a clear message and exit 78) when the agent starts, after this runs.
        var allowed = new Lazy<IPNetwork[]>(() => app.Services.GetRequiredService<IOptions<ApiOptions>>().Value.ParsedAllowedNetworks().ToArray());
        var origin = new Lazy<RequestOrigin>(() => new RequestOrigin(app.Services.GetRequiredService<IOptions<ApiOptions>>().Value.AllowedHosts));
        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("PiOrchestrator.Api.Access");
        // One line a minute for all refused addresses together: a scan from many addresses (IPv6 has plenty) costs
        // neither a table that grows nor a warning per request.
        var refusedLog = new Hosting.LogThrottle(app.Services.GetRequiredService<TimeProvider>(), TimeSpan.FromMinutes(1));
        var rate = app.Services.GetRequiredService<ClientRateLimiter>();
        app.Use((context, next) =>
        {
            var client = ClientAddress(context.Connection.RemoteIpAddress);
            // No address: an in-process test server, not a network client.
            if (client is not null && !Allowed(allowed.Value, client))
            {
                if (refusedLog.ShouldLog("refused", out var heldBack))
                    log.LogWarning("Refused {Client}: not in Api:AllowedNetworks ({HeldBack} more refused since the last such line)", client, heldBack);
                return ApiErrors.PermissionDenied("this address is not in the agent's allowed networks").ExecuteAsync(context);
            }
            if (!origin.Value.IsServedHost(context.Request))
                return ApiErrors.InvalidRequest("Host", "this host name is not served here: use the agent's address or a name in Api:AllowedHosts").ExecuteAsync(context);
            if (RequestOrigin.IsCrossSite(context.Request))
                return ApiErrors.PermissionDenied("cross-site requests may not change anything here").ExecuteAsync(context);
            if (!DeclaredBodyFits(context)) return TooLarge(context);
            if (client is null || rate.TryAcquire(client, out var retryAfter)) return next(context);
            return ApiErrors.RateLimited(retryAfter).ExecuteAsync(context);
        });
        return app;
    }

    // A plain loop: this runs on every request, a LINQ closure would allocate on each.
    private static bool Allowed(IPNetwork[] networks, IPAddress client)
    {
        foreach (var network in networks)
            if (network.Contains(client)) return true;
        return false;
    }

    // A declared length over the limit is refused before routing, so no endpoint needs to start reading it.
    private static bool DeclaredBodyFits(HttpContext context) =>
        context.Request.ContentLength is not { } length
        || context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize is not { } limit
        || length <= limit;

    private static Task TooLarge(HttpContext context)
    {
        // Kestrel would otherwise keep reading the unwanted body to reuse the connection.
        context.Response.Headers.Connection = "close";
        return ApiErrors.PayloadTooLarge("the request body is too large").ExecuteAsync(context);
    }

    /// <summary>Caps open connections per client address on every listener Kestrel has.</summary>
    public static void LimitConnectionsPerClient(ListenOptions listen, ConnectionsPerClient counter) =>
        listen.Use(next => async connection =>
        {
            var client = ClientAddress((connection.RemoteEndPoint as IPEndPoint)?.Address);
            if (client is null)
            {
                await next(connection);
                return;
            }
            if (!counter.TryEnter(client))
            {
                connection.Abort(new ConnectionAbortedException("too many connections from this client"));
                return;
            }
            try
            {
                await next(connection);
            }
            finally
            {
                counter.Exit(client);
            }
        });

    /// <summary>An IPv4 client on a dual-stack socket arrives as ::ffff:a.b.c.d; compare it as IPv4.</summary>
    public static IPAddress? ClientAddress(IPAddress? address) =>
        address is { IsIPv4MappedToIPv6: true } ? address.MapToIPv4() : address;

    private sealed class ApiOptionsValidator : IValidateOptions<ApiOptions>
    {
        public ValidateOptionsResult Validate(string? name, ApiOptions options)
        {
            var bad = (options.AllowedNetworks ?? []).Where(n => !ApiOptions.TryParseNetwork(n, out _)).ToList();
            return bad.Count == 0
                ? ValidateOptionsResult.Success
                : ValidateOptionsResult.Fail($"Api:AllowedNetworks: not a CIDR network or address: {string.Join(", ", bad.Select(b => $"'{b}'"))}");
        }
    }
}

/// <summary>Open connections per client address.</summary>
public sealed class ConnectionsPerClient(IOptions<ApiOptions> options, ILogger<ConnectionsPerClient> log)
{
    private readonly ConcurrentDictionary<IPAddress, int> _open = new();
    // Read at the first connection: this is built with Kestrel, before options are validated.
    private int Limit => options.Value.MaxConnectionsPerClient;
    private long _lastLoggedMs = long.MinValue / 2;

    public bool TryEnter(IPAddress client)
    {
        var count = _open.AddOrUpdate(client, 1, (_, n) => n + 1);
        if (count <= Limit) return true;
        Exit(client);
        // Monotonic milliseconds: a wall-clock step back must not silence this for the size of the step.
        var now = Environment.TickCount64;
        if (now - _lastLoggedMs > 60_000)
        {
            _lastLoggedMs = now;
            log.LogWarning("Closing connections from {Client}: more than {Limit} open (Api:MaxConnectionsPerClient)", client, Limit);
        }
        return false;
    }

    public void Exit(IPAddress client)
    {
        if (_open.AddOrUpdate(client, 0, (_, n) => n - 1) <= 0)
            _open.TryRemove(new KeyValuePair<IPAddress, int>(client, 0));
    }

    public int OpenFrom(IPAddress client) => _open.TryGetValue(client, out var n) ? n : 0;
}
