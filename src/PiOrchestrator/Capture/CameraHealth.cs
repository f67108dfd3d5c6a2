using System.Collections.Concurrent;

namespace PiOrchestrator.Capture;

/// <summary>What the agent last learned about each camera, for status and the technician's page.</summary>
public sealed class CameraHealth(TimeProvider time, ILogger<CameraHealth> log)
{
    public sealed record Snapshot(string CameraId, bool? Online, DateTimeOffset? LastSeen, DateTimeOffset? Since, int? LastCaptureLatencyMs, string? LastError)
    {
        public int UnreachableInARow { get; init; }
    }

    private readonly ConcurrentDictionary<string, Snapshot> _cameras = new(StringComparer.Ordinal);

    public Snapshot Get(string cameraId) => _cameras.GetValueOrDefault(cameraId) ?? new Snapshot(cameraId, null, null, null, null, null);

    /// <summary>The camera has been unreachable this many times running (captures and polls alike).</summary>
    public bool IsDown(string cameraId, int failures) => Get(cameraId) is { Online: false } s && s.UnreachableInARow >= failures;

    public void RecordSuccess(string cameraId, int? captureLatencyMs)
    {
        var now = time.GetUtcNow();
        var before = Get(cameraId);
        if (before.Online == false)
            log.LogInformation("Camera {CameraId} is back online (offline since {Since:u})", cameraId, before.Since);
        _cameras[cameraId] = before with
        {
            Online = true,
            LastSeen = now,
            Since = before.Online == true ? before.Since : now,
            LastCaptureLatencyMs = captureLatencyMs ?? before.LastCaptureLatencyMs,
            LastError = null,
            UnreachableInARow = 0,
        };
    }

    /// <summary>A failure; an unreachable camera is offline, a bad frame means it answered (so it is online).</summary>
    public void RecordFailure(string cameraId, string reason, bool unreachable)
    {
        var now = time.GetUtcNow();
        var before = Get(cameraId);
        var online = !unreachable;
        if (unreachable && before.Online != false)
            log.LogWarning("Camera {CameraId} is offline: {Reason}", cameraId, reason);
        _cameras[cameraId] = before with
        {
            Online = online,
            LastSeen = online ? now : before.LastSeen,
            Since = before.Online == online ? before.Since : now,
            LastError = reason,
            UnreachableInARow = unreachable ? before.UnreachableInARow + 1 : 0,
        };
    }
}
