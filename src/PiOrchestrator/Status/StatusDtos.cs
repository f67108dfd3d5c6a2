using System.ComponentModel.DataAnnotations;
using PiOrchestrator.Sessions;

namespace PiOrchestrator.Status;

/// <summary><c>Setup</c>: what an unconfigured agent still needs, one setting per line (empty once it is set up).</summary>
public sealed record StatusDto(
    string Version,
    DateTimeOffset StartedAt,
    long UptimeSeconds,
    MqttStatusDto Mqtt,
    StoreStatusDto Store,
    UploadQueueDto Upload,
    CacheStatusDto Cache,
    IReadOnlyList<ContainerStatusDto> Containers,
    ClockStatusDto Clock,
    IReadOnlyList<string> Setup);

/// <summary>Whether the system clock is NTP-synchronised now; captures taken while it is not say so.</summary>
public sealed record ClockStatusDto(bool Synchronized, string Source);

public sealed record MqttStatusDto([property: AllowedValues("disabled", "connecting", "connected", "disconnected")] string State, bool Connected, string Broker, DateTimeOffset? Since, string? LastError, long MessagesReceived, long EventsRejected);

/// <summary><c>DiskFull</c>: the data disk has no room; new photos are refused until it has (see Storage:DiskReserveKilobytes).</summary>
public sealed record StoreStatusDto(bool Ok, string DataDirectory, bool DiskFull);

public sealed record UploadQueueDto(
    long QueueDepth,
    DateTimeOffset? OldestPendingAt,
    long? OldestPendingAgeSeconds,
    bool S3Configured,
    bool? S3Reachable,
    string? Bucket,
    long UploadedSinceStart,
    DateTimeOffset? LastSuccessAt,
    string? LastError,
    DateTimeOffset? LastErrorAt,
    long KeyCollisions = 0,
    KeyCollisionDto? LastKeyCollision = null);

/// <summary>
/// A capture whose object key already held an object this agent did not write: that object was left as it was, the
/// capture stored at <c>StoredKey</c> (its row's object_key now).
/// </summary>
public sealed record KeyCollisionDto(Guid EvidenceId, string ObjectKey, string Occupant, string StoredKey, DateTimeOffset At);

public sealed record CacheStatusDto(long Bytes, long LimitBytes);

/// <summary>
/// A camera as last seen. <c>state</c>: online (it answered), busy (connected, no answer: its one server task or all
/// its sockets are taken; still there, so <c>online</c> stays true), offline (no connection). <c>frame_buffers</c>: 1
/// when its frames are the ones taken at the previous grab, 2 when fresh, null until its X-Timestamp has told.
/// </summary>
public sealed record CameraStatusDto(bool? Online, DateTimeOffset? LastSeen, DateTimeOffset? Since, int? LastCaptureLatencyMs, string? LastError)
{
    [AllowedValues("unknown", "online", "busy", "offline")] public string State { get; init; } = "unknown";
    public string? FrameSize { get; init; }
    public int? FrameBuffers { get; init; }
    public int AttemptDeadlineMs { get; init; }
    public int CaptureDeadlineMs { get; init; }
}

public sealed record ContainerStatusDto(
    string Id, string CameraId, [property: AllowedValues("unknown", "open", "closed")] string Door, DateTimeOffset? DoorSince, string? CurrentSessionId, string? LastSessionId, CameraStatusDto Camera,
    DoorSensorDto? DoorSensor,
    DoorEventFloodDto? DoorEventFlood = null);

/// <summary>Set while the container's door events arrive faster than <c>LimitPerMinute</c>: since when, and how many since.</summary>
public sealed record DoorEventFloodDto(DateTimeOffset Since, long Events, int LimitPerMinute);

/// <summary>A GPIO door sensor's state: ok, or failed with libgpiod's reason.</summary>
public sealed record DoorSensorDto(string Chip, int Line, [property: AllowedValues("starting", "ok", "failed")] string State, string? Error, DateTimeOffset? Since);

/// <summary>Status: ok or unhealthy (healthz), ready or not_ready (readyz); checks: each loop or dependency and its state.</summary>
public sealed record HealthDto([property: AllowedValues("ok", "unhealthy", "ready", "not_ready")] string Status, IReadOnlyDictionary<string, string> Checks);
