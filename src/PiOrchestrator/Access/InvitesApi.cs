using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using PiOrchestrator.Http;
using PiOrchestrator.Site;
using PiOrchestrator.Store;

namespace PiOrchestrator.Access;

/// <summary>
/// Invites for technicians: the admin mints one for a named person and some containers; the person joins with the
/// link's token and the one-time code and gets a credential for those containers until the invite expires or is revoked.
/// </summary>
public static class InvitesApi
{
    public const int MaxName = 100;
    public const int DefaultTtlMinutes = 10;
    public const int MaxTtlMinutes = 24 * 60;
    /// <summary>The code must be used within this of the mint, as on the platform; the credential lasts the invite's TTL.</summary>
    public static readonly TimeSpan CodeLifetime = TimeSpan.FromMinutes(10);
    public const int MaxAttempts = 5;
    public const string CodeHeader = "X-Join-OTP";
    private const int MaxBodyBytes = 8 * 1024;
    /// <summary>Invites that ended are kept this long for the list, then forgotten (their audit rows stay).</summary>
    private static readonly TimeSpan KeepEnded = TimeSpan.FromDays(1);

    public static IEndpointRouteBuilder MapAccessApi(this IEndpointRouteBuilder app)
    {
        var invites = app.MapGroup("/api/v1/invites").WithTags("Access");
        invites.MapPost("", Mint).WithName("MintInvite")
            .WithSummary("Mint an invite for a technician")
            .WithDescription($"For a named person (name: 1-{MaxName} letters, digits and . @ _ + ' -; not admin or anonymous) and some configured " +
                $"containers, for ttl_minutes (1-{MaxTtlMinutes}, default {DefaultTtlMinutes}). The answer holds join_url (with its single-use " +
                $"token, also as join_token) and the 6-digit otp_code, shown this once only: send them apart. The code is good until " +
                $"otp_expires_at (10 minutes, or the TTL if shorter); the credential a join gives lasts until expires_at. 409 " +
                "invite_limit_reached while Access:MaxInvites are kept.")
            .Accepts<MintInviteRequest>("application/json")
            .WithMetadata(new RequestSizeLimitAttribute(MaxBodyBytes))
            .RequiresApiKey()
            .ProducesEnvelope<InviteMintedDto>(StatusCodes.Status201Created)
            .ProducesErrors(400, 401, 403, 409, 413, 415);
        invites.MapGet("", List).WithName("ListInvites")
            .WithSummary("List the invites, newest first")
            .WithDescription("Every invite kept (live ones, and those that ended in the last day) with its status and who joined from " +
                "where; never a token or code.")
            .RequiresApiKey()
            .ProducesEnvelope<InviteListDto>()
            .ProducesErrors(401, 403);
        invites.MapDelete("/{inviteId}", Revoke).WithName("RevokeInvite")
            .WithSummary("Revoke an invite")
            .WithDescription("The invite can no longer be joined and the credential it gave stops working at once. Idempotent: a revoked " +
                "invite is returned unchanged.")
            .RequiresApiKey()
            .ProducesEnvelope<InviteDto>()
            .ProducesErrors(400, 401, 403, 404);
        app.MapPost("/api/v1/join/{token}", Join).WithName("JoinInvite").WithTags("Access")
            .WithSummary("Join with an invite's token and one-time code")
            .WithDescription($"The token from join_url and the 6-digit code in the {CodeHeader} header give a credential for the invite's " +
                $"containers until expires_at: access_token (Authorization: Bearer) and the same as the HttpOnly cookie " +
                $"{InviteCredentials.CookieName}. The token works once (then 410 invite_used). 401 otp_required without the header, " +
                $"401 otp_invalid for a wrong code (the message says how many attempts are left), 423 otp_locked after {MaxAttempts} wrong " +
                "codes, 410 invite_expired or invite_revoked, 404 for an unknown token, 429 past the join attempts allowed per address.")
            .ProducesEnvelope<JoinedDto>()
            .WithResponseHeader(200, "Set-Cookie", $"{InviteCredentials.CookieName}: the credential (HttpOnly, SameSite=Strict, Path=/).")
            .ProducesErrors(400, 401, 404, 410, 423, 429);
        return app;
    }

    public static Results<JsonHttpResult<ApiEnvelope<InviteMintedDto>>, ApiErrorResult> Mint(
        MintInviteRequest? body, HttpContext context, IOptions<SiteOptions> site, IOptions<AccessOptions> options, EvidenceStore store,
        InvitePepper pepper, TimeProvider time)
    {
        if (body is null) return ApiErrors.InvalidRequest("body", "a JSON body with name and containers is required");
        if (Validation.CheckPersonName(body.Name, "name", MaxName) is { } badName) return badName;
        if (string.Equals(body.Name, "admin", StringComparison.OrdinalIgnoreCase)
            || string.Equals(body.Name, "anonymous", StringComparison.OrdinalIgnoreCase))
            return ApiErrors.InvalidRequest("name", "name must be the person's own: admin and anonymous name others in the audit");
        if (CheckContainers(body.Containers, site.Value) is { } badContainers) return badContainers;
        var ttl = body.TtlMinutes ?? DefaultTtlMinutes;
        if (ttl is < 1 or > MaxTtlMinutes) return ApiErrors.InvalidRequest("ttl_minutes", $"ttl_minutes must be from 1 to {MaxTtlMinutes}");

        var now = time.GetUtcNow();
        var id = InviteSecrets.NewInviteId();
        var expires = now.AddMinutes(ttl);
        var invite = new InviteRecord(id, body.Name!, body.Containers!, now, expires, Min(now + CodeLifetime, expires), context.Caller().Name);
        var token = InviteSecrets.NewToken();
        var code = InviteSecrets.NewCode();
        var audit = new AuditEntry(now, context.Caller().Name, Address(context), AuditActions.InviteMinted, null, null,
            $"{id} for {invite.Name}: {string.Join(", ", invite.Containers)} until {expires.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}");
        if (!store.InsertInvite(invite, InviteSecrets.Hash(token), InviteSecrets.HashCode(pepper.Value, id, code), audit, options.Value.MaxInvites, now - KeepEnded))
            return ApiErrors.InviteLimitReached($"{options.Value.MaxInvites} invites are kept (Access:MaxInvites); revoke some or wait until they end");

        context.Response.Headers.CacheControl = "no-store";
        var joinUrl = $"{context.Request.Scheme}://{context.Request.Host}/join/{token}";
        var dto = new InviteMintedDto(id, invite.Name, invite.Containers, joinUrl, token, code, expires, invite.CodeExpiresAt, now);
        return TypedResults.Json(new ApiEnvelope<InviteMintedDto>(dto, now), AccessJsonContext.Default.ApiEnvelopeInviteMintedDto,
            statusCode: StatusCodes.Status201Created);
    }

    public static JsonHttpResult<ApiEnvelope<InviteListDto>> List(EvidenceStore store, TimeProvider time)
    {
        var now = time.GetUtcNow();
        var dto = new InviteListDto([.. store.ListInvites().Select(i => InviteDto.From(i, now, MaxAttempts))]);
        return Envelope.Ok(dto, AccessJsonContext.Default.ApiEnvelopeInviteListDto, time);
    }

    public static Results<JsonHttpResult<ApiEnvelope<InviteDto>>, ApiErrorResult> Revoke(string inviteId, HttpContext context, EvidenceStore store, TimeProvider time)
    {
        if (Validation.CheckId(inviteId, "invite_id") is { } invalid) return invalid;
        var now = time.GetUtcNow();
        var revoked = store.RevokeInvite(inviteId, now, invite =>
            new AuditEntry(now, context.Caller().Name, Address(context), AuditActions.InviteRevoked, null, null, $"{invite.InviteId} for {invite.Name}"));
        return revoked is null
            ? ApiErrors.NotFound($"invite {inviteId} not found")
            : Envelope.Ok(InviteDto.From(revoked, now, MaxAttempts), AccessJsonContext.Default.ApiEnvelopeInviteDto, time);
    }

    public static Results<JsonHttpResult<ApiEnvelope<JoinedDto>>, ApiErrorResult> Join(
        string token, [FromHeader(Name = CodeHeader)] string? otp, HttpContext context, EvidenceStore store, InvitePepper pepper,
        JoinRateLimiter limiter, TimeProvider time)
    {
        var client = ApiAccess.ClientAddress(context.Connection.RemoteIpAddress);
        if (!limiter.TryAcquire(client, out var retryAfter)) return ApiErrors.RateLimited(retryAfter);
        if (!InviteSecrets.IsWellFormed(token, InviteSecrets.TokenPrefix))
            return ApiErrors.InvalidRequest("token", "token is not one this agent issues: inv_ and 43 characters of [A-Za-z0-9_-]");
        if (string.IsNullOrEmpty(otp)) return ApiErrors.OtpRequired($"send the invite's 6-digit code in the {CodeHeader} header");
        if (!InviteSecrets.IsCode(otp)) return ApiErrors.InvalidRequest(CodeHeader, $"{CodeHeader} must be exactly {InviteSecrets.CodeDigits} digits");

        var now = time.GetUtcNow();
        var credential = InviteSecrets.NewCredential();
        var result = store.Join(InviteSecrets.Hash(token), (invite, stored) => InviteSecrets.SameHash(InviteSecrets.HashCode(pepper.Value, invite.InviteId, otp), stored),
            now, MaxAttempts, InviteSecrets.Hash(credential), client?.ToString(),
            invite => new AuditEntry(now, invite.Name, client?.ToString(), AuditActions.InviteJoined, null, null,
                $"{invite.InviteId}: {string.Join(", ", invite.Containers)}"));
        switch (result.Outcome)
        {
            case JoinOutcome.Joined:
                var invite = result.Invite!;
                context.Response.Headers.CacheControl = "no-store";
                context.Response.Cookies.Append(InviteCredentials.CookieName, credential, new CookieOptions
                {
                    HttpOnly = true, SameSite = SameSiteMode.Strict, Path = "/", Expires = invite.ExpiresAt, Secure = context.Request.IsHttps,
                });
                return Envelope.Ok(new JoinedDto(credential, "Bearer", invite.Name, invite.Containers, invite.ExpiresAt),
                    AccessJsonContext.Default.ApiEnvelopeJoinedDto, time);
            case JoinOutcome.CodeInvalid:
                return ApiErrors.OtpInvalid($"wrong code; {result.AttemptsLeft} attempt(s) left before the invite locks");
            case JoinOutcome.Locked:
                return ApiErrors.OtpLocked($"{MaxAttempts} wrong codes: this invite is locked; ask for a new one");
            case JoinOutcome.Used:
                return ApiErrors.InviteUsed("this invite was joined already; a link works once");
            case JoinOutcome.Expired:
                return ApiErrors.InviteExpired("this invite's code or the invite has expired; ask for a new one");
            case JoinOutcome.Revoked:
                return ApiErrors.InviteRevoked("this invite was revoked");
            default:
                return ApiErrors.NotFound("no such invite");
        }
    }

    private static ApiErrorResult? CheckContainers(IReadOnlyList<string>? containers, SiteOptions site)
    {
        if (containers is not { Count: > 0 } || containers.Count > site.Containers.Count)
            return ApiErrors.InvalidRequest("containers", $"containers must list 1 to {site.Containers.Count} configured container ids");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var id in containers)
        {
            if (Validation.CheckId(id, "containers") is { } invalid) return invalid;
            if (site.Find(id) is null) return ApiErrors.InvalidRequest("containers", $"container {id} is not configured");
            if (!seen.Add(id)) return ApiErrors.InvalidRequest("containers", $"container {id} is listed twice");
        }
        return null;
    }

    private static string? Address(HttpContext context) => ApiAccess.ClientAddress(context.Connection.RemoteIpAddress)?.ToString();

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;
}
