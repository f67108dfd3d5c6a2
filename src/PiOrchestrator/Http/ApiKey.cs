using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace PiOrchestrator.Http;

/// <summary>
/// Who made a request to a protected endpoint: the holder of <c>Api:Key</c> (<see cref="Admin"/>), anyone when no key
/// is set (<see cref="Anonymous"/>), or a person holding a credential scoped to <see cref="Containers"/>.
/// </summary>
public sealed record ApiCaller(string Name, IReadOnlySet<string>? Containers = null)
{
    public static readonly ApiCaller Admin = new("admin");
    public static readonly ApiCaller Anonymous = new("anonymous");

    /// <summary>Null for the admin (and anonymous): every container.</summary>
    public bool MayUse(string containerId) => Containers is null || Containers.Contains(containerId);
}

/// <summary>
/// Credentials other than Api:Key (a technician's, from an invite), registered by the feature that issues them, so the
/// one check here knows them without knowing that feature.
/// </summary>
public interface IRequestCredentials
{
    /// <summary>The caller a presented credential names, or null when the request carries none that is good now.</summary>
    ApiCaller? Resolve(HttpContext context);
}

/// <summary>
/// Marks a protected endpoint that a scoped credential may call for its own containers; <paramref name="ContainerOf"/>
/// says which container a request acts on (null: none it may name, refused).
/// </summary>
public sealed record ContainerScopeMetadata(Func<HttpContext, string?> ContainerOf)
{
    /// <summary>The container is the route value <paramref name="name"/>.</summary>
    public static ContainerScopeMetadata Route(string name) => new(context => context.Request.RouteValues[name] as string);
}

/// <summary>
/// <c>Api:Key</c> and the scoped credentials, enforced for every endpoint marked <c>RequiresApiKey()</c> and only here:
/// the mark that documents an endpoint as protected is what protects it, so no endpoint can be one without the other.
/// A scoped credential is refused (403) on an endpoint without <see cref="ContainerScopeMetadata"/> and on a container
/// it does not cover. The caller is left on the request (<see cref="Caller"/>) for the audit.
/// </summary>
public static class ApiKey
{
    public static WebApplication UseApiKey(this WebApplication app)
    {
        var options = app.Services.GetRequiredService<IOptions<ApiOptions>>();
        // Resolved at the first request, not here: the credentials reach the store, and a store that cannot open must
        // stop the agent through the runner's configuration error (exit 78), not as an exception while the pipeline is built.
        IRequestCredentials? credentials = null;
        app.Use(next => context =>
        {
            var metadata = context.GetEndpoint()?.Metadata;
            if (metadata?.GetMetadata<BearerKeyMetadata>() is null) return next(context);
            credentials ??= context.RequestServices.GetService<IRequestCredentials>();
            if (Authenticate(context, options.Value.Key, credentials) is not { } caller)
                return ApiErrors.Unauthorized("this endpoint needs Authorization: Bearer <Api:Key> or a technician's credential that is still good")
                    .ExecuteAsync(context);
            if (caller.Containers is not null)
            {
                if (metadata.GetMetadata<ContainerScopeMetadata>() is not { } scope)
                    return ApiErrors.PermissionDenied("a technician's credential does not allow this; it needs Api:Key").ExecuteAsync(context);
                if (scope.ContainerOf(context) is not { } container || !caller.MayUse(container))
                    return ApiErrors.PermissionDenied("this credential does not cover this container").ExecuteAsync(context);
            }
            context.Features.Set(caller);
            return next(context);
        });
        return app;
    }

    /// <summary>The admin's key first, then a scoped credential; with no key set, anyone who presents none is anonymous.</summary>
    private static ApiCaller? Authenticate(HttpContext context, string? key, IRequestCredentials? credentials)
    {
        if (!string.IsNullOrEmpty(key) && Authorized(context, key)) return ApiCaller.Admin;
        if (credentials?.Resolve(context) is { } scoped) return scoped;
        return string.IsNullOrEmpty(key) ? ApiCaller.Anonymous : null;
    }

    /// <summary>Who made this request, as the check above found; anonymous on an endpoint it does not guard.</summary>
    public static ApiCaller Caller(this HttpContext context) => context.Features.Get<ApiCaller>() ?? ApiCaller.Anonymous;

    /// <summary>Constant-time comparison of the bearer token with Api:Key; no key configured means open.</summary>
    public static bool Authorized(HttpContext context, string? key)
    {
        if (string.IsNullOrEmpty(key)) return true;
        var header = context.Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.Ordinal)) return false;
        var given = SHA256.HashData(Encoding.UTF8.GetBytes(header["Bearer ".Length..]));
        var expected = SHA256.HashData(Encoding.UTF8.GetBytes(key));
        return CryptographicOperations.FixedTimeEquals(given, expected);
    }
}
