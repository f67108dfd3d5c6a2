namespace PiOrchestrator.Jpeg;

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

    /// <summary>
    /// Reads the frame header (SOFn) from the markers before the first scan, without decoding anything. The declared
    /// size and kind decide what a decode would cost: libjpeg-turbo allocates a whole-image coefficient buffer for a
    /// progressive frame and reads as many scans as it is given, so a 2 MB progressive 32768x32768 frame takes
    /// gigabytes. The ESP32-CAM only sends baseline frames; anything else is refused before the decoder runs.
    /// </summary>
    public static FrameHeaderCheck CheckFrameHeader(ReadOnlySpan<byte> frame, int maxWidth, int maxHeight)
    {
        var position = 2;
        while (position + 4 <= frame.Length)
        {
            if (frame[position] != 0xFF) return FrameHeaderCheck.Fail(CaptureFailure.CorruptJpeg, $"no marker at byte {position}");
            var marker = frame[position + 1];
            if (marker == 0xFF) { position++; continue; } // fill byte
            if (marker is 0x01 or (>= 0xD0 and <= 0xD7)) { position += 2; continue; } // markers without a length
            if (marker is 0xD9 or 0xDA) return FrameHeaderCheck.Fail(CaptureFailure.CorruptJpeg, "no frame header before the scan");
            var length = (frame[position + 2] << 8) | frame[position + 3];
            if (length < 2 || position + 2 + length > frame.Length)
                return FrameHeaderCheck.Fail(CaptureFailure.TruncatedJpeg, $"segment FF{marker:X2} runs past the end of the frame");
            if (marker is >= 0xC0 and <= 0xCF and not 0xC4 and not 0xC8 and not 0xCC)
            {
                if (length < 8) return FrameHeaderCheck.Fail(CaptureFailure.CorruptJpeg, "frame header too short");
                var height = (frame[position + 5] << 8) | frame[position + 6];
                var width = (frame[position + 7] << 8) | frame[position + 8];
                // SOF0 baseline and SOF1 extended sequential, Huffman-coded: decoded row by row in bounded memory.
                if (marker is not (0xC0 or 0xC1))
                    return FrameHeaderCheck.Fail(CaptureFailure.UnsupportedJpeg,
                        $"{(marker == 0xC2 ? "progressive" : "non-baseline")} JPEG (SOF{marker - 0xC0}, {width}x{height}): cameras send baseline frames");
                if (width == 0 || height == 0) return FrameHeaderCheck.Fail(CaptureFailure.CorruptJpeg, $"frame declares {width}x{height}");
                if (width > maxWidth || height > maxHeight)
                    return FrameHeaderCheck.Fail(CaptureFailure.TooLarge, $"frame declares {width}x{height}, over the {maxWidth}x{maxHeight} limit");
                return new FrameHeaderCheck(null, null, width, height);
            }
            position += 2 + length;
        }
        return FrameHeaderCheck.Fail(CaptureFailure.TruncatedJpeg, "frame ends before its frame header");
    }
}

/// <summary>What the markers before the first scan declare, or why the frame is refused (FailureReason set).</summary>
public readonly record struct FrameHeaderCheck(string? FailureReason, string? Detail, int Width, int Height)
{
    public bool Ok => FailureReason is null;
    public static FrameHeaderCheck Fail(string reason, string detail) => new(reason, detail, 0, 0);
}

/// <summary>The failure_reason values a failed capture row can carry.</summary>
public static class CaptureFailure
{
    /// <summary>The camera's answer began but did not finish within the attempt's deadline.</summary>
    public const string Timeout = "timeout";
    /// <summary>No TCP connection to the camera: it is away (power, Wi-Fi, address). The only reason that counts it offline.</summary>
    public const string Offline = "offline";
    /// <summary>What rows stored before <see cref="Offline"/> said for it.</summary>
    public const string LegacyCameraOffline = "camera_offline";
    /// <summary>Connected, but no answer: the camera's one server task is serving another client, or all its sockets are taken.</summary>
    public const string Busy = "busy";
    /// <summary>The camera answered 500: its sensor gave no frame (esp_camera_fb_get gave up after its 4 s).</summary>
    public const string GrabFailed = "grab_failed";
    /// <summary>Every frame the camera sent was older than its request (a camera whose clock says so, grab after grab).</summary>
    public const string StaleFrame = "stale_frame";
    public const string TruncatedJpeg = "truncated_jpeg";
    public const string NotAJpeg = "not_a_jpeg";
    public const string CorruptJpeg = "corrupt_jpeg";
    public const string EmptyFrame = "empty_frame";
    public const string TooLarge = "too_large";
    public const string UnsupportedJpeg = "unsupported_jpeg";
    /// <summary>A camera <c>/status</c> answer over <see cref="CameraClient.MaxStatusBytes"/>.</summary>
    public const string StatusTooLarge = "status_too_large";
    /// <summary>The camera spoke broken HTTP.</summary>
    public const string HttpError = "http_error";
    public const string StorageFailed = "storage_failed";
    public const string Interrupted = "interrupted";
    /// <summary>A test capture refused or given up because a door's capture needed the camera.</summary>
    public const string Preempted = "preempted";

    public static string Http(int status) => $"http_{status}";
}
