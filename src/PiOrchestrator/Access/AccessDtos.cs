using System.ComponentModel.DataAnnotations;
using PiOrchestrator.Store;

namespace PiOrchestrator.Access;

/// <summary>An invite to mint: who, which configured containers, for how long (default 10 minutes).</summary>
public sealed record MintInviteRequest(string? Name, IReadOnlyList<string>? Containers, int? TtlMinutes);

/// <summary>A minted invite, with its two secrets: shown in this answer only, never again.</summary>
public sealed record InviteMintedDto(
    string Id, string Name, IReadOnlyList<string> Containers, string JoinUrl, string JoinToken, string OtpCode, DateTimeOffset ExpiresAt,
    DateTimeOffset OtpExpiresAt, DateTimeOffset CreatedAt);

/// <summary>An invite as listed: no secrets.</summary>
public sealed record InviteDto(
    string Id, string Name, IReadOnlyList<string> Containers,
    [property: AllowedValues("pending", "joined", "locked", "expired", "revoked")] string Status,
    DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt, DateTimeOffset OtpExpiresAt, string CreatedBy, int FailedAttempts,
    DateTimeOffset? JoinedAt, string? JoinedAddress, DateTimeOffset? RevokedAt)
{
    public static InviteDto From(InviteRecord i, DateTimeOffset now, int maxAttempts) => new(
        i.InviteId, i.Name, i.Containers,
        i.RevokedAt is not null ? "revoked"
        : i.JoinedAt is not null ? (now >= i.ExpiresAt ? "expired" : "joined")
        : i.FailedAttempts >= maxAttempts ? "locked"
        : now >= i.ExpiresAt || now >= i.CodeExpiresAt ? "expired"
        : "pending",
        i.CreatedAt, i.ExpiresAt, i.CodeExpiresAt, i.CreatedBy, i.FailedAttempts, i.JoinedAt, i.JoinedAddress, i.RevokedAt);
}

public sealed record InviteListDto(IReadOnlyList<InviteDto> Invites);

/// <summary>What a join gives: a bearer credential for the invite's containers until it expires (also set as a cookie).</summary>
public sealed record JoinedDto(
    string AccessToken, [property: AllowedValues("Bearer")] string TokenType, string Name, IReadOnlyList<string> Containers, DateTimeOffset ExpiresAt);
