using System.Text.Json.Serialization;
using PiOrchestrator.Evidence;
using PiOrchestrator.Sessions;

namespace PiOrchestrator.Api;

/// <summary>Source-generated JSON for every answer: snake_case, UTC timestamps with Z, no reflection at run time.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    Converters = [typeof(UtcDateTimeConverter)])]
[JsonSerializable(typeof(ApiErrorEnvelope))]
[JsonSerializable(typeof(ApiEnvelope<SessionEvidenceDto>))]
[JsonSerializable(typeof(SessionEvidenceDto))]
[JsonSerializable(typeof(ApiEnvelope<EvidencePairDto>))]
[JsonSerializable(typeof(ApiEnvelope<SessionDto>))]
[JsonSerializable(typeof(ApiEnvelope<SessionListDto>))]
[JsonSerializable(typeof(ApiEnvelope<StatusDto>))]
[JsonSerializable(typeof(ApiEnvelope<HealthDto>))]
[JsonSerializable(typeof(CaptureDto))]
[JsonSerializable(typeof(DoorAlert))]
[JsonSerializable(typeof(ApiEnvelope<CaptureDto>))]
[JsonSerializable(typeof(ApiEnvelope<EvidenceDownloadDto>))]
[JsonSerializable(typeof(ApiEnvelope<SessionVerificationDto>))]
[JsonSerializable(typeof(ApiEnvelope<DeviceDto>))]
public sealed partial class AppJsonContext : JsonSerializerContext;
