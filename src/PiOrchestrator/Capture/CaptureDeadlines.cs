using Microsoft.Extensions.Options;
using PiOrchestrator.Site;

namespace PiOrchestrator.Capture;

/// <summary>
/// How long one grab and one whole capture may take, from what the camera really does. CameraWebServer's
/// capture_handler turns the LED on, waits (Capture:CameraLedDelayMs), then asks esp32-camera for a frame, which gives
/// up after 4 s (Capture:CameraGrabTimeoutMs) and the handler answers 500; then the frame crosses the Wi-Fi link. The
/// firmware serves one request at a time (esp_http_server's single task), so a grab abandoned early would leave its
/// handler running and a retry would wait behind it: a grab's deadline covers the slowest answer the camera can give.
/// </summary>
public readonly record struct CaptureDeadlines(TimeSpan Attempt, TimeSpan Capture, CameraFrameSizes.FrameSize FrameSize)
{
    public static CaptureDeadlines For(CaptureOptions options, CameraFrameSizes.FrameSize frameSize)
    {
        // The largest JPEG the camera can send at this size (its frame buffer), at the configured link speed.
        var transfer = TimeSpan.FromSeconds(frameSize.MaxJpegBytes * 8.0 / (options.LinkKbps * 1000.0));
        var quickGrab = TimeSpan.FromMilliseconds(options.CameraLedDelayMs + options.AnswerMarginMs) + transfer;
        var attempt = options.AttemptTimeoutMs is { } fixedAttempt
            ? TimeSpan.FromMilliseconds(fixedAttempt)
            : quickGrab + TimeSpan.FromMilliseconds(options.CameraGrabTimeoutMs);
        // Every allowed attempt may fail slowly, and one more quick grab replaces a stale frame.
        var capture = options.TimeoutMs is { } fixedCapture
            ? TimeSpan.FromMilliseconds(fixedCapture)
            : attempt * options.Attempts + quickGrab;
        return new CaptureDeadlines(attempt, capture, frameSize);
    }

    public override string ToString() =>
        $"{Attempt.TotalSeconds:F1} s per grab, {Capture.TotalSeconds:F1} s per capture at {FrameSize.Name} {FrameSize.Width}x{FrameSize.Height}";
}

/// <summary>A container's <c>FrameSize</c> must be one esp32-camera knows.</summary>
internal sealed class FrameSizeSettingCheck : IValidateOptions<SiteOptions>
{
    public ValidateOptionsResult Validate(string? name, SiteOptions options)
    {
        var problems = new List<string>();
        for (var i = 0; i < options.Containers.Count; i++)
            if (options.Containers[i].FrameSize is { } frameSize && CameraFrameSizes.ByName(frameSize) is null)
                problems.Add($"Containers:{i}:FrameSize '{frameSize}' is not an esp32-camera frame size ({string.Join(", ", CameraFrameSizes.All.Select(f => f.Name))})");
        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }
}
