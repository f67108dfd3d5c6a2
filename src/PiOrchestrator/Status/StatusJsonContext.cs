using System.Text.Json.Serialization;
using PiOrchestrator.Http;

namespace PiOrchestrator.Status;

/// <summary>Source-generated JSON for status and the probes (same rules as <see cref="HttpJsonContext"/>).</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    Converters = [typeof(UtcDateTimeConverter)])]
[JsonSerializable(typeof(ApiEnvelope<StatusDto>))]
[JsonSerializable(typeof(ApiEnvelope<HealthDto>))]
public sealed partial class StatusJsonContext : JsonSerializerContext;
