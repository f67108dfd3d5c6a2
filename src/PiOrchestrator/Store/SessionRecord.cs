namespace PiOrchestrator.Store;

/// <summary>Where a session is in its door cycle, as persisted.</summary>
public enum SessionPhase { Open, Closing, Complete }

/// <summary>One door cycle of one container, as persisted.</summary>
public sealed record SessionRecord
{
    public required string SessionId { get; init; }
    public required string ContainerId { get; init; }
    public required SessionPhase Phase { get; init; }
    public required DateTimeOffset StartedAt { get; init; }
    public DateTimeOffset? OpenedAt { get; init; }
    public DateTimeOffset? ClosedAt { get; init; }
    public DateTimeOffset? AfterCloseDueAt { get; init; }
    public DateTimeOffset? CompletedAt { get; init; }
    /// <summary>Why the BEFORE_OPEN side can never exist (NO_OPEN_EVENT), when known at start.</summary>
    public string? BeforeMissingReason { get; init; }
    public string? ChainHead { get; init; }
    /// <summary>When the door had been open longer than Sessions:MaxOpenMinutes.</summary>
    public DateTimeOffset? DoorLeftOpenAt { get; init; }
    public long Revision { get; init; }
    /// <summary>Why the AFTER_CLOSE side can never exist, when known (a test capture's session, a session ended without it).</summary>
    public string? AfterMissingReason { get; init; }
    /// <summary>What the person who opened an inspection session wrote; null on a door's session.</summary>
    public string? Notes { get; init; }
    /// <summary>Who opened an inspection session (a name or an email); null when a door opened it.</summary>
    public string? OpenedBy { get; init; }
    /// <summary>Who ended the session on request, when, and why; null when the door (or nothing) ended it.</summary>
    public string? EndedBy { get; init; }
    public DateTimeOffset? EndedAt { get; init; }
    public string? EndReason { get; init; }
    /// <summary>Whether a good BEFORE_OPEN / AFTER_CLOSE exists (computed when read).</summary>
    public bool HasBefore { get; init; }
    public bool HasAfter { get; init; }
    public bool PairComplete => HasBefore && HasAfter;
    /// <summary>ok, pending or failed once the session is queued for an RFC 3161 time stamp; null when it is not.</summary>
    public string? TimestampStatus { get; init; }
    public DateTimeOffset? TimestampGenTime { get; init; }
    public string? TimestampTsa { get; init; }
    /// <summary>SHA-256 of the CA the stamp was checked against when it arrived.</summary>
    public string? TimestampCaSha256 { get; init; }

    public static string Of(SessionPhase phase) => phase switch
    {
        SessionPhase.Open => "open",
        SessionPhase.Closing => "closing",
        _ => "complete",
    };

    public static SessionPhase ParsePhase(string text) => text switch
    {
        "open" => SessionPhase.Open,
        "closing" => SessionPhase.Closing,
        _ => SessionPhase.Complete,
    };
}

/// <summary>A page of sessions, newest first, and where the next page starts.</summary>
public sealed record SessionPage(IReadOnlyList<SessionRecord> Sessions, bool HasMore, (long StartedMs, string SessionId)? Next);
