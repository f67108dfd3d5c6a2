using System.Net;
using Microsoft.Extensions.Options;
using PiOrchestrator.Http;

namespace PiOrchestrator.Access;

public static class AccessExtensions
{
    /// <summary>Invites for technicians, and the credential a join gives, known to the API key check through <see cref="IRequestCredentials"/>.</summary>
    public static IServiceCollection AddAccess(this IServiceCollection services)
    {
        services.AddApiJson(AccessJsonContext.Default);
        services.AddOptions<AccessOptions>().BindConfiguration("Access").ValidateOnStart();
        services.AddSingleton<IValidateOptions<AccessOptions>, AccessOptionsAnnotations>();
        services.AddSingleton<InvitePepper>();
        services.AddSingleton<IRequestCredentials, InviteCredentials>();
        services.AddSingleton(sp => new JoinRateLimiter(sp.GetRequiredService<IOptions<AccessOptions>>(), sp.GetRequiredService<TimeProvider>()));
        return services;
    }
}

/// <summary>
/// Join attempts per client address, far fewer than other requests: a code has a million values and the lock after five
/// wrong ones guards each invite, this guards the agent from anyone trying tokens. Requests without an address (an
/// in-process test server) share one bucket.
/// </summary>
public sealed class JoinRateLimiter(IOptions<AccessOptions> options, TimeProvider time)
{
    private readonly ClientRateLimiter _limiter = new(() => (options.Value.JoinAttemptsPerMinute / 60.0, options.Value.JoinBurst), time);

    public bool TryAcquire(IPAddress? client, out TimeSpan retryAfter) => _limiter.TryAcquire(client ?? IPAddress.None, out retryAfter);
}
