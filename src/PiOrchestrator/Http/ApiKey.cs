using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace PiOrchestrator.Http;

/// <summary>
/// <c>Api:Key</c>, enforced for every endpoint marked <c>RequiresApiKey()</c> and only here: the
/// mark that documents an endpoint as protected is what protects it, so no endpoint can be one without the other.
/// </summary>
public static class ApiKey
{
    public static WebApplication UseApiKey(this WebApplication app)
    {
        var options = app.Services.GetRequiredService<IOptions<ApiOptions>>();
        app.Use(next => context =>
            context.GetEndpoint()?.Metadata.GetMetadata<BearerKeyMetadata>() is not null && !Authorized(context, options.Value.Key)
                ? ApiErrors.Unauthorized("this endpoint needs Authorization: Bearer <Api:Key>").ExecuteAsync(context)
                : next(context));
        return app;
    }

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
