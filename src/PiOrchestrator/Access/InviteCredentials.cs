using System.Collections.Frozen;
using PiOrchestrator.Http;
using PiOrchestrator.Store;

namespace PiOrchestrator.Access;

/// <summary>
/// A technician's credential, presented as <c>Authorization: Bearer tech_…</c> (scripts) or the <see cref="CookieName"/>
/// cookie (the status page): good while its invite is joined, not revoked and not expired. Read from the store on each
/// request, so a revoke stops it at once.
/// </summary>
public sealed class InviteCredentials(EvidenceStore store, TimeProvider time) : IRequestCredentials
{
    public const string CookieName = "pio_tech";

    public ApiCaller? Resolve(HttpContext context)
    {
        if (Presented(context.Request) is not { } credential) return null;
        if (store.FindInviteByCredential(InviteSecrets.Hash(credential)) is not { } invite) return null;
        if (time.GetUtcNow() >= invite.ExpiresAt) return null;
        return new ApiCaller(invite.Name, invite.Containers.ToFrozenSet(StringComparer.Ordinal));
    }

    private static string? Presented(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        if (header.StartsWith("Bearer ", StringComparison.Ordinal))
        {
            var token = header["Bearer ".Length..];
            return InviteSecrets.IsWellFormed(token, InviteSecrets.CredentialPrefix) ? token : null;
        }
        return request.Cookies[CookieName] is { } cookie && InviteSecrets.IsWellFormed(cookie, InviteSecrets.CredentialPrefix) ? cookie : null;
    }
}
