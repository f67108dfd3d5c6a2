using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace PiOrchestrator.Capture;

public sealed class CaptureOptions
{
    /// <summary>Wait after <c>closed</c> before AFTER_CLOSE, for the door and light to settle.</summary>
    [Range(0, 600_000)]
    public int AfterCloseDelayMs { get; set; } = 1500;

    /// <summary>Deadline for one capture, all attempts included.</summary>
    [Range(100, 120_000)]
    public int TimeoutMs { get; set; } = 5000;

    /// <summary>Limit for one HTTP grab (a flush grab or the real one), inside the overall deadline.</summary>
    [Range(50, 60_000)]
    public int AttemptTimeoutMs { get; set; } = 2000;

    [Range(1, 10)]
    public int Attempts { get; set; } = 3;

    /// <summary>How often each camera's <c>/status</c> is polled; 0 turns polling off.</summary>
    [Range(0, 3600)]
    public int HealthIntervalSeconds { get; set; } = 30;

    /// <summary>Unreachable captures in a row after which a camera gets one attempt per capture instead of <see cref="Attempts"/>.</summary>
    [Range(1, 100)]
    public int BreakAfterFailures { get; set; } = 3;

    /// <summary>
    /// The largest frame a camera may declare. The ESP32-CAM's largest frame size is QSXGA 2560x1920 (an OV5640
    /// module; the common OV2640 stops at UXGA 1600x1200); anything bigger is refused before it is decoded.
    /// </summary>
    [Range(16, 16384)]
    public int MaxWidth { get; set; } = 2560;

    [Range(16, 16384)]
    public int MaxHeight { get; set; } = 1920;

    /// <summary>Test captures (POST …/captures) each container may take per hour after a burst of 5; 0 = no limit.</summary>
    [Range(0, 100_000)]
    public int ManualCapturesPerHour { get; set; } = 60;

    /// <summary>Grabs thrown away before the real one: with one frame buffer the first frame after idle is old.</summary>
    [Range(0, 10)]
    public int FlushFrames { get; set; } = 1;
}

/// <summary>The attribute checks of <see cref="CaptureOptions"/>, generated at compile time (no reflection, safe to trim).</summary>
[OptionsValidator]
internal sealed partial class CaptureOptionsAnnotations : IValidateOptions<CaptureOptions>
{
}
