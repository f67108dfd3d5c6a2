using System.Buffers.Text;
using System.Text;
using Microsoft.AspNetCore.Http.HttpResults;
using PiOrchestrator.Http;
using PiOrchestrator.Store;

namespace PiOrchestrator.Sessions;

public static partial class SessionsApi
{
    public const int DefaultLimit = 25;
    public const int MaxLimit = 100;

    public static IEndpointRouteBuilder MapSessionsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/sessions").WithTags("Sessions");
        api.MapGet("/", ListSessions).WithName("ListSessions")
            .WithSummary("List door sessions, newest first")
            .WithDescription("One page of sessions (limit 1-100, default 25), optionally of one container_id and one status " +
                "(in_progress or complete). When has_more is true, pass next_cursor as cursor for the next page. " +
                "Send the page's ETag back in If-None-Match to get a 304 while nothing on it changed.")
            .ProducesEnvelope<SessionListDto>()
            .ProducesNotModified("Changes when a session on the page or its revision changes.")
            .ProducesErrors(400);
        api.MapGet("/{sessionId}", GetSession).WithName("GetSession")
            .WithSummary("Read one session")
            .WithDescription("The session's door times, whether it is complete, and the state of its before/after pair.")
            .ProducesEnvelope<SessionDto>()
            .ProducesErrors(400, 404);
        MapSessionWrites(app, api);
        return app;
    }

    public static Results<JsonHttpResult<ApiEnvelope<SessionListDto>>, StatusCodeHttpResult, ApiErrorResult> ListSessions(
        string? container_id, string? status, string? limit, string? cursor, HttpContext context, EvidenceStore store, TimeProvider time)
    {
        if (container_id is not null && Validation.CheckId(container_id, "container_id") is { } invalid) return invalid;
        bool unfinishedOnly = false;
        SessionPhase? phase = null;
        switch (status)
        {
            case null: break;
            case "in_progress": unfinishedOnly = true; break;
            case "complete": phase = SessionPhase.Complete; break;
            default: return ApiErrors.InvalidRequest("status", "status must be in_progress or complete");
        }
        var pageSize = DefaultLimit;
        if (limit is not null && (!int.TryParse(limit, out pageSize) || pageSize < 1 || pageSize > MaxLimit))
            return ApiErrors.InvalidRequest("limit", $"limit must be a whole number from 1 to {MaxLimit}");
        (long, string)? after = null;
        if (cursor is not null)
        {
            if (DecodeCursor(cursor) is not { } decoded) return ApiErrors.InvalidRequest("cursor", "cursor is not one this agent issued");
            after = decoded;
        }
        var page = store.ListSessions(container_id, phase, unfinishedOnly, after, pageSize);
        // The page is unchanged while its sessions and their revisions are: pollers get a 304.
        var etag = $"W/\"{Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(
            string.Join(",", page.Sessions.Select(s => s.SessionId + ":" + s.Revision)) + "|" + page.HasMore)))[..20]}\"";
        if (NotModified.Matches(context, etag)) return NotModified.Result(context, etag);
        context.Response.Headers.ETag = etag;
        context.Response.Headers.CacheControl = "no-cache";
        var dto = new SessionListDto(page.Sessions.Select(ToDto).ToList(), page.HasMore, page.Next is { } next ? EncodeCursor(next) : null);
        return Envelope.Ok(dto, SessionsJsonContext.Default.ApiEnvelopeSessionListDto, time);
    }

    public static Results<JsonHttpResult<ApiEnvelope<SessionDto>>, ApiErrorResult> GetSession(string sessionId, EvidenceStore store, TimeProvider time)
    {
        if (Validation.CheckId(sessionId, "session_id") is { } invalid) return invalid;
        if (store.GetSession(sessionId) is not { } session) return ApiErrors.NotFound($"session {sessionId} not found");
        return Envelope.Ok(ToDto(session), SessionsJsonContext.Default.ApiEnvelopeSessionDto, time);
    }

    public static SessionDto ToDto(SessionRecord s) => new()
    {
        Id = s.SessionId,
        ContainerId = s.ContainerId,
        Status = s.Phase == SessionPhase.Complete ? "complete" : "in_progress",
        StartedAt = s.StartedAt,
        OpenedAt = s.OpenedAt,
        ClosedAt = s.ClosedAt,
        CompletedAt = s.CompletedAt,
        PairStatus = s.PairComplete ? "complete" : "incomplete",
        ChainHead = s.ChainHead,
        Timestamp = new SessionTimestampDto(s.TimestampStatus ?? "none", s.TimestampGenTime, s.TimestampTsa, s.TimestampCaSha256),
        BeforeMissingReason = s.BeforeMissingReason,
        DoorLeftOpenAt = s.DoorLeftOpenAt,
        AfterMissingReason = s.AfterMissingReason,
        Notes = s.Notes,
        OpenedBy = s.OpenedBy,
        EndedBy = s.EndedBy,
        EndReason = s.EndReason,
        CreatedAt = s.StartedAt,
        UpdatedAt = new[] { s.OpenedAt, s.ClosedAt, s.DoorLeftOpenAt, s.EndedAt, s.CompletedAt }.Aggregate(s.StartedAt, (latest, t) => t > latest ? t.Value : latest),
    };

    public static string EncodeCursor((long StartedMs, string SessionId) position) =>
        Base64Url.EncodeToString(Encoding.UTF8.GetBytes($"{position.StartedMs}:{position.SessionId}"));

    public static (long StartedMs, string SessionId)? DecodeCursor(string cursor)
    {
        if (cursor.Length is 0 or > 256) return null;
        try
        {
            var text = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(cursor));
            var colon = text.IndexOf(':');
            if (colon <= 0 || !long.TryParse(text.AsSpan(0, colon), out var started)) return null;
            var id = text[(colon + 1)..];
            return Validation.IsValidId(id) ? (started, id) : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }
}
