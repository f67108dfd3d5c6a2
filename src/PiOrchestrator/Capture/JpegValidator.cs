namespace PiOrchestrator.Capture;

/// <summary>Structural checks every stored frame must pass.</summary>
public static class JpegValidator
{
    /// <summary>Null when the bytes look like one whole JPEG, else the failure reason.</summary>
    public static string? CheckMarkers(ReadOnlySpan<byte> frame)
    {
        if (frame.IsEmpty) return CaptureFailure.EmptyFrame;
        // SOI: FF D8 FF. Bad ESP32-CAM modules send a frame without it.
        if (frame.Length < 4 || frame[0] != 0xFF || frame[1] != 0xD8 || frame[2] != 0xFF) return CaptureFailure.NotAJpeg;
        // EOI: FF D9. A frame bigger than the camera's buffer arrives cut off without it.
        if (frame[^2] != 0xFF || frame[^1] != 0xD9) return CaptureFailure.TruncatedJpeg;
        return null;
    }
}

/// <summary>The failure_reason values a failed capture row can carry.</summary>
public static class CaptureFailure
{
    public const string Timeout = "timeout";
    public const string CameraOffline = "camera_offline";
    public const string TruncatedJpeg = "truncated_jpeg";
    public const string NotAJpeg = "not_a_jpeg";
    public const string CorruptJpeg = "corrupt_jpeg";
    public const string EmptyFrame = "empty_frame";
    public const string TooLarge = "too_large";
    public const string StorageFailed = "storage_failed";
    public const string Interrupted = "interrupted";

    public static string Http(int status) => $"http_{status}";
}
