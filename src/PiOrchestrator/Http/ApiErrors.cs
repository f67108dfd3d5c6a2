using Microsoft.AspNetCore.Http.HttpResults;

namespace PiOrchestrator.Http;

/// <summary>An error answer in the envelope; the one type every endpoint uses for failures.</summary>
public sealed class ApiErrorResult(int statusCode, ApiError error, TimeSpan? retryAfter = null) : IResult, IStatusCodeHttpResult, IValueHttpResult, IValueHttpResult<ApiErrorEnvelope>
{
    public int StatusCode { get; } = statusCode;
    int? IStatusCodeHttpResult.StatusCode => StatusCode;
    public ApiError Error { get; } = error;
    public ApiErrorEnvelope Value => new(Error, DateTimeOffset.UtcNow);
    object? IValueHttpResult.Value => Value;

    public Task ExecuteAsync(HttpContext httpContext)
    {
        if (retryAfter is { } wait)
            httpContext.Response.Headers.RetryAfter = ((int)Math.Ceiling(wait.TotalSeconds)).ToString();
        httpContext.Response.Headers.CacheControl = "no-store";
        return TypedResults.Json(Value, HttpJsonContext.Default.ApiErrorEnvelope, statusCode: StatusCode).ExecuteAsync(httpContext);
    }
}

/// <summary>The error codes of the API, each with its one HTTP status.</summary>
public static class ApiErrors
{
    public static ApiErrorResult InvalidRequest(string field, string message) => new(400, new ApiError("invalid_request", message, field));
    public static ApiErrorResult Unauthorized(string message) => new(401, new ApiError("unauthorized", message));
    public static ApiErrorResult PermissionDenied(string message) => new(403, new ApiError("permission_denied", message));
    public static ApiErrorResult NotFound(string message) => new(404, new ApiError("not_found", message));
    public static ApiErrorResult MethodNotAllowed(string message) => new(405, new ApiError("method_not_allowed", message));
    public static ApiErrorResult EvidenceNotReady(string message) => new(409, new ApiError("evidence_not_ready", message));
    public static ApiErrorResult SessionInProgress(string message) => new(409, new ApiError("session_in_progress", message));
    public static ApiErrorResult SessionExists(string message) => new(409, new ApiError("session_exists", message));
    public static ApiErrorResult IdempotencyKeyReused(string message) => new(422, new ApiError("idempotency_key_reused", message, "Idempotency-Key"));
    public static ApiErrorResult RetentionExpired(string message) => new(410, new ApiError("retention_expired", message));
    public static ApiErrorResult PayloadTooLarge(string message) => new(413, new ApiError("payload_too_large", message));
    public static ApiErrorResult RateLimited(TimeSpan retryAfter) => new(429, new ApiError("rate_limited", "too many requests; retry later"), retryAfter);
    public static ApiErrorResult OtpRequired(string message) => new(401, new ApiError("otp_required", message, "X-Join-OTP"));
    public static ApiErrorResult OtpInvalid(string message) => new(401, new ApiError("otp_invalid", message, "X-Join-OTP"));
    public static ApiErrorResult OtpLocked(string message) => new(423, new ApiError("otp_locked", message));
    public static ApiErrorResult InviteUsed(string message) => new(410, new ApiError("invite_used", message));
    public static ApiErrorResult InviteExpired(string message) => new(410, new ApiError("invite_expired", message));
    public static ApiErrorResult InviteRevoked(string message) => new(410, new ApiError("invite_revoked", message));
    public static ApiErrorResult InviteLimitReached(string message) => new(409, new ApiError("invite_limit_reached", message));
    public static ApiErrorResult Internal(string message) => new(500, new ApiError("internal_error", message));
    public static ApiErrorResult IntegrityMismatch(string message) => new(502, new ApiError("integrity_mismatch", message));
    public static ApiErrorResult ServiceUnavailable(string message, TimeSpan? retryAfter = null) => new(503, new ApiError("service_unavailable", message), retryAfter);

    /// <summary>The envelope for a bare status code set by the framework (404 route, 405 method, 400 bad request).</summary>
    public static ApiErrorResult ForStatus(int status) => status switch
    {
        400 => InvalidRequest("request", "the request is malformed"),
        401 => Unauthorized("authentication required"),
        403 => PermissionDenied("not allowed"),
        404 => NotFound("no such endpoint"),
        405 => MethodNotAllowed("method not allowed on this endpoint"),
        408 => new(408, new ApiError("request_timeout", "the request took too long to arrive")),
        413 => PayloadTooLarge("the request body is too large"),
        415 => new(415, new ApiError("unsupported_media_type", "unsupported content type")),
        431 => new(431, new ApiError("invalid_request", "request headers are too large", "headers")),
        503 => ServiceUnavailable("the agent is not ready"),
        _ when status >= 500 => Internal("internal error"),
        _ => new(status, new ApiError("invalid_request", "request refused")),
    };
}

/// <summary>A success answer whose <c>data</c> is JSON already serialised (cached per session revision).</summary>
public sealed class EnvelopedJsonResult(ReadOnlyMemory<byte> dataJson, string? etag) : IResult, IStatusCodeHttpResult
{
    private static readonly byte[] Head = """{"success":true,"status":"success","data":"""u8.ToArray();
    private static readonly byte[] Tail = ",\"timestamp\":\""u8.ToArray();

    public int? StatusCode => 200;

    public Task ExecuteAsync(HttpContext httpContext)
    {
        var response = httpContext.Response;
        response.StatusCode = 200;
        response.ContentType = "application/json; charset=utf-8";
        if (etag is not null)
        {
            response.Headers.ETag = etag;
            response.Headers.CacheControl = "no-cache";
        }
        // One buffer, one flush: every Stream write to a Kestrel response is a flush (and a syscall) of its own.
        const int TimestampLength = 24; // yyyy-MM-ddTHH:mm:ss.fffZ
        var length = Head.Length + dataJson.Length + Tail.Length + TimestampLength + 2;
        response.ContentLength = length;
        var writer = response.BodyWriter;
        var span = writer.GetSpan(length);
        Head.CopyTo(span);
        var at = Head.Length;
        dataJson.Span.CopyTo(span[at..]);
        at += dataJson.Length;
        Tail.CopyTo(span[at..]);
        at += Tail.Length;
        DateTime.UtcNow.TryFormat(span[at..], out var written, UtcDateTimeConverter.Format, System.Globalization.CultureInfo.InvariantCulture);
        at += written;
        "\"}"u8.CopyTo(span[at..]);
        writer.Advance(at + 2);
        return writer.FlushAsync().AsTask();
    }
}

/// <summary>304 for a poller whose copy is current.</summary>
public static class NotModified
{
    /// <summary>Whether If-None-Match names <paramref name="etag"/> (weakly) or is <c>*</c>; read in place, as every poll asks.</summary>
    public static bool Matches(HttpContext context, string etag)
    {
        var wanted = Opaque(etag);
        foreach (var candidate in context.Request.Headers.IfNoneMatch)
        {
            if (candidate is null) continue;
            foreach (var range in candidate.AsSpan().Split(','))
            {
                var tag = candidate.AsSpan(range).Trim();
                if (tag is "*" || Opaque(tag).SequenceEqual(wanted)) return true;
            }
        }
        return false;
    }

    public static StatusCodeHttpResult Result(HttpContext context, string etag)
    {
        context.Response.Headers.ETag = etag;
        context.Response.Headers.CacheControl = "no-cache";
        return TypedResults.StatusCode(StatusCodes.Status304NotModified);
    }

    private static ReadOnlySpan<char> Opaque(ReadOnlySpan<char> tag) => tag.StartsWith("W/") ? tag[2..] : tag;
}
