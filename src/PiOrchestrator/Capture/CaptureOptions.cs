using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace PiOrchestrator.Capture;

public sealed class CaptureOptions
{
    /// <summary>Wait after <c>closed</c> before AFTER_CLOSE, for the door and light to settle.</summary>
    [Range(0, 600_000)]
    public int AfterCloseDelayMs { get; set; } = 1500;

    /// <summary>
    /// Deadline for one capture, all attempts included, counted from when it was asked for. Unset: derived from the
    /// camera's timings (<see cref="CaptureDeadlines"/>), room for <see cref="Attempts"/> grabs that each may fail
    /// slowly plus one quick grab past a stale frame.
    /// </summary>
    [Range(100, 300_000)]
    public int? TimeoutMs { get; set; }

    /// <summary>
    /// Limit for one HTTP grab. Unset: derived, so that a grab is never abandoned while the camera's one server task
    /// may still be working on it (a retry would only queue behind it): the LED delay, the sensor's grab timeout, the
    /// largest frame of the camera's size over <see cref="LinkKbps"/>, and <see cref="AnswerMarginMs"/>.
    /// </summary>
    [Range(50, 120_000)]
    public int? AttemptTimeoutMs { get; set; }

    /// <summary>Grabs per capture that may fail (one failed grab still leaves a second try).</summary>
    [Range(1, 10)]
    public int Attempts { get; set; } = 2;

    /// <summary>
    /// How long the camera's sensor may take to give a frame before its firmware gives up and answers 500:
    /// esp32-camera's esp_camera_fb_get() waits 4 s (driver/esp_camera.c, FB_GET_TIMEOUT).
    /// </summary>
    [Range(0, 60_000)]
    public int CameraGrabTimeoutMs { get; set; } = 4000;

    /// <summary>CameraWebServer turns its LED on and waits this long before the grab (app_httpd.cpp, capture_handler).</summary>
    [Range(0, 10_000)]
    public int CameraLedDelayMs { get; set; } = 150;

    /// <summary>The camera's Wi-Fi link to the agent, in kbit/s, for the time a frame takes to arrive.</summary>
    [Range(100, 1_000_000)]
    public int LinkKbps { get; set; } = 8000;

    /// <summary>Room in each grab's deadline for connecting, the request, headers and a loaded Pi.</summary>
    [Range(0, 60_000)]
    public int AnswerMarginMs { get; set; } = 1000;

    /// <summary>A frame taken longer than this before it was asked for is stale and is never stored.</summary>
    [Range(100, 60_000)]
    public int StaleFrameMs { get; set; } = 1000;

    /// <summary>How often each camera's <c>/status</c> is polled; 0 turns polling off.</summary>
    [Range(0, 3600)]
    public int HealthIntervalSeconds { get; set; } = 30;

    /// <summary>Unreachable captures in a row after which a camera gets one attempt per capture instead of <see cref="Attempts"/>.</summary>
    [Range(1, 100)]
    public int BreakAfterFailures { get; set; } = 3;

    /// <summary>
    /// The largest frame a camera may declare. The defaults take every size esp32-camera can set
    /// (<see cref="CameraFrameSizes"/>: up to 5MP 2592x1944 on an OV5640, and portrait 1088x1920); anything bigger is
    /// refused before it is decoded.
    /// </summary>
    [Range(16, 16384)]
    public int MaxWidth { get; set; } = 2592;

    [Range(16, 16384)]
    public int MaxHeight { get; set; } = 1944;

    /// <summary>Test captures (POST …/captures) each container may take per hour after a burst of 5; 0 = no limit.</summary>
    [Range(0, 100_000)]
    public int ManualCapturesPerHour { get; set; } = 60;

    /// <summary>
    /// Seconds between timelapse frames (DURING_OPEN) while a session's door is open; 0 (the default) takes none.
    /// Fractions are allowed down to <see cref="TimelapseSchedule.ShortestInterval"/> (a camera's grab takes longer).
    /// A container's own <c>DuringOpenIntervalSeconds</c> overrides it.
    /// </summary>
    [Range(0, 3600)]
    public double DuringOpenIntervalSeconds { get; set; }

    /// <summary>Frames per session taken at the interval; each frame beyond waits twice as long as the one before.</summary>
    [Range(1, 100_000)]
    public int DuringOpenMaxFrames { get; set; } = 120;

    /// <summary>
    /// Grabs thrown away before the one stored. Unset (the default): none when the camera's <c>X-Timestamp</c> shows
    /// its frame is fresh (two frame buffers, as on a board with PSRAM), one when it shows the frame is the one taken
    /// at the previous grab (one buffer, no PSRAM), and one while that is not known yet. Set it only for firmware
    /// that sends no <c>X-Timestamp</c>.
    /// </summary>
    [Range(0, 10)]
    public int? FlushFrames { get; set; }
}

/// <summary>The attribute checks of <see cref="CaptureOptions"/>, generated at compile time (no reflection, safe to trim).</summary>
[OptionsValidator]
internal sealed partial class CaptureOptionsAnnotations : IValidateOptions<CaptureOptions>
{
}
