using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using PiOrchestrator.Http;
using PiOrchestrator.Site;

namespace PiOrchestrator.Sessions;

/// <summary>Sessions people open (an inspection, with notes and their name) and end (a door sensor stuck open); both need Api:Key.</summary>
public static partial class SessionsApi
{
    private static void MapSessionWrites(IEndpointRouteBuilder app, RouteGroupBuilder sessions)
    {
        app.MapPost("/api/v1/containers/{containerId}/sessions", OpenSession).WithName("OpenInspectionSession").WithTags("Sessions")
            .WithSummary("Open an inspection session")
            .WithDescription("Opens a session on the container now, with notes and the operator's name or email (opened_by), and takes " +
                "BEFORE_OPEN at once; from then it follows the door (the door's close ends it, with AFTER_CLOSE) or is ended with " +
                "POST /api/v1/sessions/{sessionId}/end. 201 with Location; with an Idempotency-Key header, a repeat of the same key " +
                "and body returns 200 and the same session, also after a restart; the same key with another body is a 422. " +
                "409 session_in_progress while the container has a session in progress, 409 session_exists for a session_id already used.")
            .Accepts<OpenSessionRequest>("application/json")
            .WithMetadata(new RequestSizeLimitAttribute(SessionInputs.MaxBodyBytes))
            .RequiresApiKey()
            .AllowsScopedCredential(ContainerScopeMetadata.Route("containerId"))
            .ProducesEnvelope<SessionDto>(StatusCodes.Status201Created)
            .WithResponseHeader(201, "Location", "The new session: /api/v1/sessions/{id}.")
            .ProducesEnvelope<SessionDto>()
            .ProducesErrors(400, 401, 403, 404, 409, 413, 415, 422, 503);
        sessions.MapPost("/{sessionId}/end", EndSession).WithName("EndSession")
            .WithSummary("End a session")
            .WithDescription("Completes a session in progress as its door's close would: AFTER_CLOSE is taken (unless after_close is " +
                "false), the chain head is fixed and queued for its time stamp, and who ended it and why are kept on it. Answers once " +
                "it is complete. Idempotent: a complete session is returned unchanged, with no second chain head or time stamp.")
            .Accepts<EndSessionRequest>(isOptional: true, "application/json")
            .WithMetadata(new RequestSizeLimitAttribute(SessionInputs.MaxBodyBytes))
            .RequiresApiKey()
            .AllowsScopedCredential(new ContainerScopeMetadata(ContainerOfSession))
            .ProducesEnvelope<SessionDto>()
            .ProducesErrors(400, 401, 403, 404, 413, 415, 503);
    }

    /// <summary>The container of the session a request names, for a technician's credential; null for no such session.</summary>
    private static string? ContainerOfSession(HttpContext context) =>
        context.Request.RouteValues["sessionId"] is string id && Validation.IsValidId(id)
            ? context.RequestServices.GetRequiredService<Store.EvidenceStore>().GetSession(id)?.ContainerId
            : null;

    /// <summary>The engine's answer, or null when the agent stopped before giving one.</summary>
    private static async Task<SessionAnswer?> Stopping(Task<SessionAnswer> answer, HttpContext context)
    {
        try
        {
            return await answer.WaitAsync(context.RequestAborted);
        }
        catch (OperationCanceledException) when (!context.RequestAborted.IsCancellationRequested)
        {
            return null;
        }
    }

    public static async Task<Results<JsonHttpResult<ApiEnvelope<SessionDto>>, ApiErrorResult>> OpenSession(
        string containerId, OpenSessionRequest? body, HttpContext context, IOptions<SiteOptions> site, SessionEngine engine,
        TimeProvider time)
    {
        if (Validation.CheckId(containerId, "container_id") is { } invalid) return invalid;
        if (site.Value.Find(containerId) is not { } container) return ApiErrors.NotFound($"container {containerId} is not configured");
        if (body is null) return ApiErrors.InvalidRequest("body", "a JSON body with opened_by is required");
        if (SessionInputs.CheckOpenedBy(body.OpenedBy, "opened_by") is { } badName) return badName;
        if (SessionInputs.CheckText(body.Notes, "notes", SessionInputs.MaxNotes) is { } badNotes) return badNotes;
        if (body.SessionId is not null && Validation.CheckId(body.SessionId, "session_id") is { } badId) return badId;
        var fingerprint = IdempotencyKeys.Fingerprint(body.Notes, body.OpenedBy, body.SessionId);
        if (IdempotencyKeys.Read(context, "sessions:" + containerId, fingerprint) is not { } key) return IdempotencyKeys.Invalid;

        if (await Stopping(engine.OpenInspectionAsync(new InspectionRequest(container, body.SessionId, body.Notes, body.OpenedBy, key.Value,
                SessionInputs.Requester(context))), context) is not { } answer)
            return ApiErrors.ServiceUnavailable("the agent is stopping; ask again when it is back", TimeSpan.FromSeconds(5));
        switch (answer.Outcome)
        {
            case RequestOutcome.Created:
                context.Response.Headers.Location = $"/api/v1/sessions/{answer.Session!.SessionId}";
                return TypedResults.Json(new ApiEnvelope<SessionDto>(ToDto(answer.Session), time.GetUtcNow()),
                    SessionsJsonContext.Default.ApiEnvelopeSessionDto, statusCode: StatusCodes.Status201Created);
            case RequestOutcome.Repeated when answer.Session is not null:
                return Envelope.Ok(ToDto(answer.Session), SessionsJsonContext.Default.ApiEnvelopeSessionDto, time);
            case RequestOutcome.Repeated:
                // Its session was removed by retention since: the key is no longer good for anything.
                return ApiErrors.IdempotencyKeyReused("this Idempotency-Key made a session that no longer exists; use a new key");
            case RequestOutcome.KeyReused:
                return ApiErrors.IdempotencyKeyReused("this Idempotency-Key was first sent with another body; use a new key for a new session");
            case RequestOutcome.ContainerBusy:
                return ApiErrors.SessionInProgress($"container {containerId} has session {answer.Session?.SessionId} in progress; end it first");
            default:
                return ApiErrors.SessionExists($"session {body.SessionId} already exists");
        }
    }

    public static async Task<Results<JsonHttpResult<ApiEnvelope<SessionDto>>, ApiErrorResult>> EndSession(
        string sessionId, EndSessionRequest? body, HttpContext context, SessionEngine engine, TimeProvider time)
    {
        if (Validation.CheckId(sessionId, "session_id") is { } invalid) return invalid;
        if (SessionInputs.CheckText(body?.Reason, "reason", SessionInputs.MaxReason) is { } badReason) return badReason;
        var request = new EndRequest(sessionId, SessionInputs.Requester(context), body?.Reason, body?.AfterClose ?? true);
        if (await Stopping(engine.EndSessionAsync(request), context) is not { } answer)
            return ApiErrors.ServiceUnavailable("the agent is stopping; end the session again once it is back", TimeSpan.FromSeconds(5));
        return answer.Session is { } session
            ? Envelope.Ok(ToDto(session), SessionsJsonContext.Default.ApiEnvelopeSessionDto, time)
            : ApiErrors.NotFound($"session {sessionId} not found");
    }
}
