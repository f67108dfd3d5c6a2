using System.Text.Json.Serialization;

namespace PiOrchestrator.Sessions;

public sealed record SessionDto
{
    public required string Id { get; init; }
    public required string ContainerId { get; init; }
    /// <summary>in_progress or complete.</summary>
    public required string Status { get; init; }
    public required DateTimeOffset StartedAt { get; init; }
    public DateTimeOffset? OpenedAt { get; init; }
    public DateTimeOffset? ClosedAt { get; init; }
    public DateTimeOffset? CompletedAt { get; init; }
    public required string PairStatus { get; init; }
    public string? ChainHead { get; init; }
    /// <summary>The chain head's RFC 3161 time stamp: status ok, pending, failed or none.</summary>
    public SessionTimestampDto Timestamp { get; init; } = new("none", null, null);
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? BeforeMissingReason { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public DateTimeOffset? DoorLeftOpenAt { get; init; }
}

public sealed record SessionListDto(IReadOnlyList<SessionDto> Sessions, bool HasMore, string? NextCursor);

public sealed record SessionTimestampDto(string Status, DateTimeOffset? GenTime, string? Tsa);
