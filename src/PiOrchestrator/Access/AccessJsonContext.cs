using System.Text.Json.Serialization;
using PiOrchestrator.Http;

namespace PiOrchestrator.Access;

/// <summary>Source-generated JSON for invites and joins (same rules as <see cref="HttpJsonContext"/>).</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    Converters = [typeof(UtcDateTimeConverter)])]
[JsonSerializable(typeof(MintInviteRequest))]
[JsonSerializable(typeof(ApiEnvelope<InviteMintedDto>))]
[JsonSerializable(typeof(ApiEnvelope<InviteListDto>))]
[JsonSerializable(typeof(ApiEnvelope<InviteDto>))]
[JsonSerializable(typeof(ApiEnvelope<JoinedDto>))]
public sealed partial class AccessJsonContext : JsonSerializerContext;
