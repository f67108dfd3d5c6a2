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
    [AllowedValues(MissingReason.SessionInProgress, MissingReason.NoOpenEvent, MissingReason.CaptureFailed, MissingReason.CameraOffline, MissingReason.DoorLeftOpen,
        MissingReason.NoDoorCycle, MissingReason.EndedWithoutCapture)]
    public string? BeforeMissingReason { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public DateTimeOffset? DoorLeftOpenAt { get; init; }
    /// <summary>Why the AFTER_CLOSE side will never exist: a test capture's session, or one ended without it.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    [AllowedValues(MissingReason.SessionInProgress, MissingReason.NoOpenEvent, MissingReason.CaptureFailed, MissingReason.CameraOffline, MissingReason.DoorLeftOpen,
        MissingReason.NoDoorCycle, MissingReason.EndedWithoutCapture)]
    public string? AfterMissingReason { get; init; }
    /// <summary>What the person who opened an inspection session wrote (null on a door's session).</summary>
    public string? Notes { get; init; }
    /// <summary>Who opened an inspection session, a name or an email (null when a door opened it).</summary>
    public string? OpenedBy { get; init; }
    /// <summary>Who ended the session on request (admin: the holder of Api:Key), null when its door ended it.</summary>
    public string? EndedBy { get; init; }
    /// <summary>Why it was ended on request, as given (null when no reason was given or the door ended it).</summary>
    public string? EndReason { get; init; }
    /// <summary>When the session was made: its first door event, or the request that opened it.</summary>
    public required DateTimeOffset CreatedAt { get; init; }
    /// <summary>The latest of its own times (opened, closed, flagged, ended, completed).</summary>
    public required DateTimeOffset UpdatedAt { get; init; }
}

/// <summary>The body of POST /api/v1/containers/{containerId}/sessions.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record OpenSessionRequest
{
    /// <summary>What the inspection is for (a claim, an audit): at most 1000 characters, no control characters but line breaks and tabs.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] [StringLength(SessionInputs.MaxNotes)] public string? Notes { get; init; }
    /// <summary>The operator's name or email (required): 1-254 letters, digits and . @ _ + ' -, single spaces between words.</summary>
    [StringLength(SessionInputs.MaxOpenedBy, MinimumLength = 1)] public string OpenedBy { get; init; } = "";
    /// <summary>An id of the site's own for the session (the rule of session ids); made here when left out.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] [StringLength(128)] public string? SessionId { get; init; }
}

/// <summary>The optional body of POST /api/v1/sessions/{sessionId}/end.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record EndSessionRequest
{
    /// <summary>Why it is ended (a stuck door sensor, …): at most 500 characters, no control characters but line breaks and tabs.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] [StringLength(SessionInputs.MaxReason)] public string? Reason { get; init; }
    /// <summary>Take AFTER_CLOSE before completing, as the door's close would (default true); false when the camera cannot show a closed door.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public bool? AfterClose { get; init; }
}

public sealed record SessionListDto(IReadOnlyList<SessionDto> Sessions, bool HasMore, string? NextCursor);

/// <summary>ca_sha256: SHA-256 (hex) of the TSA's CA the token was checked against when it arrived, kept with it.</summary>
public sealed record SessionTimestampDto([property: AllowedValues("ok", "pending", "failed", "none")] string Status, DateTimeOffset? GenTime, string? Tsa,
    [property: RegularExpression("^[0-9a-f]{64}$")] string? CaSha256);
