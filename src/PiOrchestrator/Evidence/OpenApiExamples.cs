using System.Text.Json;
using PiOrchestrator.Http;
using PiOrchestrator.Store;

namespace PiOrchestrator.Evidence;

/// <summary>
/// The seed 001 contract's examples for the document, made from the DTO types and written by the API's own
/// serializer, so they always have the fields and formats the agent sends (UUIDv7 ids: the seed's are malformed).
/// </summary>
public static class OpenApiExamples
{
    private static readonly DateTimeOffset QueriedAt = new(2026, 2, 20, 10, 10, 0, TimeSpan.Zero);

    private static CaptureDto Before(bool withImage) => new()
    {
        EvidenceId = "019c7b2e-5e48-7cde-8f01-23456789abcd",
        CaptureTag = "BEFORE_OPEN",
        Status = "captured",
        DeviceId = "espcam-a1b2c3",
        ContainerId = "ctr-001",
        SessionId = "sess-abc123",
        CreatedAt = new(2026, 2, 20, 10, 0, 5, TimeSpan.Zero),
        CapturedAt = new(2026, 2, 20, 10, 0, 5, TimeSpan.Zero),
        ImageData = withImage ? "/9j/4AAQSkZJRg==" : null,
        ContentType = "image/jpeg",
        ImageSizeBytes = 245760,
        ObjectKey = "evidence/ctr-001/sess-abc123/BEFORE_OPEN_20260220T100005_019c7b2e.jpg",
        UploadStatus = "uploaded",
        Sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        Width = 1600,
        Height = 1200,
    };

    private static CaptureDto After() => Before(false) with
    {
        EvidenceId = "019c7b2f-e1c8-7321-8fed-cba987654321",
        CaptureTag = "AFTER_CLOSE",
        CreatedAt = new(2026, 2, 20, 10, 1, 45, TimeSpan.Zero),
        CapturedAt = new(2026, 2, 20, 10, 1, 45, TimeSpan.Zero),
        ImageSizeBytes = 251904,
        ObjectKey = "evidence/ctr-001/sess-abc123/AFTER_CLOSE_20260220T100145_019c7b2f.jpg",
        Sha256 = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752",
    };

    public static string EvidenceList() => JsonSerializer.Serialize(new ApiEnvelope<SessionEvidenceDto>(
        new SessionEvidenceDto("sess-abc123", "ctr-001", [Before(true), After()], new EvidenceSummaryDto(2, 2, 0, true, true, true, 0)), QueriedAt),
        EvidenceJsonContext.Default.ApiEnvelopeSessionEvidenceDto);

    public static string CompletePair() => JsonSerializer.Serialize(new ApiEnvelope<EvidencePairDto>(new EvidencePairDto
    {
        SessionId = "sess-abc123",
        ContainerId = "ctr-001",
        PairStatus = "complete",
        Before = Before(true),
        After = After(),
        QueriedAt = QueriedAt,
    }, QueriedAt), EvidenceJsonContext.Default.ApiEnvelopeEvidencePairDto);

    public static string IncompletePair() => JsonSerializer.Serialize(new ApiEnvelope<EvidencePairDto>(new EvidencePairDto
    {
        SessionId = "sess-def456",
        ContainerId = "ctr-002",
        PairStatus = "incomplete",
        Before = Before(false) with { SessionId = "sess-def456", ContainerId = "ctr-002", ObjectKey = "evidence/ctr-002/sess-def456/BEFORE_OPEN_20260220T100005_019c7b2e.jpg" },
        After = new CaptureDto { CaptureTag = "AFTER_CLOSE", Status = "pending", MissingReason = MissingReason.SessionInProgress },
        QueriedAt = QueriedAt,
        RetryAfterSeconds = 30,
    }, QueriedAt), EvidenceJsonContext.Default.ApiEnvelopeEvidencePairDto);

    public static string NotFound() => JsonSerializer.Serialize(
        new ApiErrorEnvelope(new ApiError("not_found", "session sess-zzz not found"), QueriedAt), HttpJsonContext.Default.ApiErrorEnvelope);
}
