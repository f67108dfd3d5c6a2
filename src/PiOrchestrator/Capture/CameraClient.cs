using System.Diagnostics;
using System.Net.Sockets;

namespace PiOrchestrator.Capture;

/// <summary>A frame as received, or why none could be had.</summary>
public readonly record struct GrabResult(byte[]? Frame, string? FailureReason, string? Detail, TimeSpan Latency)
{
    public bool Ok => Frame is not null;
    public int Width { get; init; }
    public int Height { get; init; }
    public byte[]? Thumbnail { get; init; }
}

/// <summary>HTTP to the ESP32-CAM CameraWebServer firmware: <c>GET /capture</c> returns one JPEG.</summary>
public sealed class CameraClient(HttpClient http)
{
    public async Task<GrabResult> GrabAsync(Uri cameraUrl, int maxBytes, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(cameraUrl, "capture"));
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            // Redirects are never followed (the handler is built so): a 3xx is a failure like any other answer.
            // The camera's own reason phrase is not repeated: status, page and log carry fixed words only.
            if (!response.IsSuccessStatusCode)
                return Failed(CaptureFailure.Http((int)response.StatusCode), $"camera answered HTTP {(int)response.StatusCode}");

            var announced = response.Content.Headers.ContentLength;
            if (announced > maxBytes)
                return Failed(CaptureFailure.TooLarge, $"camera announced {announced} bytes, over the {maxBytes}-byte limit");

            await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
            var frame = await ReadBoundedAsync(body, announced, maxBytes, cancellationToken);
            if (frame is null)
                return Failed(CaptureFailure.TooLarge, $"frame is over the {maxBytes}-byte limit");
            if (announced is { } length && frame.Length != length)
                return Failed(CaptureFailure.TruncatedJpeg, $"received {frame.Length} of {length} announced bytes");
            if (JpegValidator.CheckMarkers(frame) is { } reason)
                return Failed(reason, $"{frame.Length}-byte frame failed the JPEG marker check");
            return new GrabResult(frame, null, null, Stopwatch.GetElapsedTime(started));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return Failed(CaptureFailure.Timeout, "camera did not answer in time");
        }
        catch (HttpRequestException ex) when (IsUnreachable(ex))
        {
            return Failed(CaptureFailure.CameraOffline, ex.Message);
        }
        catch (HttpRequestException ex)
        {
            return Failed(CaptureFailure.TruncatedJpeg, $"HTTP error from the camera ({ex.HttpRequestError})");
        }
        catch (IOException)
        {
            // HttpIOException included: the camera closed the connection before sending all it announced.
            return Failed(CaptureFailure.TruncatedJpeg, "the camera closed the connection mid-frame");
        }

        GrabResult Failed(string reason, string detail) => new(null, reason, detail, Stopwatch.GetElapsedTime(started));
    }

    /// <summary>The most of a <c>/status</c> body read: the firmware's settings JSON is well under 1 KB.</summary>
    public const int MaxStatusBytes = 8 * 1024;

    /// <summary><c>GET /status</c>: null when the camera answered with its settings, else why not.</summary>
    public async Task<(string Reason, bool Unreachable)?> ProbeAsync(Uri cameraUrl, CancellationToken cancellationToken)
    {
        try
        {
            // Headers first, then at most MaxStatusBytes of the body: GetAsync would buffer a body that never ends.
            using var response = await http.GetAsync(new Uri(cameraUrl, "status"), HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            if (!response.IsSuccessStatusCode) return (CaptureFailure.Http((int)response.StatusCode), false);
            await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
            var buffer = new byte[4096];
            for (var read = 0; read < MaxStatusBytes;)
            {
                var n = await body.ReadAsync(buffer, cancellationToken);
                if (n == 0) return null;
                read += n;
            }
            return (CaptureFailure.StatusTooLarge, false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return (CaptureFailure.Timeout, true);
        }
        catch (HttpRequestException ex)
        {
            return (IsUnreachable(ex) ? CaptureFailure.CameraOffline : CaptureFailure.HttpError, IsUnreachable(ex));
        }
        catch (IOException)
        {
            return (CaptureFailure.HttpError, false);
        }
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
        || ex.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionRefused or SocketError.HostUnreachable or SocketError.NetworkUnreachable or SocketError.HostNotFound or SocketError.TimedOut };
}
