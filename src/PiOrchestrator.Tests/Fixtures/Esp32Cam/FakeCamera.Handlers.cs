using System.Globalization;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;

namespace PiOrchestrator.Tests.Fixtures;

// arduino-esp32 libraries/ESP32/examples/Camera/CameraWebServer/app_httpd.cpp: the handlers startCameraServer()
// registers on port 80 (all HTTP_GET).
public sealed partial class FakeCamera
{
    private static readonly string[] Registered = ["/", "/status", "/control", "/capture", "/bmp", "/xclk", "/reg", "/greg", "/pll", "/resolution"];

    private Task<bool> RouteAsync(Session session, Request request, CancellationToken stop)
    {
        // httpd_uri.c httpd_uri → httpd_find_uri_handler: no such URI is 404, a known URI with another method 405;
        // both through httpd_req_handle_err, which closes the socket.
        if (!Registered.Contains(request.Path)) return SendErrorAsync(session, 404, stop);
        if (request.Method != "GET") return SendErrorAsync(session, 405, stop);
        return request.Path switch
        {
            "/capture" => CaptureAsync(session, stop),
            "/status" => StatusAsync(session, stop),
            "/control" => ControlAsync(session, request.Query, stop),
            "/" => IndexAsync(session, stop),
            // /bmp, /xclk, /reg, /greg, /pll, /resolution are not modelled.
            _ => SendErrorAsync(session, 500, stop),
        };
    }

    private async Task<bool> CaptureAsync(Session session, CancellationToken stop)
    {
        var requestedAt = Now(out _);
        _requests.Enqueue(requestedAt);
        NoteOutstandingCaptures(session);
        if (TakeSlowGrab())
        {
            Interlocked.Increment(ref _slowGrabsStarted);
            if (!await WaitUnlessClientLeavesAsync(session, SlowDelay, stop))
            {
                Interlocked.Increment(ref _slowGrabsAbandoned);
                return false;
            }
        }
        switch (Mode)
        {
            case CameraMode.Http500:
                return await SendErrorAsync(session, 500, stop);
            case CameraMode.Hang:
                await WaitUnlessClientLeavesAsync(session, Timeout.InfiniteTimeSpan, stop);
                return false;
            case CameraMode.Redirect:
                await SendWholeAsync(session, "302 Found", "text/html", [("Location", RedirectTo)], Array.Empty<byte>(), stop);
                return true;
            case CameraMode.Slow when !await WaitUnlessClientLeavesAsync(session, SlowDelay, stop):
                return false;
        }

        // capture_handler: enable_led(true); vTaskDelay(150 / portTICK_PERIOD_MS); fb = esp_camera_fb_get(); enable_led(false).
        await Task.Delay(LedDelay, stop);
        if (GrabFails())
        {
            // esp_camera.c esp_camera_fb_get → cam_hal.c cam_take(FB_GET_TIMEOUT): NULL after 4 s without a frame;
            // capture_handler then httpd_resp_send_500 and return ESP_FAIL, so httpd_uri closes the socket.
            Interlocked.Increment(ref _failedGrabs);
            await Task.Delay(GrabTimeout, stop);
            NoteOutstandingCaptures(session);
            return await SendErrorAsync(session, 500, stop);
        }
        var (frame, capturedSinceBoot) = Grab();
        var capturedAt = BootedAt + capturedSinceBoot;
        // capture_handler: snprintf(ts, 32, "%lld.%06ld", fb->timestamp.tv_sec, fb->timestamp.tv_usec); the driver stamps
        // the frame at its start (cam_hal.c cam_start_frame, esp_timer_get_time, microseconds since boot).
        var micros = (long)(capturedSinceBoot.Ticks / 10);
        var stamp = string.Create(CultureInfo.InvariantCulture, $"{micros / 1_000_000}.{micros % 1_000_000:D6}");
        (string, string)[] headers = [("Content-Disposition", "inline; filename=capture.jpg"), ("Access-Control-Allow-Origin", "*"), ("X-Timestamp", stamp)];

        var complete = false;
        switch (Mode)
        {
            case CameraMode.NoSoi:
                await SendWholeAsync(session, "200 OK", "image/jpeg", headers, frame[2..], stop);
                break;
            case CameraMode.Garbage:
                await SendWholeAsync(session, "200 OK", "image/jpeg", headers, RandomNumberGenerator.GetBytes(4096), stop);
                break;
            case CameraMode.TruncatedNoEoi:
                await SendWholeAsync(session, "200 OK", "image/jpeg", headers, frame[..(frame.Length * 6 / 10)], stop);
                break;
            case CameraMode.CutWithFakeEoi:
                await SendWholeAsync(session, "200 OK", "image/jpeg", headers, (byte[])[.. frame[..(frame.Length * 6 / 10)], 0xFF, 0xD9], stop);
                break;
            case CameraMode.ShortBody:
                await SendWholeAsync(session, "200 OK", "image/jpeg", headers, frame.AsMemory(0, frame.Length / 2), stop, announced: frame.Length);
                return false;
            case CameraMode.Custom:
                await SendWholeAsync(session, "200 OK", "image/jpeg", headers, CustomFrame, stop);
                break;
            default:
                await SendFrameAsync(session, headers, frame, stop);
                complete = true;
                break;
        }
        // capture_handler: esp_camera_fb_return(fb) only after the answer is sent; with one buffer the driver starts
        // the next frame now.
        var servedAt = Now(out var returnedSinceBoot);
        _bufferReturnedSinceBoot = returnedSinceBoot;
        if (complete)
            _served.Enqueue(new ServedFrame(Convert.ToHexStringLower(SHA256.HashData(frame)), frame.Length, _grabbedSize, requestedAt, capturedAt, servedAt, capturedSinceBoot, stamp));
        NoteOutstandingCaptures(session);
        return true;
    }

    private async Task SendFrameAsync(Session session, (string, string)[] headers, byte[] frame, CancellationToken stop)
    {
        if (PixelFormat == SensorPixelFormat.Jpeg)
        {
            // capture_handler: fb->format == PIXFORMAT_JPEG → httpd_resp_send(req, fb->buf, fb->len), with Content-Length.
            await SendWholeAsync(session, "200 OK", "image/jpeg", headers, frame, stop);
            return;
        }
        // Otherwise frame2jpg_cb(fb, 80, jpg_encode_stream, ...): esp32-camera conversions/jpge.cpp hands its output
        // in JPGE_OUT_BUF_SIZE (512-byte) pieces, each one httpd_resp_send_chunk. At the end jpge calls put_buf(NULL, 0),
        // which jpg_encode_stream sends as a zero-length chunk, and capture_handler sends httpd_resp_send_chunk(req, NULL, 0)
        // again: the last-chunk marker goes out twice.
        var answer = new ChunkedAnswer(this, session, "image/jpeg", headers);
        for (var at = 0; at < frame.Length; at += 512)
            await answer.SendChunkAsync(frame.AsMemory(at, Math.Min(512, frame.Length - at)), stop);
        await answer.SendChunkAsync(ReadOnlyMemory<byte>.Empty, stop);
        await answer.SendChunkAsync(ReadOnlyMemory<byte>.Empty, stop);
    }

    private bool GrabFails()
    {
        if (FailNextGrabs > 0)
        {
            FailNextGrabs--;
            return true;
        }
        return GrabFailureRate > 0 && _grabRandom.NextDouble() < GrabFailureRate;
    }

    private TimeSpan _bufferReturnedSinceBoot;
    private long _frameNumber;
    private FrameSize _grabbedSize;

    /// <summary>
    /// The frame esp_camera_fb_get returns and when the driver took it. Two buffers with CAMERA_GRAB_LATEST: the
    /// driver keeps filling the free buffer, and cam_hal.c hands over the newest frame, so it is taken at the grab.
    /// One buffer with CAMERA_GRAB_WHEN_EMPTY: the driver filled it right after the last esp_camera_fb_return (or at
    /// boot) and has waited since, so it is as old as that.
    /// </summary>
    private (byte[] Frame, TimeSpan CapturedSinceBoot) Grab()
    {
        Now(out var sinceBoot);
        var oneBuffer = !Psram || Mode == CameraMode.StaleFirst;
        _grabbedSize = FrameSize;
        var frame = FrameBytes(_grabbedSize, Interlocked.Increment(ref _frameNumber));
        return (frame, oneBuffer ? _bufferReturnedSinceBoot : sinceBoot);
    }

    private static readonly Dictionary<(FrameSize, int), byte[]> Pictures = [];

    /// <summary>
    /// A picture per size and camera, encoded once (a 5 MP encode costs a busy test machine real time), with the frame's
    /// number in a COM segment after SOI so every frame served has its own bytes and sha256.
    /// </summary>
    private byte[] FrameBytes(FrameSize size, long number)
    {
        byte[]? picture;
        lock (Pictures)
        {
            if (!Pictures.TryGetValue((size, _seed), out picture))
            {
                var (width, height) = FrameSizes.Of(size);
                picture = TestJpegs.MakeOfSize(_seed, width, height, FrameSizes.TypicalJpegBytes(size));
                Pictures[(size, _seed)] = picture;
            }
        }
        var comment = Encoding.ASCII.GetBytes($"esp32-cam {_seed} frame {number:D10}");
        var frame = new byte[picture.Length + 4 + comment.Length];
        frame[0] = 0xFF; frame[1] = 0xD8;
        frame[2] = 0xFF; frame[3] = 0xFE;
        frame[4] = (byte)((comment.Length + 2) >> 8); frame[5] = (byte)(comment.Length + 2);
        comment.CopyTo(frame, 6);
        picture.AsSpan(2).CopyTo(frame.AsSpan(6 + comment.Length));
        return frame;
    }

    /// <summary>Counts this request and those sent on other connections that wait behind it (the task reads one at a time).</summary>
    private void NoteOutstandingCaptures(Session serving)
    {
        var outstanding = 1;
        foreach (var other in _sessions)
        {
            if (other == serving) continue;
            ReadOnlySpan<byte> waiting = other.Count > 0 ? other.Buffer.AsSpan(0, other.Count)
                : other.Read is { IsCompletedSuccessfully: true } read ? other.Buffer.AsSpan(0, read.Result)
                : default;
            if (waiting.StartsWith("GET /capture"u8)) outstanding++;
        }
        int seen;
        while (outstanding > (seen = Volatile.Read(ref _maxConcurrent)) && Interlocked.CompareExchange(ref _maxConcurrent, outstanding, seen) != seen) { }
    }

    private async Task<bool> StatusAsync(Session session, CancellationToken stop)
    {
        (string, string)[] cors = [("Access-Control-Allow-Origin", "*")];
        if (EndlessStatus)
        {
            var answer = new ChunkedAnswer(this, session, "application/json", cors);
            await answer.SendChunkAsync(Encoding.ASCII.GetBytes($"{{\"framesize\":{(int)FrameSize},\"pad\":\""), stop);
            var filler = new byte[64 * 1024];
            Array.Fill(filler, (byte)' ');
            while (true) await answer.SendChunkAsync(filler, stop);
        }
        await SendWholeAsync(session, "200 OK", "application/json", cors, Encoding.ASCII.GetBytes(StatusJson()), stop);
        return true;
    }

    /// <summary>status_handler for an OV2640 (the AI-Thinker board's sensor): three registers, then s->status field by field.</summary>
    private string StatusJson() =>
        $"{{\"0xd3\":8,\"0x111\":0,\"0x132\":9,\"xclk\":20,\"pixformat\":{(int)PixelFormat},\"framesize\":{(int)FrameSize},\"quality\":{Quality.ToString(CultureInfo.InvariantCulture)}," +
        "\"brightness\":0,\"contrast\":0,\"saturation\":0,\"sharpness\":0,\"special_effect\":0,\"wb_mode\":0,\"awb\":1,\"awb_gain\":1," +
        "\"aec\":1,\"aec2\":0,\"ae_level\":0,\"aec_value\":168,\"agc\":1,\"agc_gain\":0,\"gainceiling\":0,\"bpc\":0,\"wpc\":1," +
        "\"raw_gma\":1,\"lenc\":1,\"hmirror\":0,\"dcw\":1,\"colorbar\":0,\"led_intensity\":0}";

    private async Task<bool> ControlAsync(Session session, string query, CancellationToken stop)
    {
        // parse_get: no query string → httpd_resp_send_404 and ESP_FAIL (closed); so is a query without var and val.
        var pairs = query.Split('&', StringSplitOptions.RemoveEmptyEntries).Select(p => p.Split('=', 2)).Where(p => p.Length == 2)
            .GroupBy(p => p[0]).ToDictionary(g => g.Key, g => g.First()[1]);
        if (!pairs.TryGetValue("var", out var variable) || !pairs.TryGetValue("val", out var value))
            return await SendErrorAsync(session, 404, stop);
        // atoi: leading digits, else 0.
        var digits = new string(value.TakeWhile((c, i) => char.IsDigit(c) || (i == 0 && c == '-')).ToArray());
        var number = int.TryParse(digits, out var parsed) ? parsed : 0;
        var result = 0;
        switch (variable)
        {
            // framesize changes only while the sensor gives JPEG; a size past the table cannot be set.
            case "framesize" when PixelFormat == SensorPixelFormat.Jpeg:
                if (number < 0 || number >= FrameSizes.Dimensions.Count) result = -1;
                else FrameSize = (FrameSize)number;
                break;
            case "framesize":
                break;
            case "quality":
                Quality = number;
                break;
            case "contrast" or "brightness" or "saturation" or "gainceiling" or "colorbar" or "awb" or "agc" or "aec" or "hmirror"
                or "vflip" or "awb_gain" or "agc_gain" or "aec_value" or "aec2" or "dcw" or "bpc" or "wpc" or "raw_gma" or "lenc"
                or "special_effect" or "wb_mode" or "ae_level" or "led_intensity":
                break;
            default:
                result = -1;
                break;
        }
        // cmd_handler: res < 0 → return httpd_resp_send_500(req), whose ESP_OK keeps the socket open.
        if (result < 0)
        {
            await SendStatusAsync(session, 500, stop);
            return true;
        }
        await SendWholeAsync(session, "200 OK", "text/html", [("Access-Control-Allow-Origin", "*")], Array.Empty<byte>(), stop);
        return true;
    }

    private static readonly byte[] IndexPage = Gzip("<!doctype html><title>ESP32 OV2640</title><img src=\"/capture\">");

    private async Task<bool> IndexAsync(Session session, CancellationToken stop)
    {
        // index_handler: the page is stored gzipped and sent with Content-Encoding: gzip.
        await SendWholeAsync(session, "200 OK", "text/html", [("Content-Encoding", "gzip")], IndexPage, stop);
        return true;
    }

    private static byte[] Gzip(string text)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal)) gzip.Write(Encoding.UTF8.GetBytes(text));
        return output.ToArray();
    }
}
