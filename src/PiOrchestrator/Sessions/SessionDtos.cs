using System.ComponentModel.DataAnnotations;
using System.Text.Json.Serialization;
using PiOrchestrator.Store;

namespace PiOrchestrator.Sessions;

public sealed record SessionDto
{
    public required string Id { get; init; }
    public required string ContainerId { get; init; }
    /// <summary>in_progress or complete.</summary>
    [AllowedValues("in_progress", "complete")] public required string Status { get; init; }
    public required DateTimeOffset StartedAt { get; init; }
    public DateTimeOffset? OpenedAt { get; init; }
    public DateTimeOffset? ClosedAt { get; init; }
    public DateTimeOffset? CompletedAt { get; init; }
    [AllowedValues("complete", "incomplete")] public required string PairStatus { get; init; }
    /// <summary>sha256 chain over the session's captures (null until the first one).</summary>
    [RegularExpression("^[0-9a-f]{64}$")] public string? ChainHead { get; init; }
    /// <summary>The chain head's RFC 3161 time stamp: status ok, pending, failed or none.</summary>
    public SessionTimestampDto Timestamp { get; init; } = new("none", null, null, null);
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    [AllowedValues(MissingReason.SessionInProgress, MissingReason.NoOpenEvent, MissingReason.CaptureFailed, MissingReason.CameraOffline, MissingReason.DoorLeftOpen)]
    public string? BeforeMissingReason { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public DateTimeOffset? DoorLeftOpenAt { get; init; }
}

public sealed record SessionListDto(IReadOnlyList<SessionDto> Sessions, bool HasMore, string? NextCursor);

/// <summary>ca_sha256: SHA-256 (hex) of the TSA's CA the token was checked against when it arrived, kept with it.</summary>
public sealed record SessionTimestampDto([property: AllowedValues("ok", "pending", "failed", "none")] string Status, DateTimeOffset? GenTime, string? Tsa,
    [property: RegularExpression("^[0-9a-f]{64}$")] string? CaSha256);
