namespace PiOrchestrator.Capture;

/// <summary>
/// The frame sizes an ESP32-CAM can be set to: esp32-camera's <c>framesize_t</c> (driver/include/sensor.h) with the
/// dimensions of its <c>resolution[]</c> table (driver/sensor.c), in the same order, so that the index a camera's
/// <c>/status</c> reports as <c>framesize</c> finds its entry.
/// </summary>
public static class CameraFrameSizes
{
    public readonly record struct FrameSize(string Name, int Width, int Height)
    {
        /// <summary>
        /// The most a JPEG frame of this size can be: esp32-camera sizes its JPEG frame buffer at width×height/5
        /// (driver/cam_hal.c, cam_config, CONFIG_CAMERA_JPEG_MODE_FRAME_SIZE_AUTO), and a frame never outgrows it.
        /// </summary>
        public int MaxJpegBytes => Width * Height / 5;
    }

    public static readonly IReadOnlyList<FrameSize> All =
    [
        new("96X96", 96, 96), new("QQVGA", 160, 120), new("128X128", 128, 128), new("QCIF", 176, 144),
        new("HQVGA", 240, 176), new("240X240", 240, 240), new("QVGA", 320, 240), new("320X320", 320, 320),
        new("CIF", 400, 296), new("HVGA", 480, 320), new("VGA", 640, 480), new("SVGA", 800, 600),
        new("XGA", 1024, 768), new("HD", 1280, 720), new("SXGA", 1280, 1024), new("UXGA", 1600, 1200),
        // 3 MP sensors (OV3660)
        new("FHD", 1920, 1080), new("P_HD", 720, 1280), new("P_3MP", 864, 1536), new("QXGA", 2048, 1536),
        // 5 MP sensors (OV5640)
        new("QHD", 2560, 1440), new("WQXGA", 2560, 1600), new("P_FHD", 1088, 1920), new("QSXGA", 2560, 1920),
        new("5MP", 2592, 1944),
    ];

    /// <summary>The largest of all: what a camera whose size is not known yet is assumed to send.</summary>
    public static FrameSize Largest => All[^1];

    public static int MaxWidth => All.Max(f => f.Width);

    public static int MaxHeight => All.Max(f => f.Height);

    public static FrameSize? ByIndex(int index) => index >= 0 && index < All.Count ? All[index] : null;

    /// <summary>By name as the firmware's page and sensor.h spell it (UXGA, QSXGA, 5MP), any case.</summary>
    public static FrameSize? ByName(string? name) =>
        All.FirstOrDefault(f => string.Equals(f.Name, name?.Trim(), StringComparison.OrdinalIgnoreCase)) is { Name: not null } found ? found : null;
}
