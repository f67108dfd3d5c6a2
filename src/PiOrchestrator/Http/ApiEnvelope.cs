using System.ComponentModel.DataAnnotations;

namespace PiOrchestrator.Http;

/// <summary><c>{"success":true,"status":"success","data":…,"timestamp":…}</c></summary>
public sealed record ApiEnvelope<T>(T Data, DateTimeOffset Timestamp)
{
    [AllowedValues(true)] public bool Success => true;
    [AllowedValues("success")] public string Status => "success";
    public T Data { get; } = Data;
    public DateTimeOffset Timestamp { get; } = Timestamp;
}

/// <summary><c>{"success":false,"status":"error","error":{"code","message","field"},"timestamp":…}</c></summary>
public sealed record ApiErrorEnvelope(ApiError Error, DateTimeOffset Timestamp)
{
    [AllowedValues(false)] public bool Success => false;
    [AllowedValues("error")] public string Status => "error";
    public ApiError Error { get; } = Error;
    public DateTimeOffset Timestamp { get; } = Timestamp;
}

/// <summary>Code: one per failure kind (ApiErrors); field: the parameter or header at fault, for invalid_request.</summary>
public sealed record ApiError(
    [property: AllowedValues("invalid_request", "unauthorized", "permission_denied", "not_found", "method_not_allowed", "request_timeout",
        "evidence_not_ready", "session_in_progress", "session_exists", "retention_expired", "payload_too_large", "unsupported_media_type", "idempotency_key_reused", "rate_limited", "internal_error",
        "otp_required", "otp_invalid", "otp_locked", "invite_used", "invite_expired", "invite_revoked", "invite_limit_reached",
        "integrity_mismatch", "service_unavailable")]
    string Code,
    string Message, [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] string? Field = null);
