using Microsoft.AspNetCore.Http.HttpResults;
using PiOrchestrator.Api;

namespace PiOrchestrator.Evidence;

public static class EvidenceApi
{
    private const string ImageCacheControl = "private, max-age=31536000, immutable";

    public static IEndpointRouteBuilder MapEvidenceApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1").WithTags("Evidence");
        api.MapGet("/sessions/{sessionId}/evidence", GetSessionEvidence).WithName("GetSessionEvidence");
        api.MapGet("/sessions/{sessionId}/evidence/pair", GetEvidencePair).WithName("GetEvidencePair");
        api.MapGet("/evidence/image", GetImage).WithName("GetEvidenceImage");
        return app;
    }

    public static Results<EnvelopedJsonResult, StatusCodeHttpResult, ApiErrorResult> GetSessionEvidence(
        string sessionId, string? include_image, HttpContext context, EvidenceStore store, EvidenceViews views)
    {
        if (Validation.CheckId(sessionId, "session_id") is { } invalid) return invalid;
        if (!Validation.TryParseFlag(include_image, true, out var withImages))
            return ApiErrors.InvalidRequest("include_image", "include_image must be true or false");
        if (store.GetRevision(sessionId) is not { } revision)
            return ApiErrors.NotFound($"session {sessionId} not found");

        var etag = EvidenceViews.ETag(revision, withImages);
        if (NotModified.Matches(context, etag)) return NotModified.Result(context, etag);
        if (store.GetSession(sessionId) is not { } session)
            return ApiErrors.NotFound($"session {sessionId} not found");
        return new EnvelopedJsonResult(views.EvidenceListJson(session, withImages), EvidenceViews.ETag(session.Revision, withImages));
    }

    public static Results<JsonHttpResult<ApiEnvelope<EvidencePairDto>>, ApiErrorResult> GetEvidencePair(
        string sessionId, string? include_image, EvidenceStore store, EvidenceViews views, TimeProvider time)
    {
        if (Validation.CheckId(sessionId, "session_id") is { } invalid) return invalid;
        if (!Validation.TryParseFlag(include_image, true, out var withImages))
            return ApiErrors.InvalidRequest("include_image", "include_image must be true or false");
        if (store.GetSession(sessionId) is not { } session)
            return ApiErrors.NotFound($"session {sessionId} not found");
        return Envelope.Ok(views.Pair(session, withImages), AppJsonContext.Default.ApiEnvelopeEvidencePairDto, time);
    }

    public static Results<FileContentHttpResult, ApiErrorResult> GetImage(
        string? key, string? size, HttpContext context, EvidenceStore store, ImageCache cache)
    {
        if (Validation.CheckKey(key, "key") is { } invalid) return invalid;
        var thumbnail = size switch
        {
            null or "full" => false,
            "thumb" => true,
            _ => (bool?)null,
        };
        if (thumbnail is null) return ApiErrors.InvalidRequest("size", "size must be full or thumb");
        if (store.GetEvidenceByKey(key!) is not { } evidence || !evidence.IsCaptured)
            return ApiErrors.NotFound("no evidence has this key");

        var bytes = LocalBytes(evidence, store, cache);
        if (bytes is null)
            return ApiErrors.ServiceUnavailable("the image is no longer held on this agent and object storage is not reachable", TimeSpan.FromSeconds(30));
        if (thumbnail == true)
        {
            var thumbKey = ImageCache.ThumbnailKey(evidence.ObjectKey!);
            if (!cache.TryGet(thumbKey, out var thumb))
            {
                if (!Capture.JpegCodec.Check(bytes, out var made).Ok || made is null)
                    return ApiErrors.Internal("stored image does not decode");
                cache.Set(thumbKey, made);
                thumb = made;
            }
            bytes = thumb;
        }
        context.Response.Headers.CacheControl = ImageCacheControl;
        var etag = new Microsoft.Net.Http.Headers.EntityTagHeaderValue($"\"{evidence.Sha256}{(thumbnail == true ? "-thumb" : "")}\"");
        return TypedResults.Bytes(bytes, evidence.ContentType, entityTag: etag);
    }

    private static byte[]? LocalBytes(EvidenceRecord evidence, EvidenceStore store, ImageCache cache)
    {
        if (cache.TryGet(evidence.ObjectKey!, out var hot)) return hot;
        if (!evidence.BytesHeld || store.ReadImage(evidence.EvidenceId) is not { } bytes) return null;
        cache.Set(evidence.ObjectKey!, bytes);
        return bytes;
    }
}
