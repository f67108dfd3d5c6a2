using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Options;

namespace PiOrchestrator.Capture;

/// <summary>
/// Tells a fresh frame from a stale one by the camera's own clock. CameraWebServer sends each frame's time since the
/// camera booted as <c>X-Timestamp</c> (app_httpd.cpp, capture_handler); esp32-camera stamps a frame when it arrives
/// (driver/cam_hal.c). A board without PSRAM has one frame buffer, grabbed when empty (CAMERA_GRAB_WHEN_EMPTY): the
/// frame a grab gets was taken right after the previous grab gave its buffer back, so after a quiet minute it is a
/// minute old. A board with PSRAM keeps two buffers and hands out the latest (CAMERA_GRAB_LATEST): fresh.
/// <para>
/// Between two grabs of one camera, the agent's clock and the camera's advance alike, so the difference between
/// (request interval on the agent's monotonic clock) and (frame-time interval on the camera's) is how much older the
/// second frame is than the first. A frame older than Capture:StaleFrameMs is stale; a frame grabbed right after one
/// of the agent's own grabs is fresh on either kind of board.
/// </para>
/// </summary>
public sealed class FrameFreshness(IOptions<CaptureOptions> options, ILogger<FrameFreshness> log)
{
    public enum Buffers { Unknown, One, Two }

    public enum Verdict { Fresh, Stale, Unknown }

    /// <summary>How far two quartz clocks may drift apart per second (ESP32 and Pi crystals are within ±50 ppm).</summary>
    private const double DriftPerSecond = 100e-6;

    private sealed class Camera
    {
        public Buffers Kind;
        public Grab? Last;
    }

    private sealed record Grab(long RequestedAt, long AnsweredAt, double TakenAt, bool Fresh);

    private readonly ConcurrentDictionary<string, Camera> _cameras = new(StringComparer.Ordinal);
    private readonly double _tolerance = options.Value.StaleFrameMs / 1000.0;

    public Buffers KindOf(string cameraUrl) => _cameras.TryGetValue(cameraUrl, out var camera) ? camera.Kind : Buffers.Unknown;

    /// <summary>
    /// Judges a frame just received. <paramref name="followsOwnGrab"/>: the agent's previous grab of this camera ended
    /// just before this one was asked for, within the same capture.
    /// </summary>
    public Verdict Observe(string cameraUrl, string cameraId, GrabResult grab, bool followsOwnGrab)
    {
        var camera = _cameras.GetOrAdd(cameraUrl, _ => new Camera());
        lock (camera)
        {
            var verdict = Judge(camera, grab, followsOwnGrab, out var kind);
            if (kind != camera.Kind)
            {
                if (kind == Buffers.One)
                    log.LogInformation("Camera {CameraId} serves the frame taken at its previous grab (one frame buffer, no PSRAM): each capture throws the first frame away", cameraId);
                else if (kind == Buffers.Two)
                    log.LogInformation("Camera {CameraId} serves fresh frames (two frame buffers, PSRAM): one grab per capture", cameraId);
                camera.Kind = kind;
            }
            camera.Last = grab.FrameTakenAt is { } taken ? new Grab(grab.RequestedAt, grab.AnsweredAt, taken, verdict == Verdict.Fresh) : null;
            return verdict;
        }
    }

    private Verdict Judge(Camera camera, GrabResult grab, bool followsOwnGrab, out Buffers kind)
    {
        kind = camera.Kind;
        var ownFollowUp = followsOwnGrab ? Verdict.Fresh : Verdict.Unknown;
        // No camera clock (other firmware), no earlier frame, or the camera rebooted (its clock went back).
        if (grab.FrameTakenAt is not { } taken || camera.Last is not { } last || taken < last.TakenAt) return ownFollowUp;

        var requestGap = Stopwatch.GetElapsedTime(last.RequestedAt, grab.RequestedAt).TotalSeconds;
        var tolerance = _tolerance + requestGap * DriftPerSecond;
        var olderThanLast = requestGap - (taken - last.TakenAt);
        if (olderThanLast > tolerance)
        {
            kind = Buffers.One;
            return Verdict.Stale;
        }
        if (olderThanLast < -tolerance)
        {
            // The earlier frame was the stale one; this one, taken after it was handed back, is fresh.
            kind = Buffers.One;
            return Verdict.Fresh;
        }
        if (!last.Fresh) return ownFollowUp;
        // As fresh as a fresh frame, after a pause in which a one-buffer camera's frame would have gone stale.
        if (Stopwatch.GetElapsedTime(last.AnsweredAt, grab.RequestedAt).TotalSeconds > 2 * tolerance) kind = Buffers.Two;
        return Verdict.Fresh;
    }
}
