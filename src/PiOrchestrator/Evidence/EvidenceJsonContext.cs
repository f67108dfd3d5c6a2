using System.Text.Json.Serialization;
using PiOrchestrator.Http;

namespace PiOrchestrator.Evidence;

/// <summary>Source-generated JSON for the evidence answers and the capture events (same rules as <see cref="HttpJsonContext"/>).</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    Converters = [typeof(UtcDateTimeConverter)])]
[JsonSerializable(typeof(ApiEnvelope<SessionEvidenceDto>))]
[JsonSerializable(typeof(SessionEvidenceDto))]
[JsonSerializable(typeof(ApiEnvelope<EvidencePairDto>))]
[JsonSerializable(typeof(CaptureDto))]
[JsonSerializable(typeof(ApiEnvelope<CaptureDto>))]
[JsonSerializable(typeof(ApiEnvelope<EvidenceDownloadDto>))]
[JsonSerializable(typeof(ApiEnvelope<SessionVerificationDto>))]
[JsonSerializable(typeof(ApiEnvelope<DeviceDto>))]
[JsonSerializable(typeof(ApiEnvelope<AuditListDto>))]
[JsonSerializable(typeof(AuditEventDto))]
public sealed partial class EvidenceJsonContext : JsonSerializerContext;
