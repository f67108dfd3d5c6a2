using System.ComponentModel.DataAnnotations;
using System.Text.Json.Serialization;
using PiOrchestrator.Http;
using PiOrchestrator.Store;

namespace PiOrchestrator.Evidence;

/// <summary>
/// One capture as the dashboard contract (seed 001) shows it. A pair side with no good capture uses the same
/// shape with only capture_tag, status and missing_reason set.
/// </summary>
public sealed record CaptureDto
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull), ApiFormat("uuid")] public string? EvidenceId { get; init; }
    [AllowedValues("BEFORE_OPEN", "AFTER_CLOSE", "MANUAL", "DURING_OPEN")] public required string CaptureTag { get; init; }
    /// <summary>A DURING_OPEN frame's number in its session (1, 2, …; no gap among stored frames).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? Sequence { get; init; }
    /// <summary>captured or failed; on a pair side with no good capture also missing, or pending while the session runs.</summary>
    [AllowedValues("captured", "failed", "missing", "pending")] public required string Status { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    [AllowedValues(Store.MissingReason.SessionInProgress, Store.MissingReason.NoOpenEvent, Store.MissingReason.CaptureFailed,
        Store.MissingReason.CameraOffline, Store.MissingReason.DoorLeftOpen, Store.MissingReason.NoDoorCycle, Store.MissingReason.EndedWithoutCapture)]
    public string? MissingReason { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? FailureReason { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? DeviceId { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? ContainerId { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? SessionId { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public DateTimeOffset? CreatedAt { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public DateTimeOffset? CapturedAt { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? ImageData { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? ContentType { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public long? ImageSizeBytes { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? ObjectKey { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull), AllowedValues("pending", "uploading", "uploaded", "failed")] public string? UploadStatus { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull), RegularExpression("^[0-9a-f]{64}$")] public string? Sha256 { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? Width { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? Height { get; init; }
    /// <summary>Milliseconds from the capture being asked for (the door event) to the camera's answer with this frame.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? DelayMs { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public DateTimeOffset? UploadedAt { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? UploadError { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public DateTimeOffset? PurgedAt { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Signature { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? KeyId { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public bool? ClockSynchronized { get; init; }

    public static CaptureDto From(EvidenceRecord e, string? imageData) => new()
    {
        EvidenceId = e.EvidenceId.ToString("D"),
        CaptureTag = EvidenceNames.Of(e.Tag),
        Sequence = e.Sequence,
        Status = EvidenceNames.Of(e.Status),
        FailureReason = e.FailureReason,
        DeviceId = e.DeviceId,
        ContainerId = e.ContainerId,
        SessionId = e.SessionId,
        CreatedAt = e.CreatedAt,
        CapturedAt = e.CapturedAt,
        ImageData = imageData,
        ContentType = e.ContentType,
        ImageSizeBytes = e.ImageSizeBytes,
        ObjectKey = e.ObjectKey,
        UploadStatus = e.UploadStatus == Store.UploadStatus.None ? null : EvidenceNames.Of(e.UploadStatus),
        Sha256 = e.Sha256,
        Width = e.Width,
        Height = e.Height,
        DelayMs = e.DelayMs,
        UploadedAt = e.UploadedAt,
        UploadError = e.UploadError,
        PurgedAt = e.PurgedAt,
        Signature = e.Signature,
        KeyId = e.KeyId,
        ClockSynchronized = e.ClockSynchronized,
    };
}

/// <summary>
/// The counts are of the pair and test captures; frames counts the session's DURING_OPEN timelapse frames apart
/// (a frame that could not be taken leaves no row).
/// </summary>
public sealed record EvidenceSummaryDto(
    int TotalCaptures, int SuccessfulCaptures, int FailedCaptures, bool HasBeforeOpen, bool HasAfterClose, bool PairComplete, int Frames = 0);

/// <summary>
/// One page of a session's captures in chain order; the summary counts all of them. has_more and next_cursor continue
/// the page as in seed 000 (pass next_cursor as cursor with the same capture_tag).
/// </summary>
public sealed record SessionEvidenceDto(
    string SessionId, string ContainerId, IReadOnlyList<CaptureDto> Captures, EvidenceSummaryDto Summary, bool HasMore = false, string? NextCursor = null);

public sealed record EvidencePairDto
{
    [AllowedValues("v1")] public string ContractVersion => "v1";
    public required string SessionId { get; init; }
    public required string ContainerId { get; init; }
    [AllowedValues("complete", "incomplete")] public required string PairStatus { get; init; }
    public required CaptureDto? Before { get; init; }
    public required CaptureDto? After { get; init; }
    public required DateTimeOffset QueriedAt { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? RetryAfterSeconds { get; init; }
}

/// <summary>A presigned download, as the Evidence API (seed 000) returns it.</summary>
public sealed record EvidenceDownloadDto(string Url, int ExpiresInSeconds, [property: RegularExpression("^[0-9a-f]{64}$")] string Sha256, long ByteSize, string Mime, string Kind);

/// <summary>local: the bytes held on the Pi; object: the object re-read from S3; signature: ok, bad (does not verify
/// with the device key the capture names over the row's line), unknown_key (that key's public half was not kept) or
/// none (stored unsigned, before signing existed).</summary>
public sealed record CaptureVerificationDto(
    [property: ApiFormat("uuid")] string EvidenceId,
    [property: AllowedValues("BEFORE_OPEN", "AFTER_CLOSE", "MANUAL", "DURING_OPEN")] string CaptureTag,
    [property: RegularExpression("^[0-9a-f]{64}$")] string Sha256,
    [property: AllowedValues("ok", "mismatch", "absent")] string Local,
    [property: AllowedValues("ok", "mismatch", "missing", "unreachable", "not_uploaded", "purged", "not_configured")] string Object,
    [property: AllowedValues("ok", "bad", "unknown_key", "none")] string Signature);

/// <summary>
/// The session's chain recomputed from the stored sha256 values, each object re-read from S3, and the chain head's
/// time stamp (ok, bad, pending or none) checked against the TSA CA.
/// </summary>
public sealed record SessionVerificationDto(
    string SessionId, string? ChainHead, string RecomputedChainHead, bool ChainOk, IReadOnlyList<CaptureVerificationDto> Captures,
    [property: AllowedValues("ok", "bad", "pending", "none")] string Timestamp, bool Ok);
