using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using PiOrchestrator.Capture;
using PiOrchestrator.Evidence;
using PiOrchestrator.Http;
using PiOrchestrator.Site;
using PiOrchestrator.Store;

namespace PiOrchestrator.Sessions;

/// <summary>A technician's test capture: MANUAL, in a session of its own (<c>manual-…</c>).</summary>
public static class CapturesApi
{
    public static IEndpointRouteBuilder MapCapturesApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/api/v1/containers/{containerId}/captures", CreateCapture).WithName("CreateManualCapture").WithTags("Capture")
            .WithSummary("Take a test capture")
            .WithDescription("A technician's MANUAL capture from the container's camera, in a session of its own. 201 with Location " +
                "for a new capture; with an Idempotency-Key header, a repeat of the same key returns 200 and the same capture, " +
                "also after a restart (the key is stored with the capture's session). " +
                "Refused with 503 while a door's capture holds the camera and 429 past the hourly budget (both with Retry-After).")
            .RequiresApiKey()
            .AllowsScopedCredential(ContainerScopeMetadata.Route("containerId"))
            .ProducesEnvelope<CaptureDto>(StatusCodes.Status201Created)
            .WithResponseHeader(201, "Location", "The new capture: /api/v1/evidence/{evidence_id}.")
            .ProducesEnvelope<CaptureDto>()
            .ProducesErrors(400, 401, 403, 404, 413, 429, 503);
        return app;
    }

    public static async Task<Results<JsonHttpResult<ApiEnvelope<CaptureDto>>, ApiErrorResult>> CreateCapture(
        string containerId, HttpContext context, IOptions<SiteOptions> site, EvidenceStore store,
        SessionEngine engine, CaptureService captures, ManualCaptureBudget budget, TimeProvider time)
    {
        if (Validation.CheckId(containerId, "container_id") is { } invalid) return invalid;
        if (site.Value.Find(containerId) is not { } container) return ApiErrors.NotFound($"container {containerId} is not configured");
        if (IdempotencyKeys.Read(context, "captures:" + containerId, fingerprint: "") is not { } key) return IdempotencyKeys.Invalid;
        var repeat = key.Value is { } k && store.FindIdempotencyKey(k.Scope, k.Key) is not null;
        // A door's photo goes first: a test capture does not queue for a busy camera.
        if (!repeat && captures.IsBusy(container.CameraUrl))
            return ApiErrors.ServiceUnavailable("the camera is busy with a door's capture; try again in a moment", TimeSpan.FromSeconds(2));
        if (!repeat && !budget.TryTake(container.Id, out var retryAfter)) return ApiErrors.RateLimited(retryAfter);
        var answer = await engine.CaptureManualAsync(container, key.Value, SessionInputs.Requester(context));
        return Answer(context, answer.Capture, answer.Created, time);
    }

    /// <summary>201 with Location for a new capture; 200 with the same capture for a repeated Idempotency-Key.</summary>
    private static JsonHttpResult<ApiEnvelope<CaptureDto>> Answer(HttpContext context, EvidenceRecord record, bool created, TimeProvider time)
    {
        if (created) context.Response.Headers.Location = $"/api/v1/evidence/{record.EvidenceId}";
        return TypedResults.Json(new ApiEnvelope<CaptureDto>(CaptureDto.From(record, null), time.GetUtcNow()),
            EvidenceJsonContext.Default.ApiEnvelopeCaptureDto, statusCode: created ? 201 : 200);
    }
}
