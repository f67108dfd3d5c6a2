using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using PiOrchestrator.Tests.Fixtures;
using Xunit.Abstractions;

namespace PiOrchestrator.Tests.Capture;

/// <summary>The test camera behaves as the ESP32-CAM firmware does, checked over raw TCP with hand-written requests.</summary>
public partial class TestCameraFidelityTests(ITestOutputHelper output)
{
    // A negative observation (no answer came) needs a window; this one is long beside loopback's microseconds.
    private static readonly TimeSpan QuietWindow = TimeSpan.FromMilliseconds(700);

    [Fact]
    public async Task One_request_at_a_time_a_second_connection_waits_for_the_first_handler()
    {
        await using var camera = await FakeCamera.StartAsync();
        camera.FailNextGrabs = 1;
        camera.GrabTimeout = TimeSpan.FromSeconds(1.5);
        using var first = await RawClient.ConnectAsync(camera);
        using var second = await RawClient.ConnectAsync(camera);

        await first.SendAsync("GET /capture HTTP/1.1\r\nHost: cam\r\n\r\n");
        await Eventually.UntilAsync(() => camera.CaptureRequests == 1, TimeSpan.FromSeconds(10), "the first request to be read");
        var sent = Stopwatch.GetTimestamp();
        await second.SendAsync("GET /status HTTP/1.1\r\nHost: cam\r\n\r\n");
        var status = await second.ReadAnswerAsync();

        Assert.Equal(200, status.Status);
        // The first answer was sent before the second request was even read: it is already there.
        Assert.True(first.Available > 0, "the status was answered while the failed grab still held the server");
        Assert.True(Stopwatch.GetElapsedTime(sent) >= TimeSpan.FromSeconds(1), $"status answered after {Stopwatch.GetElapsedTime(sent)}");
        Assert.Equal(500, (await first.ReadAnswerAsync()).Status);
    }

    [Fact]
    public async Task Seven_sockets_then_new_connections_wait_in_the_backlog_unanswered()
    {
        await using var camera = await FakeCamera.StartAsync();
        await using (var tabs = await camera.OccupySocketsAsync(7))
        {
            Assert.Equal(7, camera.OpenSockets);
            using var eighth = await RawClient.ConnectAsync(camera);
            await eighth.SendAsync("GET /status HTTP/1.1\r\nHost: cam\r\n\r\n");
            Assert.False(await eighth.AnswerStartsWithinAsync(QuietWindow), "an eighth connection was served while seven were open");
            Assert.Equal(7, camera.OpenSockets);

            await tabs.DisposeAsync();
            Assert.Equal(200, (await eighth.ReadAnswerAsync()).Status);
            await Eventually.UntilAsync(() => camera.OpenSockets == 1, TimeSpan.FromSeconds(10), "the tabs' sockets to close");
        }
    }

    [Fact]
    public async Task Connection_close_is_ignored_and_an_idle_connection_is_kept()
    {
        await using var camera = await FakeCamera.StartAsync();
        camera.ReceiveTimeout = TimeSpan.FromMilliseconds(300);
        using var client = await RawClient.ConnectAsync(camera);

        await client.SendAsync("GET /status HTTP/1.1\r\nHost: cam\r\nConnection: close\r\n\r\n");
        Assert.Equal(200, (await client.ReadAnswerAsync()).Status);
        // Idle for longer than the receive timeout: that timeout is for a request begun, not for a quiet socket.
        Assert.False(await client.ClosedWithinAsync(QuietWindow), "the camera closed a keep-alive connection");
        await client.SendAsync("GET /status HTTP/1.1\r\nHost: cam\r\nConnection: close\r\n\r\n");
        Assert.Equal(200, (await client.ReadAnswerAsync()).Status);
        Assert.Equal(1, camera.OpenSockets);
    }

    [Theory]
    [InlineData(CameraFirmware.Idf44, "URI is too long for server to interpret")]
    [InlineData(CameraFirmware.Arduino2, "URI is too long for server to interpret")]
    [InlineData(CameraFirmware.Idf5, "URI is too long")]
    [InlineData(CameraFirmware.Idf55, "URI is too long")]
    [InlineData(CameraFirmware.Arduino3, "URI is too long")]
    public async Task A_uri_over_512_bytes_is_414_and_closed(CameraFirmware firmware, string text)
    {
        await using var camera = await FakeCamera.StartAsync();
        camera.Firmware = firmware;
        using var client = await RawClient.ConnectAsync(camera);

        await client.SendAsync($"GET /{new string('a', 512)} HTTP/1.1\r\nHost: cam\r\n\r\n");
        var answer = await client.ReadAnswerAsync();

        Assert.Equal((414, text), (answer.Status, answer.Text));
        Assert.True(await client.ClosedWithinAsync(TimeSpan.FromSeconds(10)));
    }

    [Theory]
    [InlineData(CameraFirmware.Idf44, 512, "Header fields are too long for server to interpret")]
    [InlineData(CameraFirmware.Idf5, 512, "Header fields are too long")]
    [InlineData(CameraFirmware.Idf55, 1024, "Header fields are too long")]
    [InlineData(CameraFirmware.Arduino2, 1024, "Header fields are too long for server to interpret")]
    [InlineData(CameraFirmware.Arduino3, 1024, "Header fields are too long")]
    public async Task A_header_block_over_the_firmware_limit_is_431_and_closed(CameraFirmware firmware, int limit, string text)
    {
        await using var camera = await FakeCamera.StartAsync();
        camera.Firmware = firmware;

        // The header block counts from the first header to the blank line: "Host: cam\r\n" + "X-Pad: ...\r\n" + "\r\n".
        string Request(int blockBytes) => $"GET /status HTTP/1.1\r\nHost: cam\r\nX-Pad: {new string('p', blockBytes - 11 - 9 - 2)}\r\n\r\n";
        using (var atLimit = await RawClient.ConnectAsync(camera))
        {
            await atLimit.SendAsync(Request(limit));
            Assert.Equal(200, (await atLimit.ReadAnswerAsync()).Status);
        }
        using var over = await RawClient.ConnectAsync(camera);
        await over.SendAsync(Request(limit + 1));
        var answer = await over.ReadAnswerAsync();

        Assert.Equal((431, text), (answer.Status, answer.Text));
        Assert.True(await over.ClosedWithinAsync(TimeSpan.FromSeconds(10)));
    }

    [Theory]
    [InlineData(CameraFirmware.Idf44, "This URI does not exist")]
    [InlineData(CameraFirmware.Arduino2, "This URI does not exist")]
    [InlineData(CameraFirmware.Idf5, "Nothing matches the given URI")]
    [InlineData(CameraFirmware.Idf55, "Nothing matches the given URI")]
    [InlineData(CameraFirmware.Arduino3, "Nothing matches the given URI")]
    public async Task An_unknown_uri_is_404_with_the_versions_text_and_closed(CameraFirmware firmware, string text)
    {
        await using var camera = await FakeCamera.StartAsync();
        camera.Firmware = firmware;
        using var client = await RawClient.ConnectAsync(camera);

        await client.SendAsync("GET /snapshot.jpg HTTP/1.1\r\nHost: cam\r\n\r\n");
        var answer = await client.ReadAnswerAsync();

        Assert.Equal((404, text, "text/html"), (answer.Status, answer.Text, answer.Headers["Content-Type"]));
        Assert.True(await client.ClosedWithinAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task A_failed_grab_answers_500_after_the_drivers_4_s_and_closes()
    {
        await using var camera = await FakeCamera.StartAsync();
        camera.FailNextGrabs = 1;
        using var client = await RawClient.ConnectAsync(camera);

        var sent = Stopwatch.GetTimestamp();
        await client.SendAsync("GET /capture HTTP/1.1\r\nHost: cam\r\n\r\n");
        var answer = await client.ReadAnswerAsync(TimeSpan.FromSeconds(30));
        var took = Stopwatch.GetElapsedTime(sent);

        Assert.Equal((500, "Server has encountered an unexpected error"), (answer.Status, answer.Text));
        Assert.True(took >= camera.LedDelay + camera.GrabTimeout - TimeSpan.FromMilliseconds(20), $"answered after {took}");
        Assert.True(await client.ClosedWithinAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(1, camera.FailedGrabs);

        using var again = await RawClient.ConnectAsync(camera);
        await again.SendAsync("GET /capture HTTP/1.1\r\nHost: cam\r\n\r\n");
        Assert.Equal(200, (await again.ReadAnswerAsync()).Status);
    }

    [Fact]
    public async Task Grab_failures_at_a_rate_are_the_same_for_the_same_seed()
    {
        async Task<string> PatternAsync()
        {
            await using var camera = await FakeCamera.StartAsync(seed: 7);
            camera.GrabFailureRate = 0.4;
            camera.GrabTimeout = TimeSpan.Zero;
            camera.LedDelay = TimeSpan.Zero;
            var pattern = new StringBuilder();
            for (var i = 0; i < 12; i++)
            {
                using var client = await RawClient.ConnectAsync(camera);
                await client.SendAsync("GET /capture HTTP/1.1\r\nHost: cam\r\n\r\n");
                pattern.Append((await client.ReadAnswerAsync()).Status == 200 ? '.' : 'x');
            }
            return pattern.ToString();
        }

        var first = await PatternAsync();
        Assert.Equal(first, await PatternAsync());
        Assert.Contains('x', first);
        Assert.Contains('.', first);
    }

    [Fact]
    public async Task A_jpeg_frame_has_the_firmwares_headers_and_content_length()
    {
        await using var camera = await FakeCamera.StartAsync();
        using var client = await RawClient.ConnectAsync(camera);

        await client.SendAsync("GET /capture HTTP/1.1\r\nHost: cam\r\n\r\n");
        var answer = await client.ReadAnswerAsync();

        Assert.Equal(200, answer.Status);
        Assert.Equal("image/jpeg", answer.Headers["Content-Type"]);
        Assert.Equal("inline; filename=capture.jpg", answer.Headers["Content-Disposition"]);
        Assert.Equal("*", answer.Headers["Access-Control-Allow-Origin"]);
        Assert.Matches(XTimestamp(), answer.Headers["X-Timestamp"]);
        Assert.Equal(answer.Body.Length.ToString(CultureInfo.InvariantCulture), answer.Headers["Content-Length"]);
        Assert.False(answer.Headers.ContainsKey("Transfer-Encoding"));
        Assert.Equal(camera.ServedSha256.Single(), Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(answer.Body)));
    }

    [Fact]
    public async Task A_non_jpeg_sensor_frame_is_converted_and_sent_chunked()
    {
        await using var camera = await FakeCamera.StartAsync();
        camera.PixelFormat = SensorPixelFormat.RGB565;
        using var client = await RawClient.ConnectAsync(camera);

        await client.SendAsync("GET /capture HTTP/1.1\r\nHost: cam\r\n\r\n");
        var answer = await client.ReadAnswerAsync();

        Assert.Equal("chunked", answer.Headers["Transfer-Encoding"]);
        Assert.False(answer.Headers.ContainsKey("Content-Length"));
        Assert.All(answer.ChunkSizes, size => Assert.InRange(size, 1, 512));
        Assert.Equal(new byte[] { 0xFF, 0xD8 }, answer.Body[..2]);
        Assert.Equal(new byte[] { 0xFF, 0xD9 }, answer.Body[^2..]);
        // jpge's closing put_buf(NULL, 0) and capture_handler's own last chunk: the end marker comes twice.
        Assert.Equal("0\r\n\r\n", await client.ReadExactAsciiAsync(5));
    }

    [Fact]
    public async Task With_psram_the_frame_is_taken_after_the_request_and_the_led_wait()
    {
        await using var camera = await FakeCamera.StartAsync();
        using var client = await RawClient.ConnectAsync(camera);

        var sentSinceBoot = DateTimeOffset.UtcNow - camera.BootedAt;
        await client.SendAsync("GET /capture HTTP/1.1\r\nHost: cam\r\n\r\n");
        var answer = await client.ReadAnswerAsync();

        var taken = ParseTimestamp(answer.Headers["X-Timestamp"]);
        Assert.True(taken >= sentSinceBoot + camera.LedDelay - TimeSpan.FromMilliseconds(20), $"taken at {taken}, asked at {sentSinceBoot}");
        var frame = Assert.Single(camera.ServedFrames);
        Assert.False(frame.Stale);
        Assert.False(camera.IsStale(frame.Sha256));
    }

    [Fact]
    public async Task Without_psram_the_frame_is_the_one_taken_when_the_last_grab_returned_its_buffer()
    {
        await using var camera = await FakeCamera.StartAsync();
        camera.Psram = false;
        using var client = await RawClient.ConnectAsync(camera);

        await client.SendAsync("GET /capture HTTP/1.1\r\nHost: cam\r\n\r\n");
        var first = await client.ReadAnswerAsync();
        var firstDone = DateTimeOffset.UtcNow - camera.BootedAt;
        // Time passes between two captures, as between two door events.
        await Task.Delay(QuietWindow);
        var sentSinceBoot = DateTimeOffset.UtcNow - camera.BootedAt;
        await client.SendAsync("GET /capture HTTP/1.1\r\nHost: cam\r\n\r\n");
        var second = await client.ReadAnswerAsync();
        // The camera records a served frame after its last byte is sent, so the client may read it before that.
        await Eventually.UntilAsync(() => camera.ServedFrames.Count == 2, TimeSpan.FromSeconds(10), "both frames recorded as served");

        var taken = ParseTimestamp(second.Headers["X-Timestamp"]);
        Assert.True(taken <= firstDone + TimeSpan.FromMilliseconds(20), $"second frame taken at {taken}, first answer done at {firstDone}");
        Assert.True(taken < sentSinceBoot - QuietWindow / 2, $"second frame taken at {taken}, asked at {sentSinceBoot}");
        Assert.True(ParseTimestamp(first.Headers["X-Timestamp"]) < TimeSpan.FromSeconds(1), "the first frame is the one from boot");
        Assert.All(camera.ServedFrames, f => Assert.True(f.Stale));
        Assert.True(camera.IsStale(camera.ServedSha256[1]));
    }

    [Theory]
    [InlineData(FrameSize.QQVGA)]
    [InlineData(FrameSize.QVGA)]
    [InlineData(FrameSize.UXGA)]
    [InlineData(FrameSize.QSXGA)]
    [InlineData(FrameSize.FiveMP)]
    public async Task Frames_have_the_dimensions_and_a_typical_size_of_the_frame_size_set_over_control(FrameSize size)
    {
        await using var camera = await FakeCamera.StartAsync();
        using var client = await RawClient.ConnectAsync(camera);

        await client.SendAsync($"GET /control?var=framesize&val={(int)size} HTTP/1.1\r\nHost: cam\r\n\r\n");
        Assert.Equal(200, (await client.ReadAnswerAsync()).Status);
        await client.SendAsync("GET /status HTTP/1.1\r\nHost: cam\r\n\r\n");
        using var status = JsonDocument.Parse((await client.ReadAnswerAsync()).Body);
        Assert.Equal((int)size, status.RootElement.GetProperty("framesize").GetInt32());
        await client.SendAsync("GET /capture HTTP/1.1\r\nHost: cam\r\n\r\n");
        var frame = (await client.ReadAnswerAsync(TimeSpan.FromSeconds(60))).Body;

        var (width, height) = FrameSizes.Of(size);
        output.WriteLine($"{size} {width}x{height}: {frame.Length} bytes (aimed at {FrameSizes.TypicalJpegBytes(size)}, driver buffer {FrameSizes.JpegBufferBytes(size)})");
        Assert.Equal((width, height), JpegDimensions(frame));
        Assert.InRange(frame.Length, width * height / 16, FrameSizes.JpegBufferBytes(size));
        Assert.True(PiOrchestrator.Jpeg.JpegCodec.Check(frame, 4096, 4096, out _).Ok);
    }

    [Fact]
    public async Task An_unknown_control_is_500_on_a_kept_connection_and_a_missing_value_is_404_and_closed()
    {
        await using var camera = await FakeCamera.StartAsync();
        using var client = await RawClient.ConnectAsync(camera);

        await client.SendAsync("GET /control?var=warp&val=9 HTTP/1.1\r\nHost: cam\r\n\r\n");
        Assert.Equal(500, (await client.ReadAnswerAsync()).Status);
        await client.SendAsync("GET /control?var=quality HTTP/1.1\r\nHost: cam\r\n\r\n");
        Assert.Equal(404, (await client.ReadAnswerAsync()).Status);
        Assert.True(await client.ClosedWithinAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task A_request_left_half_sent_holds_the_server_until_the_receive_timeout_then_408()
    {
        await using var camera = await FakeCamera.StartAsync();
        camera.ReceiveTimeout = TimeSpan.FromSeconds(1);
        using var slow = await RawClient.ConnectAsync(camera);
        using var other = await RawClient.ConnectAsync(camera);

        await slow.SendAsync("GET /status HTTP/1.1\r\nHo");
        await other.SendAsync("GET /status HTTP/1.1\r\nHost: cam\r\n\r\n");
        var answer = await slow.ReadAnswerAsync();

        Assert.Equal((408, "Server closed this connection"), (answer.Status, answer.Text));
        Assert.True(await slow.ClosedWithinAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(200, (await other.ReadAnswerAsync()).Status);
    }

    [Fact]
    public async Task A_hanging_handler_holds_every_other_request_until_its_client_leaves()
    {
        await using var camera = await FakeCamera.StartAsync();
        camera.Mode = CameraMode.Hang;
        var stuck = await RawClient.ConnectAsync(camera);
        using var other = await RawClient.ConnectAsync(camera);

        await stuck.SendAsync("GET /capture HTTP/1.1\r\nHost: cam\r\n\r\n");
        await Eventually.UntilAsync(() => camera.CaptureRequests == 1, TimeSpan.FromSeconds(10), "the hanging request to be read");
        await other.SendAsync("GET /status HTTP/1.1\r\nHost: cam\r\n\r\n");
        Assert.False(await other.AnswerStartsWithinAsync(QuietWindow), "a request was served while a handler hung");

        stuck.Dispose();
        Assert.Equal(200, (await other.ReadAnswerAsync()).Status);
    }

    [Fact]
    public async Task A_capture_queued_on_another_connection_counts_as_concurrent()
    {
        await using var camera = await FakeCamera.StartAsync();
        camera.Mode = CameraMode.Slow;
        camera.SlowDelay = TimeSpan.FromMilliseconds(500);
        using var first = await RawClient.ConnectAsync(camera);
        using var second = await RawClient.ConnectAsync(camera);

        await first.SendAsync("GET /capture HTTP/1.1\r\nHost: cam\r\n\r\n");
        await Eventually.UntilAsync(() => camera.CaptureRequests == 1, TimeSpan.FromSeconds(10), "the first capture to be read");
        await second.SendAsync("GET /capture HTTP/1.1\r\nHost: cam\r\n\r\n");
        Assert.Equal(200, (await first.ReadAnswerAsync()).Status);
        Assert.Equal(200, (await second.ReadAnswerAsync()).Status);

        Assert.Equal(2, camera.MaxConcurrent);
    }

    [Fact]
    public async Task The_answer_is_paced_to_the_link_rate()
    {
        await using var camera = await FakeCamera.StartAsync();
        camera.FrameSize = FrameSize.XGA;
        camera.LinkBitsPerSecond = 1_000_000;
        using var client = await RawClient.ConnectAsync(camera);

        await client.SendAsync("GET /capture HTTP/1.1\r\nHost: cam\r\n\r\n");
        var answer = await client.ReadAnswerAsync(TimeSpan.FromSeconds(60));

        // About 98 KB at 1 Mbit/s is about 0.8 s; only a clear lower bound is checked, a busy machine only adds time.
        var expected = TimeSpan.FromSeconds(answer.Body.Length * 8.0 / camera.LinkBitsPerSecond);
        Assert.True(answer.Transfer >= expected * 0.7, $"{answer.Body.Length} bytes in {answer.Transfer}, expected about {expected}");
    }

    private static TimeSpan ParseTimestamp(string value) =>
        TimeSpan.FromMicroseconds(long.Parse(value.Split('.')[0], CultureInfo.InvariantCulture) * 1_000_000 + long.Parse(value.Split('.')[1], CultureInfo.InvariantCulture));

    private static (int Width, int Height) JpegDimensions(byte[] jpeg)
    {
        for (var i = 2; i + 9 < jpeg.Length;)
        {
            if (jpeg[i + 1] is 0xC0 or 0xC1 or 0xC2)
                return ((jpeg[i + 7] << 8) | jpeg[i + 8], (jpeg[i + 5] << 8) | jpeg[i + 6]);
            i += 2 + ((jpeg[i + 2] << 8) | jpeg[i + 3]);
        }
        throw new ArgumentException("no frame header", nameof(jpeg));
    }

    [GeneratedRegex(@"^\d+\.\d{6}$")]
    private static partial Regex XTimestamp();
}
