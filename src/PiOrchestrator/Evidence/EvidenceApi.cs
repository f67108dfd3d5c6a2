using System.Security.Cryptography;
using Microsoft.AspNetCore.Http.HttpResults;
using PiOrchestrator.Http;
using PiOrchestrator.Store;
using PiOrchestrator.Upload;

namespace PiOrchestrator.Evidence;

public static class EvidenceApi
{
    private const string ImageCacheControl = "private, max-age=31536000, immutable";

    public static IEndpointRouteBuilder MapEvidenceApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1").WithTags("Evidence");
        api.MapGet("/sessions/{sessionId}/evidence", GetSessionEvidence).WithName("GetSessionEvidence")
            .WithSummary("List a session's captures, a page at a time")
            .WithDescription("The session's captures in the order of its hash chain (capture time, then evidence_id), one page " +
                $"(limit 1-{EvidenceListQuery.MaxLimit}, default {EvidenceListQuery.DefaultLimit}: a door cycle's pair and its test captures fit), " +
                $"optionally of one capture_tag ({string.Join(", ", EvidenceListQuery.TagNames)}). When has_more is true, pass next_cursor " +
                "as cursor, with the same capture_tag, for the next page. The summary counts the whole session, whatever the page (DURING_OPEN frames apart, in frames). image_data " +
                "(base64 JPEG) is present while the agent still holds the bytes and include_image is not false, for up to " +
                $"{EvidenceViews.MaxImageBytesPerPage / (1024 * 1024)} MiB of JPEG per page; otherwise fetch the image from " +
                "/api/v1/evidence/image with object_key. Send the ETag back in If-None-Match to get a 304 while the session is unchanged.")
            .WithQueryParameter("capture_tag", "Only captures with this tag (seed 000's kind filter: every capture here is a JPEG).",
                EvidenceListQuery.TagNames)
            .WithQueryParameter("limit", $"Page size, 1-{EvidenceListQuery.MaxLimit}; default {EvidenceListQuery.DefaultLimit}.")
            .WithQueryParameter("cursor", "next_cursor of the previous page (opaque; only valid with the same session and capture_tag).")
            .WithQueryParameter("include_image", "false (or 0) omits image_data; default true.")
            .ProducesEnvelope<SessionEvidenceDto>()
            .WithResponseExample(200, "seed001", "Both photos taken; the before photo still held on the Pi", OpenApiExamples.EvidenceList)
            .ProducesNotModified("Changes with the session's revision (any capture, upload or purge) and include_image.")
            .ProducesErrors(400, 404)
            .WithResponseExample(404, "unknown", "No such session", OpenApiExamples.NotFound);
        api.MapGet("/sessions/{sessionId}/evidence/pair", GetEvidencePair).WithName("GetEvidencePair")
            .WithSummary("Read a session's before/after pair")
            .WithDescription("The BEFORE_OPEN and AFTER_CLOSE sides. pair_status is complete when both were captured; otherwise " +
                "each side without a good capture says why in missing_reason (status failed, missing, or pending while the " +
                "session runs), and retry_after_seconds says when to ask again while the session is in progress.")
            .ProducesEnvelope<EvidencePairDto>()
            .WithResponseExample(200, "complete", "Both sides captured", OpenApiExamples.CompletePair)
            .WithResponseExample(200, "incomplete", "The door is still open: the after side is pending", OpenApiExamples.IncompletePair)
            .ProducesErrors(400, 404);
        api.MapGet("/sessions/{sessionId}/verify", VerifySession).WithName("VerifySession")
            .WithSummary("Verify a session's integrity")
            .WithDescription("Recomputes the session's sha256 hash chain, compares the bytes held on the Pi and re-reads each " +
                "uploaded object from S3 (results reused for 5 minutes). ok is true when nothing disagrees.")
            .ProducesEnvelope<SessionVerificationDto>()
            .ProducesErrors(400, 404);
        api.MapGet("/evidence/image", GetImage).WithName("GetEvidenceImage")
            .WithSummary("Fetch a capture's JPEG by object key")
            .WithDescription("The image proxy: the JPEG of the capture whose object_key is key, from the agent's memory, disk or S3, " +
                "checked against its sha256. size=thumb gives a small thumbnail. Immutable: cache it by its ETag.")
            .ProducesFile("image/jpeg", "The JPEG (or its thumbnail).")
            .WithResponseHeader(200, "ETag", "The capture's sha256 in quotes (with -thumb for a thumbnail).")
            .WithResponseHeader(200, "Cache-Control", "private, max-age=31536000, immutable")
            .Produces(StatusCodes.Status304NotModified)
            .WithResponseHeader(304, "ETag", "The capture's sha256 in quotes, as on the 200.")
            .ProducesErrors(400, 404, 410, 502, 503);
        api.MapGet("/evidence/{evidenceId}", GetEvidence).WithName("GetEvidence")
            .WithSummary("Read one capture")
            .WithDescription("One capture by its evidence_id (a UUIDv7), without image_data.")
            .ProducesEnvelope<CaptureDto>()
            .ProducesErrors(400, 404);
        api.MapGet("/evidence/{evidenceId}/download", GetDownload).WithName("GetEvidenceDownload")
            .WithSummary("Get a presigned download URL for a capture")
            .WithDescription("A time-limited S3 URL for the capture's uploaded object, with its sha256 and size. 409 while the capture " +
                "failed or is not uploaded yet, 410 after retention purged it, 503 when object storage is not configured.")
            .ProducesEnvelope<EvidenceDownloadDto>()
            .ProducesErrors(400, 404, 409, 410, 503);
        api.MapDevice();
        api.MapExport();
        api.MapAudit();
        return app;
    }

    public static Results<EnvelopedJsonResult, StatusCodeHttpResult, ApiErrorResult> GetSessionEvidence(
        string sessionId, string? include_image, string? capture_tag, string? limit, string? cursor, HttpContext context, EvidenceStore store,
        EvidenceViews views)
    {
        if (Validation.CheckId(sessionId, "session_id") is { } invalid) return invalid;
        if (!Validation.TryParseFlag(include_image, true, out var withImages))
            return ApiErrors.InvalidRequest("include_image", "include_image must be true or false");
        if (EvidenceListQuery.TryParse(sessionId, capture_tag, limit, cursor, out var query) is { } badQuery) return badQuery;
        if (store.GetRevision(sessionId) is not { } revision)
            return ApiErrors.NotFound($"session {sessionId} not found");

        var etag = EvidenceViews.ETag(revision, withImages, query);
        if (NotModified.Matches(context, etag)) return NotModified.Result(context, etag);
        if (views.CachedEvidenceListJson(sessionId, revision, withImages, query) is { } cached) return new EnvelopedJsonResult(cached, etag);
        if (store.GetSession(sessionId) is not { } session)
            return ApiErrors.NotFound($"session {sessionId} not found");
        return new EnvelopedJsonResult(views.EvidenceListJson(session, withImages, query), EvidenceViews.ETag(session.Revision, withImages, query));
    }

    public static Results<JsonHttpResult<ApiEnvelope<EvidencePairDto>>, ApiErrorResult> GetEvidencePair(
        string sessionId, string? include_image, EvidenceStore store, EvidenceViews views, TimeProvider time)
    {
        if (Validation.CheckId(sessionId, "session_id") is { } invalid) return invalid;
        if (!Validation.TryParseFlag(include_image, true, out var withImages))
            return ApiErrors.InvalidRequest("include_image", "include_image must be true or false");
        if (store.GetSession(sessionId) is not { } session)
            return ApiErrors.NotFound($"session {sessionId} not found");
        return Envelope.Ok(views.Pair(session, withImages), EvidenceJsonContext.Default.ApiEnvelopeEvidencePairDto, time);
    }

    public static async Task<Results<FileContentHttpResult, ApiErrorResult>> GetImage(
        string? key, string? size, HttpContext context, EvidenceStore store, ImageSource images, ImageCache cache)
    {
        if (Validation.CheckKey(key, "key") is { } invalid) return invalid;
        bool thumbnail;
        switch (size)
        {
            case null or "full": thumbnail = false; break;
            case "thumb": thumbnail = true; break;
            default: return ApiErrors.InvalidRequest("size", "size must be full or thumb");
        }
        // Only keys of known captures: nothing else ever reaches the store's bytes or S3.
        if (store.GetEvidenceByKey(key!) is not { } evidence || !evidence.IsCaptured)
            return ApiErrors.NotFound("no evidence has this key");

        if (evidence.PurgedAt is not null)
            return ApiErrors.RetentionExpired($"the image was purged from object storage on {evidence.PurgedAt:yyyy-MM-dd} by retention");
        var thumbKey = ImageCache.ThumbnailKey(evidence.ObjectKey!);
        byte[]? bytes = null;
        if (thumbnail)
        {
            if (cache.TryGet(thumbKey, out var cachedThumb)) bytes = cachedThumb;
            else if (store.ReadThumbnail(evidence.EvidenceId) is { } storedThumb) cache.Set(thumbKey, bytes = storedThumb);
        }
        if (bytes is null)
        {
            var found = await images.GetAsync(evidence, context.RequestAborted);
            switch (found.Outcome)
            {
                case ImageOutcome.Purged:
                    return ApiErrors.RetentionExpired($"the image was purged from object storage on {evidence.PurgedAt:yyyy-MM-dd} by retention");
                case ImageOutcome.IntegrityMismatch:
                    return ApiErrors.IntegrityMismatch(found.Detail!);
                case ImageOutcome.Unavailable:
                    return ApiErrors.ServiceUnavailable(found.Detail!, TimeSpan.FromSeconds(30));
                case ImageOutcome.NotFound:
                    return ApiErrors.NotFound("no evidence has this key");
            }
            bytes = found.Bytes!;
            if (thumbnail)
            {
                if (!Jpeg.JpegCodec.Check(bytes, out var made).Ok || made is null)
                    return ApiErrors.Internal("the stored image does not decode");
                // Not kept if retention purged the capture meanwhile.
                if (store.SaveThumbnail(evidence.EvidenceId, made)) cache.Set(thumbKey, made);
                bytes = made;
            }
        }
        context.Response.Headers.CacheControl = ImageCacheControl;
        var etag = new Microsoft.Net.Http.Headers.EntityTagHeaderValue($"\"{evidence.Sha256}{(thumbnail ? "-thumb" : "")}\"");
        return TypedResults.Bytes(bytes, evidence.ContentType, entityTag: etag);
    }

    public static Results<JsonHttpResult<ApiEnvelope<CaptureDto>>, ApiErrorResult> GetEvidence(string evidenceId, EvidenceStore store, TimeProvider time)
    {
        if (!Guid.TryParse(evidenceId, out var id)) return ApiErrors.InvalidRequest("evidence_id", "evidence_id must be a UUID");
        if (store.GetEvidence(id) is not { } evidence) return ApiErrors.NotFound($"evidence {evidenceId} not found");
        return Envelope.Ok(CaptureDto.From(evidence, null), EvidenceJsonContext.Default.ApiEnvelopeCaptureDto, time);
    }

    public static Results<JsonHttpResult<ApiEnvelope<EvidenceDownloadDto>>, ApiErrorResult> GetDownload(
        string evidenceId, EvidenceStore store, S3ObjectStore s3, Microsoft.Extensions.Options.IOptions<S3Options> options, TimeProvider time)
    {
        if (!Guid.TryParse(evidenceId, out var id)) return ApiErrors.InvalidRequest("evidence_id", "evidence_id must be a UUID");
        if (store.GetEvidence(id) is not { } e) return ApiErrors.NotFound($"evidence {evidenceId} not found");
        if (!e.IsCaptured) return ApiErrors.EvidenceNotReady($"the capture failed ({e.FailureReason}); there are no bytes to download");
        if (e.PurgedAt is not null) return ApiErrors.RetentionExpired("the bytes were purged from object storage by retention");
        if (!s3.Configured) return ApiErrors.ServiceUnavailable("object storage is not configured on this agent");
        if (e.UploadStatus != UploadStatus.Uploaded)
            return ApiErrors.EvidenceNotReady($"the capture is not uploaded yet (upload_status {EvidenceNames.Of(e.UploadStatus)})");
        var url = s3.PresignGet(e.ObjectKey!, time.GetUtcNow());
        return Envelope.Ok(new EvidenceDownloadDto(url, options.Value.PresignSeconds, e.Sha256!, e.ImageSizeBytes ?? 0, e.ContentType, "snapshot"),
            EvidenceJsonContext.Default.ApiEnvelopeEvidenceDownloadDto, time);
    }

    public static async Task<Results<JsonHttpResult<ApiEnvelope<SessionVerificationDto>>, ApiErrorResult>> VerifySession(
        string sessionId, EvidenceStore store, S3ObjectStore s3, ObjectReadBacks readBacks, TimeProvider time, CancellationToken ct)
    {
        if (Validation.CheckId(sessionId, "session_id") is { } invalid) return invalid;
        if (store.GetSession(sessionId) is not { } session) return ApiErrors.NotFound($"session {sessionId} not found");
        var evidence = store.GetEvidenceForSession(sessionId);
        var recomputed = HashChain.Head(sessionId, evidence);
        var chainOk = session.ChainHead is null || session.ChainHead == recomputed;
        var captures = new List<CaptureVerificationDto>();
        foreach (var e in evidence.Where(e => e.IsCaptured))
        {
            var local = "absent";
            if (e.BytesHeld && store.ReadImage(e.EvidenceId) is { } bytes)
                local = Sha(bytes) == e.Sha256 ? "ok" : "mismatch";
            var remote = e.PurgedAt is not null ? "purged"
                : e.UploadStatus != UploadStatus.Uploaded ? "not_uploaded"
                : !s3.Configured ? "not_configured"
                : await readBacks.CheckAsync(e, ct);
            var signature = e.Signature is null ? "none" : store.CheckSignature(e);
            captures.Add(new CaptureVerificationDto(e.EvidenceId.ToString("D"), EvidenceNames.Of(e.Tag), e.Sha256!, local, remote, signature));
        }
        var ok = chainOk && captures.All(c => c.Local is "ok" or "absent" && c.Object is "ok" or "not_uploaded" or "purged" or "not_configured"
                                           && c.Signature == "ok");
        var timestamp = TimestampVerdict(store.GetTimestamp(sessionId), session.ChainHead);
        ok = ok && timestamp != "bad";
        return Envelope.Ok(new SessionVerificationDto(sessionId, session.ChainHead, recomputed, chainOk, captures, timestamp, ok),
            EvidenceJsonContext.Default.ApiEnvelopeSessionVerificationDto, time);
    }

    /// <summary>From the token and the trust material kept with it, as /sessions/{id}'s status was: the two agree.</summary>
    private static string TimestampVerdict(SessionTimestamp? stamp, string? chainHead)
    {
        if (stamp is null) return "none";
        if (stamp.Token is null) return "pending";
        return chainHead is null ? "bad" : TimestampCheck.Verify(stamp, chainHead);
    }

    private static string Sha(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));
}
