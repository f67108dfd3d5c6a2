using System.Collections.Concurrent;
using PiOrchestrator.Jpeg;

namespace PiOrchestrator.Capture;

/// <summary>What the agent last learned about each camera, for status, metrics and the technician's page.</summary>
public sealed class CameraHealth(TimeProvider time, ILogger<CameraHealth> log)
{
    /// <summary>online: it answered; busy: connected but no answer (still there); offline: no connection.</summary>
    public static class States
    {
        public const string Online = "online";
        public const string Busy = "busy";
        public const string Offline = "offline";
    }

    public sealed record Snapshot(string CameraId, bool? Online, DateTimeOffset? LastSeen, DateTimeOffset? Since, int? LastCaptureLatencyMs, string? LastError)
    {
        public int UnreachableInARow { get; init; }

        /// <summary>online, busy or offline; null before the camera was first tried.</summary>
        public string? State { get; init; }

        /// <summary>The frame size the camera's <c>/status</c> last named.</summary>
        public CameraFrameSizes.FrameSize? FrameSize { get; init; }
    }

    private readonly ConcurrentDictionary<string, Snapshot> _cameras = new(StringComparer.Ordinal);

    public Snapshot Get(string cameraId) => _cameras.GetValueOrDefault(cameraId) ?? new Snapshot(cameraId, null, null, null, null, null);

    /// <summary>The camera has been offline (no connection) this many times running, captures and polls alike.</summary>
    public bool IsDown(string cameraId, int failures) => Get(cameraId) is { State: States.Offline } s && s.UnreachableInARow >= failures;

    public void RecordSuccess(string cameraId, int? captureLatencyMs, CameraFrameSizes.FrameSize? frameSize = null)
    {
        var now = time.GetUtcNow();
        var before = Get(cameraId);
        if (before.State == States.Offline)
            log.LogInformation("Camera {CameraId} is back online (offline since {Since:u})", cameraId, before.Since);
        else if (before.State == States.Busy)
            log.LogInformation("Camera {CameraId} answers again (busy since {Since:u})", cameraId, before.Since);
        _cameras[cameraId] = before with
        {
            Online = true,
            State = States.Online,
            LastSeen = now,
            Since = before.State == States.Online ? before.Since : now,
            LastCaptureLatencyMs = captureLatencyMs ?? before.LastCaptureLatencyMs,
            LastError = null,
            UnreachableInARow = 0,
            FrameSize = frameSize ?? before.FrameSize,
        };
    }

    /// <summary>
    /// A failure. Only no connection (<see cref="CaptureFailure.Offline"/>) means the camera is away; connected without
    /// an answer is busy; any answer, a bad frame or a failed grab included, means it is there.
    /// </summary>
    public void RecordFailure(string cameraId, string reason)
    {
        var now = time.GetUtcNow();
        var before = Get(cameraId);
        var state = reason switch
        {
            CaptureFailure.Offline => States.Offline,
            CaptureFailure.Busy => States.Busy,
            _ => States.Online,
        };
        if (state != before.State)
        {
            if (state == States.Offline)
                log.LogWarning("Camera {CameraId} is offline: no connection to it", cameraId);
            else if (state == States.Busy)
                log.LogWarning("Camera {CameraId} is busy: connected but it does not answer (other clients such as a browser on its page or /stream may hold all its sockets)", cameraId);
        }
        _cameras[cameraId] = before with
        {
            Online = state != States.Offline,
            State = state,
            // Seen means it answered: a busy camera accepted a connection and said nothing.
            LastSeen = state == States.Online ? now : before.LastSeen,
            Since = before.State == state ? before.Since : now,
            LastError = reason,
            UnreachableInARow = state == States.Offline ? before.UnreachableInARow + 1 : 0,
        };
    }
}
