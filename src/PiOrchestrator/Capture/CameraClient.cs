using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text.Json;
using PiOrchestrator.Jpeg;

namespace PiOrchestrator.Capture;

/// <summary>A frame as received, or why none could be had.</summary>
public readonly record struct GrabResult(byte[]? Frame, string? FailureReason, string? Detail, TimeSpan Latency)
{
    public bool Ok => Frame is not null;
    public int Width { get; init; }
    public int Height { get; init; }
    public byte[]? Thumbnail { get; init; }

    /// <summary>When the request went out and when the camera's answer began (<see cref="Stopwatch"/> ticks).</summary>
    public long RequestedAt { get; init; }

    public long AnsweredAt { get; init; }

    /// <summary>The frame's <c>X-Timestamp</c>: when the camera took it, in seconds since the camera booted.</summary>
    public double? FrameTakenAt { get; init; }
}

/// <summary>What a <c>/status</c> poll learned: nothing wrong (Reason null), or why not; and the frame size set.</summary>
public readonly record struct ProbeResult(string? Reason, int? FrameSizeIndex);

/// <summary>
/// HTTP to the ESP32-CAM CameraWebServer firmware (arduino-esp32 CameraWebServer/app_httpd.cpp): <c>GET /capture</c>
/// returns one JPEG, <c>GET /status</c> the sensor's settings.
/// </summary>
public sealed class CameraClient(HttpClient client, CameraConnections connections)
{
    /// <summary>The longest <c>X-Timestamp</c> read: the firmware prints it into a 32-byte buffer (capture_handler).</summary>
    private const int MaxTimestampLength = 32;

    public async Task<GrabResult> GrabAsync(Uri cameraUrl, int maxBytes, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var answered = 0L;
        // Whether a connection was up is read when the deadline falls, before HttpClient closes it on cancellation.
        using var http = new CancellationTokenSource();
        var connectedAtDeadline = false;
        using var deadline = cancellationToken.Register(() =>
        {
            connectedAtDeadline = connections.IsConnected(cameraUrl);
            http.Cancel();
        });
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(cameraUrl, "capture"));
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, http.Token);
            answered = Stopwatch.GetTimestamp();
            // Redirects are never followed (the handler is built so): a 3xx is a failure like any other answer.
            // The camera's own reason phrase is not repeated: status, page and log carry fixed words only.
            if ((int)response.StatusCode == 500)
                // capture_handler answers 500 when esp_camera_fb_get() gave up (after esp32-camera's 4 s) or the
                // frame would not convert; esp_http_server then closes the connection.
                return Failed(CaptureFailure.GrabFailed, "the camera answered 500: its sensor gave no frame");
            if (!response.IsSuccessStatusCode)
                return Failed(CaptureFailure.Http((int)response.StatusCode), $"camera answered HTTP {(int)response.StatusCode}");

            var announced = response.Content.Headers.ContentLength;
            if (announced > maxBytes)
                return Failed(CaptureFailure.TooLarge, $"camera announced {announced} bytes, over the {maxBytes}-byte limit");

            await using var body = await response.Content.ReadAsStreamAsync(http.Token);
            var frame = await ReadBoundedAsync(body, announced, maxBytes, http.Token);
            if (frame is null)
                return Failed(CaptureFailure.TooLarge, $"frame is over the {maxBytes}-byte limit");
            if (announced is { } length && frame.Length != length)
                return Failed(CaptureFailure.TruncatedJpeg, $"received {frame.Length} of {length} announced bytes");
            if (JpegValidator.CheckMarkers(frame) is { } reason)
                return Failed(reason, $"{frame.Length}-byte frame failed the JPEG marker check");
            return new GrabResult(frame, null, null, Stopwatch.GetElapsedTime(started))
            {
                RequestedAt = started,
                AnsweredAt = answered,
                FrameTakenAt = ParseTimestamp(response),
            };
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            if (answered != 0) return Failed(CaptureFailure.Timeout, "the camera's answer did not finish in time");
            return connectedAtDeadline
                ? Failed(CaptureFailure.Busy, "connected, but the camera did not answer: its server is serving someone else or has all its sockets taken")
                : Failed(CaptureFailure.Offline, "no connection to the camera in time");
        }
        catch (HttpRequestException ex) when (answered == 0 && IsUnreachable(ex))
        {
            return Failed(CaptureFailure.Offline, ex.Message);
        }
        catch (HttpRequestException ex) when (answered == 0)
        {
            return Failed(CaptureFailure.HttpError, $"the camera closed the connection without a valid answer ({ex.HttpRequestError})");
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException)
        {
            // HttpIOException included: the camera closed the connection before sending all it announced.
            return Failed(CaptureFailure.TruncatedJpeg, "the camera closed the connection mid-frame");
        }

        GrabResult Failed(string reason, string detail) =>
            new(null, reason, detail, Stopwatch.GetElapsedTime(started)) { RequestedAt = started, AnsweredAt = answered };
    }

    /// <summary>The most of a <c>/status</c> body read: the firmware's settings JSON is well under 1 KB.</summary>
    public const int MaxStatusBytes = 8 * 1024;

    /// <summary><c>GET /status</c>: whether the camera answered with its settings, and the frame size they name.</summary>
    public async Task<ProbeResult> ProbeAsync(Uri cameraUrl, CancellationToken cancellationToken)
    {
        using var http = new CancellationTokenSource();
        var connectedAtDeadline = false;
        using var deadline = cancellationToken.Register(() =>
        {
            connectedAtDeadline = connections.IsConnected(cameraUrl);
            http.Cancel();
        });
        try
        {
            // Headers first, then at most MaxStatusBytes of the body: GetAsync would buffer a body that never ends.
            using var response = await client.GetAsync(new Uri(cameraUrl, "status"), HttpCompletionOption.ResponseHeadersRead, http.Token);
            if (!response.IsSuccessStatusCode) return new(CaptureFailure.Http((int)response.StatusCode), null);
            await using var body = await response.Content.ReadAsStreamAsync(http.Token);
            var buffer = new byte[MaxStatusBytes];
            var read = 0;
            while (read < buffer.Length)
            {
                var n = await body.ReadAsync(buffer.AsMemory(read), http.Token);
                if (n == 0) return new(null, FrameSizeIn(buffer.AsSpan(0, read)));
                read += n;
            }
            return new(CaptureFailure.StatusTooLarge, null);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return new(connectedAtDeadline ? CaptureFailure.Busy : CaptureFailure.Offline, null);
        }
        catch (HttpRequestException ex)
        {
            return new(IsUnreachable(ex) ? CaptureFailure.Offline : CaptureFailure.HttpError, null);
        }
        catch (IOException)
        {
            return new(CaptureFailure.HttpError, null);
        }
    }

    /// <summary>status_handler's <c>"framesize"</c>: the index of the frame size set (framesize_t); null if absent or odd.</summary>
    internal static int? FrameSizeIn(ReadOnlySpan<byte> json)
    {
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 4 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isFrameSize = reader.ValueTextEquals("framesize"u8);
                if (!reader.Read()) return null;
                if (isFrameSize)
                    return reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out var index) && CameraFrameSizes.ByIndex(index) is not null ? index : null;
                reader.Skip();
            }
        }
        catch (JsonException)
        {
        }
        return null;
    }

    /// <summary>
    /// <c>X-Timestamp</c> as capture_handler writes it, <c>"%d.%06d"</c> of the frame buffer's timestamp (seconds and
    /// microseconds since the camera booted, set by esp32-camera when the frame arrived). Anything else is ignored.
    /// </summary>
    internal static double? ParseTimestamp(HttpResponseMessage response)
    {
        if (!response.Headers.TryGetValues("X-Timestamp", out var values)) return null;
        var value = values.FirstOrDefault();
        if (value is null || value.Length > MaxTimestampLength) return null;
        foreach (var c in value)
            if (c is not ((>= '0' and <= '9') or '.')) return null;
        return double.TryParse(value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var seconds) && seconds is >= 0 and < 1e9
            ? seconds
            : null;
    }

    private static async Task<byte[]?> ReadBoundedAsync(Stream body, long? announced, int maxBytes, CancellationToken ct)
    {
        if (announced is { } exact)
        {
            var buffer = new byte[exact];
            var read = 0;
            while (read < buffer.Length)
            {
                var n = await body.ReadAsync(buffer.AsMemory(read), ct);
                if (n == 0) return buffer[..read];
                read += n;
            }
            return buffer;
        }
        // No Content-Length: a sensor that does not make JPEG itself, whose frame the firmware converts and sends
        // chunked (capture_handler, frame2jpg_cb).
        using var collected = new MemoryStream();
        var chunk = new byte[16 * 1024];
        while (true)
        {
            var n = await body.ReadAsync(chunk, ct);
            if (n == 0) return collected.ToArray();
            if (collected.Length + n > maxBytes) return null;
            collected.Write(chunk, 0, n);
        }
    }

    private static bool IsUnreachable(HttpRequestException ex) =>
        ex.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError
        || ex.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionRefused or SocketError.HostUnreachable or SocketError.NetworkUnreachable or SocketError.HostNotFound or SocketError.TimedOut }
        || ex.InnerException is IOException { InnerException: SocketException { SocketErrorCode: SocketError.TimedOut } };
}
