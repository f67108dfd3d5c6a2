using System.Globalization;
using Microsoft.AspNetCore.Http.HttpResults;
using PiOrchestrator.Http;
using PiOrchestrator.Store;

namespace PiOrchestrator.Evidence;

/// <summary>
/// One write a person made through the API: who (admin: the holder of Api:Key, or an invited technician's name), from
/// which address, what, on what; an invite's rows name no container or session.
/// </summary>
public sealed record AuditEventDto(
    long Id, DateTimeOffset At, string Actor, string? Address,
    [property: System.ComponentModel.DataAnnotations.AllowedValues(AuditActions.Capture, AuditActions.SessionOpen, AuditActions.SessionEnd,
        AuditActions.InviteMinted, AuditActions.InviteJoined, AuditActions.InviteRevoked)] string Action,
    string? ContainerId, string? SessionId, string? Detail);

public sealed record AuditListDto(IReadOnlyList<AuditEventDto> Events, bool HasMore, string? NextCursor);

/// <summary>The audit trail for the site's admin: who took test captures, opened and ended sessions.</summary>
public static class AuditApi
{
    public const int DefaultLimit = 25;
    public const int MaxLimit = 100;
    private const string CursorList = "audit";

    /// <summary>Part of the evidence API (<see cref="EvidenceApi.MapEvidenceApi"/>).</summary>
    internal static void MapAudit(this RouteGroupBuilder api) =>
        api.MapGet("/audit", ListAudit).WithName("ListAudit").WithTags("Audit")
            .WithSummary("List the audit trail, newest first")
            .WithDescription("Every write a person made through the API (a test capture, a session opened or ended, an invite minted, " +
                "joined or revoked): who (admin, or the invited technician's name), when, from which address, what and on which container " +
                "and session (null for an invite's rows); detail is what they gave (the opener's name, an end's reason) or the invite and " +
                $"its containers. One page (limit 1-{MaxLimit}, default {DefaultLimit}), optionally of one container_id, one session_id and one " +
                $"action ({string.Join(", ", AuditActions.All)}). When has_more is true, pass next_cursor as cursor for the next page. " +
                "Rows go with their session when retention removes it.")
            .WithQueryParameter("container_id", "Only rows about this container.")
            .WithQueryParameter("session_id", "Only rows about this session.")
            .WithQueryParameter("action", "Only rows of this action.", AuditActions.All)
            .WithQueryParameter("limit", $"Page size, 1-{MaxLimit}; default {DefaultLimit}.")
            .WithQueryParameter("cursor", "next_cursor of the previous page (opaque).")
            .RequiresApiKey()
            .ProducesEnvelope<AuditListDto>()
            .ProducesErrors(400, 401);

    public static Results<JsonHttpResult<ApiEnvelope<AuditListDto>>, ApiErrorResult> ListAudit(
        string? container_id, string? session_id, string? action, string? limit, string? cursor, EvidenceStore store, TimeProvider time)
    {
        if (container_id is not null && Validation.CheckId(container_id, "container_id") is { } badContainer) return badContainer;
        if (session_id is not null && Validation.CheckId(session_id, "session_id") is { } badSession) return badSession;
        if (action is not null && !AuditActions.All.Contains(action, StringComparer.Ordinal))
            return ApiErrors.InvalidRequest("action", $"action must be one of {string.Join(", ", AuditActions.All)}");
        if (PageCursor.ParseLimit(limit, DefaultLimit, MaxLimit, out var pageSize) is { } badLimit) return badLimit;
        long? before = null;
        if (cursor is not null)
        {
            if (DecodeCursor(cursor) is not { } decoded) return ApiErrors.InvalidRequest("cursor", "cursor is not one this agent issued");
            before = decoded;
        }
        var page = store.ListAuditPage(container_id, session_id, action, before, pageSize);
        var dto = new AuditListDto([.. page.Entries.Select(ToDto)], page.HasMore, page.NextBeforeId is { } next ? EncodeCursor(next) : null);
        return Envelope.Ok(dto, EvidenceJsonContext.Default.ApiEnvelopeAuditListDto, time);
    }

    public static AuditEventDto ToDto(AuditEntry e) => new(e.Id, e.At, e.Actor, e.Address, e.Action, e.ContainerId, e.SessionId, e.Detail);

    public static string EncodeCursor(long beforeId) => PageCursor.Encode(CursorList, beforeId.ToString(CultureInfo.InvariantCulture));

    public static long? DecodeCursor(string cursor) =>
        PageCursor.Decode(cursor, CursorList, 1) is [var field]
        && long.TryParse(field, NumberStyles.None, CultureInfo.InvariantCulture, out var id) && id > 0
            ? id
            : null;
}
