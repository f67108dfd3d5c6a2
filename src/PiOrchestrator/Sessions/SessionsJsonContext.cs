using System.Text.Json.Serialization;
using PiOrchestrator.Http;

namespace PiOrchestrator.Sessions;

/// <summary>Source-generated JSON for the session answers and door alerts (same rules as <see cref="HttpJsonContext"/>).</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    Converters = [typeof(UtcDateTimeConverter)])]
[JsonSerializable(typeof(ApiEnvelope<SessionDto>))]
[JsonSerializable(typeof(ApiEnvelope<SessionListDto>))]
[JsonSerializable(typeof(DoorAlert))]
[JsonSerializable(typeof(OpenSessionRequest))]
[JsonSerializable(typeof(EndSessionRequest))]
public sealed partial class SessionsJsonContext : JsonSerializerContext;
