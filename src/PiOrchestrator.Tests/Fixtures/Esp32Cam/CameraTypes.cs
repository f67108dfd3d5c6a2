namespace PiOrchestrator.Tests.Fixtures;

public enum CameraMode
{
    Healthy,
    /// <summary>One frame buffer: each grab returns the frame taken after the previous grab (as <see cref="FakeCamera.Psram"/> = false).</summary>
    StaleFirst,
    /// <summary>Answers 500 at once and closes, without the LED wait or the grab's 4 s (a failed grab is <see cref="FakeCamera.FailNextGrabs"/>).</summary>
    Http500,
    /// <summary>Reads the request and never answers; the one server task is stuck, so every other request waits, until this client leaves.</summary>
    Hang,
    /// <summary>Frame cut short (no EOI), Content-Length matches what is sent: a frame bigger than the buffer.</summary>
    TruncatedNoEoi,
    /// <summary>Announces the whole frame, sends part of it, then drops the connection.</summary>
    ShortBody,
    /// <summary>Cut inside the scan data with FF D9 appended: markers pass, the decode must not.</summary>
    CutWithFakeEoi,
    NoSoi,
    Garbage,
    /// <summary>Waits <see cref="FakeCamera.SlowDelay"/> before the LED and the grab (the task is held; it gives up if the client leaves).</summary>
    Slow,
    /// <summary>Serves <see cref="FakeCamera.CustomFrame"/> as it is.</summary>
    Custom,
    /// <summary>Answers 302 with <see cref="FakeCamera.RedirectTo"/> as Location.</summary>
    Redirect,
}

/// <summary>
/// The firmware build, which sets esp_http_server's limits and texts. esp-idf components/esp_http_server/Kconfig:
/// HTTPD_MAX_URI_LEN 512 everywhere; HTTPD_MAX_REQ_HDR_LEN 512 up to v5.4, 1024 from v5.5; arduino-esp32 builds set
/// 1024 (esp32-arduino-lib-builder configs/defconfig.common). Error texts: httpd_txrx.c httpd_resp_send_err.
/// </summary>
public enum CameraFirmware
{
    /// <summary>ESP-IDF 4.4: 512-byte headers, "This URI does not exist".</summary>
    Idf44,
    /// <summary>ESP-IDF 5.0 to 5.4: 512-byte headers, "Nothing matches the given URI".</summary>
    Idf5,
    /// <summary>ESP-IDF 5.5: 1024-byte headers; the request line is read into a scratch of max_uri_len (httpd_parse.c init_req_aux).</summary>
    Idf55,
    /// <summary>arduino-esp32 2.x (IDF 4.4 with CONFIG_HTTPD_MAX_REQ_HDR_LEN=1024): 4.4 texts, 1024-byte scratch.</summary>
    Arduino2,
    /// <summary>arduino-esp32 3.3 (IDF 5.5, 1024-byte headers): the CameraWebServer example as built today.</summary>
    Arduino3,
}

/// <summary>esp32-camera driver/include/sensor.h framesize_t, same order and values.</summary>
public enum FrameSize
{
    Size96x96, QQVGA, Size128x128, QCIF, HQVGA, Size240x240, QVGA, Size320x320, CIF, HVGA, VGA, SVGA, XGA, HD, SXGA, UXGA,
    FHD, PortraitHD, Portrait3MP, QXGA,
    QHD, WQXGA, PortraitFHD, QSXGA, FiveMP,
}

/// <summary>esp32-camera driver/include/sensor.h pixformat_t, same order and values.</summary>
public enum SensorPixelFormat { RGB565, YUV422, YUV420, Grayscale, Jpeg, RGB888, Raw, RGB444, RGB555, Raw8 }

public static class FrameSizes
{
    /// <summary>esp32-camera driver/sensor.c resolution[], indexed by <see cref="FrameSize"/>.</summary>
    public static readonly IReadOnlyList<(int Width, int Height)> Dimensions =
    [
        (96, 96), (160, 120), (128, 128), (176, 144), (240, 176), (240, 240), (320, 240), (320, 320), (400, 296), (480, 320),
        (640, 480), (800, 600), (1024, 768), (1280, 720), (1280, 1024), (1600, 1200),
        (1920, 1080), (720, 1280), (864, 1536), (2048, 1536),
        (2560, 1440), (2560, 1600), (1088, 1920), (2560, 1920), (2592, 1944),
    ];

    public static (int Width, int Height) Of(FrameSize size) => Dimensions[(int)size];

    /// <summary>The driver's JPEG frame buffer: cam_hal.c cam_init, recv_size = width * height / 5 (CAMERA_JPEG_MODE_FRAME_SIZE_AUTO).</summary>
    public static int JpegBufferBytes(FrameSize size) => Of(size).Width * Of(size).Height / 5;

    /// <summary>
    /// The size of the frames served: width * height / 8 bytes (one bit a pixel), what an OV2640 gives for a scene
    /// with detail at the example's quality 10-12 (about 240 KB at UXGA, 10 KB at QVGA), well under the driver's buffer.
    /// </summary>
    public static int TypicalJpegBytes(FrameSize size) => Of(size).Width * Of(size).Height / 8;
}

/// <summary>One complete frame served by /capture. Stale: taken before the request arrived (a one-buffer board).</summary>
public sealed record ServedFrame(
    string Sha256, int Length, FrameSize Size, DateTimeOffset RequestedAt, DateTimeOffset CapturedAt, DateTimeOffset ServedAt,
    TimeSpan CapturedSinceBoot, string XTimestamp)
{
    public bool Stale => CapturedAt < RequestedAt;
}
