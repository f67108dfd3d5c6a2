namespace PiOrchestrator.Store;

/// <summary>DuringOpen: a timelapse frame taken while the door is open, apart from the before/after pair.</summary>
public enum CaptureTag { BeforeOpen, AfterClose, Manual, DuringOpen }

public enum CaptureStatus { Captured, Failed }

/// <summary>None: a failed capture has no bytes to upload.</summary>
public enum UploadStatus { None, Pending, Uploading, Uploaded, Failed }

public static class EvidenceNames
{
    public static string Of(CaptureTag tag) => tag switch
    {
        CaptureTag.BeforeOpen => "BEFORE_OPEN",
        CaptureTag.AfterClose => "AFTER_CLOSE",
        CaptureTag.Manual => "MANUAL",
        CaptureTag.DuringOpen => "DURING_OPEN",
        // A tag added without its name would be stored, signed and shown as another tag's: refuse it instead.
        _ => throw new ArgumentOutOfRangeException(nameof(tag), tag, "capture tag without a name"),
    };

    public static CaptureTag ParseTag(string text) => text switch
    {
        "BEFORE_OPEN" => CaptureTag.BeforeOpen,
        "AFTER_CLOSE" => CaptureTag.AfterClose,
        "MANUAL" => CaptureTag.Manual,
        "DURING_OPEN" => CaptureTag.DuringOpen,
        _ => throw new FormatException($"unknown capture tag '{text}'"),
    };

    public static string Of(CaptureStatus status) => status == CaptureStatus.Captured ? "captured" : "failed";

    public static CaptureStatus ParseStatus(string text) => text == "captured" ? CaptureStatus.Captured : CaptureStatus.Failed;

    public static string Of(UploadStatus status) => status switch
    {
        UploadStatus.None => "none",
        UploadStatus.Pending => "pending",
        UploadStatus.Uploading => "uploading",
        UploadStatus.Uploaded => "uploaded",
        _ => "failed",
    };

    public static UploadStatus ParseUpload(string text) => text switch
    {
        "none" => UploadStatus.None,
        "pending" => UploadStatus.Pending,
        "uploading" => UploadStatus.Uploading,
        "uploaded" => UploadStatus.Uploaded,
        _ => UploadStatus.Failed,
    };
}

/// <summary>One capture: a JPEG that was taken (status captured) or an attempt that failed, with why.</summary>
public sealed record EvidenceRecord
{
    public required Guid EvidenceId { get; init; }
    public required string SessionId { get; init; }
    public required string ContainerId { get; init; }
    public required string DeviceId { get; init; }
    public required CaptureTag Tag { get; init; }
    public required CaptureStatus Status { get; init; }
    public string? FailureReason { get; init; }
    public required DateTimeOffset CapturedAt { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    public string ContentType { get; init; } = "image/jpeg";
    public long? ImageSizeBytes { get; init; }
    public string? Sha256 { get; init; }
    public string? ObjectKey { get; init; }
    public UploadStatus UploadStatus { get; init; } = UploadStatus.Pending;
    public int? Width { get; init; }
    public int? Height { get; init; }
    public int? LatencyMs { get; init; }
    /// <summary>
    /// From the capture being asked for (the door event heard) to the camera's answer carrying the stored frame: how
    /// late after the event the photo is at most. Waits for the camera, failed grabs and stale frames included.
    /// </summary>
    public int? DelayMs { get; init; }
    public bool BytesHeld { get; init; }
    public DateTimeOffset? UploadedAt { get; init; }
    public string? UploadError { get; init; }
    /// <summary>When retention deleted the object from S3; the row stays, the image answers 410.</summary>
    public DateTimeOffset? PurgedAt { get; init; }
    /// <summary>Base64 DER ECDSA signature over <see cref="CaptureSignature.Line(EvidenceRecord)"/>; null on failed rows.</summary>
    public string? Signature { get; init; }
    public string? KeyId { get; init; }
    /// <summary>Whether the system clock was synchronised when the capture was taken; null on rows older than the check.</summary>
    public bool? ClockSynchronized { get; init; }

    /// <summary>A DURING_OPEN frame's number in its session, from 1 with no gap among stored frames; null on other tags.</summary>
    public int? Sequence { get; init; }

    public bool IsCaptured => Status == CaptureStatus.Captured;

    /// <summary><c>evidence/{container}/{session}/{TAG}_{yyyyMMddTHHmmss}_{first 8 hex of id}.jpg</c>, UTC.</summary>
    public static string ObjectKeyFor(string containerId, string sessionId, CaptureTag tag, DateTimeOffset capturedAt, Guid evidenceId) =>
        $"evidence/{containerId}/{sessionId}/{EvidenceNames.Of(tag)}_{capturedAt.UtcDateTime:yyyyMMdd'T'HHmmss}_{evidenceId.ToString("N")[..8]}.jpg";

    /// <summary>
    /// <c>evidence/{container}/{session}/DURING_OPEN_{sequence, 4 digits or more}_{yyyyMMddTHHmmss}_{first 8 hex of id}.jpg</c>:
    /// frames come several a second, and the id's first 8 hex (its time in ms, top bits) only change every 65 s, so
    /// the number keeps keys apart and lists them in order.
    /// </summary>
    public static string FrameKeyFor(string containerId, string sessionId, int sequence, DateTimeOffset capturedAt, Guid evidenceId) =>
        $"evidence/{containerId}/{sessionId}/{EvidenceNames.Of(CaptureTag.DuringOpen)}_{sequence:D4}_{capturedAt.UtcDateTime:yyyyMMdd'T'HHmmss}_{evidenceId.ToString("N")[..8]}.jpg";

    /// <summary>
    /// Where the capture goes when its key holds an object this agent did not write: the same name with the whole
    /// evidence id (UUIDv7, unique to this capture), then also with the sha256's first 16 hex; null when both are taken.
    /// Built from the row alone, so a retry after a crash arrives at the same key.
    /// </summary>
    public string? NextKeyAfterCollision()
    {
        var stem = $"evidence/{ContainerId}/{SessionId}/{EvidenceNames.Of(Tag)}_{CapturedAt.UtcDateTime:yyyyMMdd'T'HHmmss}_{EvidenceId:N}";
        string[] candidates = [stem + ".jpg", $"{stem}_{Sha256![..16]}.jpg"];
        var at = Array.IndexOf(candidates, ObjectKey);
        return at + 1 < candidates.Length ? candidates[at + 1] : null;
    }
}
