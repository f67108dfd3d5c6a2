using System.Text.Json.Serialization;

namespace PiOrchestrator.Http;

/// <summary>Source-generated JSON for the error envelope every endpoint shares: snake_case, UTC timestamps with Z, no reflection at run time.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    Converters = [typeof(UtcDateTimeConverter)])]
[JsonSerializable(typeof(ApiErrorEnvelope))]
public sealed partial class HttpJsonContext : JsonSerializerContext;
