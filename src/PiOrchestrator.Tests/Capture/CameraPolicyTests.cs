using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using PiOrchestrator.Capture;
using PiOrchestrator.Doors;
using PiOrchestrator.Jpeg;
using PiOrchestrator.Site;
using PiOrchestrator.Store;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Capture;

/// <summary>
/// The capture policy against a camera that behaves as CameraWebServer on esp_http_server and esp32-camera do
/// (Fixtures/Esp32Cam): one request at a time, a grab that fails after 4 s with a 500, 7 sockets, one or two frame
/// buffers, the product's own derived deadlines.
/// </summary>
public class CameraPolicyTests
{
    /// <summary>The product's settings: derived deadlines and stale frames told by X-Timestamp.</summary>
    private static Dictionary<string, string?> ProductSettings(FakeCamera camera, FrameSize? frameSize = null, string containerId = "ctr-001")
    {
        var settings = EngineHarness.Container(containerId, camera.Url, flushFrames: null);
        settings["Capture:TimeoutMs"] = null;
        if (frameSize is { } size) settings["Containers:0:FrameSize"] = CameraFrameSizes.All[(int)size].Name;
        return settings;
    }

    private static async Task<EvidenceRecord> CaptureAsync(EngineHarness h, string containerId = "ctr-001")
    {
        var sessions = h.Sessions(containerId).Count;
        h.Post(containerId, DoorEventKind.Closed);
        await Eventually.UntilAsync(() => h.Sessions(containerId).Count(s => s.Phase == SessionPhase.Complete) == sessions + 1,
            TimeSpan.FromSeconds(40), $"capture {sessions + 1}");
        var latest = h.Store.ListSessions(containerId, null, false, null, 1).Sessions[0];
        return Assert.Single(h.Store.GetEvidenceForSession(latest.SessionId));
    }

    private static string Log(EngineHarness h) => string.Join("\n", h.Logs.Entries.Select(e => $"{e.Level} {e.Message}"));

    [Theory]
    [InlineData(FrameSize.QVGA)]
    [InlineData(FrameSize.UXGA)]
    public async Task One_failed_grab_still_leaves_time_for_a_second_and_the_BEFORE_OPEN_is_kept(FrameSize size)
    {
        using var dir = new TempDirectory();
        await using var camera = await FakeCamera.StartAsync();
        camera.FrameSize = size;
        camera.LinkBitsPerSecond = 8_000_000;
        await using var h = await EngineHarness.StartAsync(dir.Path, ProductSettings(camera, size));
        camera.FailNextGrabs = 1;

        h.Post("ctr-001", DoorEventKind.Opened);
        var before = await Eventually.UntilAsync(() => Task.FromResult(h.Sessions("ctr-001").Select(s => h.Store.GetEvidenceForSession(s.SessionId)
            .FirstOrDefault(e => e.Tag == CaptureTag.BeforeOpen)).FirstOrDefault(e => e is not null)), TimeSpan.FromSeconds(40), "the BEFORE_OPEN row");

        Assert.True(before.IsCaptured, $"BEFORE_OPEN {before.FailureReason}\n{Log(h)}");
        Assert.Equal(1, camera.FailedGrabs);
        Assert.Equal(FrameSizes.Of(size), (before.Width!.Value, before.Height!.Value));
        // The failed grab's 4 s are in the recorded delay: the photo is as late as the camera made it, and no later.
        Assert.InRange(before.DelayMs!.Value, 4000, 15_000);
        Assert.Contains(h.Logs.At(LogLevel.Information), m => m.Contains("Captured BEFORE_OPEN") && m.Contains("grab_failed"));
        var health = h.Services.GetRequiredService<CameraHealth>().Get("espcam-ctr-001");
        Assert.Equal(CameraHealth.States.Online, health.State);
        Assert.DoesNotContain(h.Logs.Entries, e => e.Message.Contains("is offline") || e.Message.Contains("is busy"));
    }

    [Fact]
    public async Task A_camera_whose_sockets_are_all_taken_is_busy_not_offline()
    {
        using var dir = new TempDirectory();
        await using var camera = await FakeCamera.StartAsync();
        var settings = ProductSettings(camera, FrameSize.QVGA, "ctr-busy");
        // Quicker than the product's deadlines; the reason does not depend on them.
        settings["Capture:AttemptTimeoutMs"] = "1500";
        settings["Capture:TimeoutMs"] = "4000";
        await using var h = await EngineHarness.StartAsync(dir.Path, settings);
        var counted = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using var metrics = new System.Diagnostics.Metrics.MeterListener();
        metrics.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Name == "piorchestrator.captures") listener.EnableMeasurementEvents(instrument);
        };
        metrics.SetMeasurementEventCallback<long>((_, _, tags, _) =>
        {
            var labels = tags.ToArray().ToDictionary(t => t.Key, t => t.Value?.ToString());
            if (labels.GetValueOrDefault("container") == "ctr-busy") counted.Enqueue(labels.GetValueOrDefault("reason") ?? "");
        });
        metrics.Start();
        // Browser tabs on the camera's page: all 7 of esp_http_server's sockets, kept alive.
        await using var browsers = await camera.OccupySocketsAsync(7);

        var failed = await CaptureAsync(h, "ctr-busy");

        Assert.False(failed.IsCaptured);
        Assert.Equal(CaptureFailure.Busy, failed.FailureReason);
        var health = h.Services.GetRequiredService<CameraHealth>().Get("espcam-ctr-busy");
        Assert.Equal(CameraHealth.States.Busy, health.State);
        Assert.True(health.Online);
        Assert.Contains(h.Logs.At(LogLevel.Warning), m => m.Contains("Camera espcam-ctr-busy is busy"));
        Assert.DoesNotContain(h.Logs.Entries, e => e.Message.Contains("is offline"));
        Assert.False(h.Services.GetRequiredService<CameraHealth>().IsDown("espcam-ctr-busy", 1));
        Assert.Equal([CaptureFailure.Busy], counted.ToList());

        // The browsers leave: the camera answers again, and it was never away.
        await browsers.DisposeAsync();
        Assert.True((await CaptureAsync(h, "ctr-busy")).IsCaptured, Log(h));
        Assert.Equal(CameraHealth.States.Online, h.Services.GetRequiredService<CameraHealth>().Get("espcam-ctr-busy").State);
    }

    [Fact]
    public async Task The_agent_keeps_its_own_connection_so_browsers_filling_the_rest_cannot_lock_it_out()
    {
        using var dir = new TempDirectory();
        await using var camera = await FakeCamera.StartAsync();
        await using var h = await EngineHarness.StartAsync(dir.Path, ProductSettings(camera, FrameSize.QVGA));
        var container = h.Services.GetRequiredService<IOptions<SiteOptions>>().Value.Containers[0];
        // The status poll opens the agent's connection and keeps it.
        await h.Services.GetRequiredService<CameraHealthMonitor>().PollAsync(container, CancellationToken.None);
        await Eventually.UntilAsync(() => camera.OpenSockets == 1, TimeSpan.FromSeconds(10), "the agent's connection to be open");

        await using var browsers = await camera.OccupySocketsAsync(6);
        Assert.Equal(7, camera.OpenSockets);

        var record = await CaptureAsync(h);
        Assert.True(record.IsCaptured, $"{record.FailureReason}\n{Log(h)}");
    }

    [Fact]
    public async Task A_5MP_frame_from_an_OV5640_is_accepted_with_the_default_limits()
    {
        using var dir = new TempDirectory();
        await using var camera = await FakeCamera.StartAsync();
        camera.FrameSize = FrameSize.FiveMP;
        await using var h = await EngineHarness.StartAsync(dir.Path, ProductSettings(camera));

        var record = await CaptureAsync(h);

        Assert.True(record.IsCaptured, $"{record.FailureReason}\n{Log(h)}");
        Assert.Equal((2592, 1944), (record.Width!.Value, record.Height!.Value));
    }

    [Fact]
    public void Every_frame_size_esp32_camera_supports_fits_the_default_limits()
    {
        var defaults = new CaptureOptions();
        Assert.Equal(FrameSizes.Dimensions.Count, CameraFrameSizes.All.Count);
        for (var i = 0; i < FrameSizes.Dimensions.Count; i++)
        {
            Assert.Equal(FrameSizes.Dimensions[i], (CameraFrameSizes.All[i].Width, CameraFrameSizes.All[i].Height));
            Assert.InRange(CameraFrameSizes.All[i].Width, 1, defaults.MaxWidth);
            Assert.InRange(CameraFrameSizes.All[i].Height, 1, defaults.MaxHeight);
            Assert.InRange(CameraFrameSizes.All[i].MaxJpegBytes, 1, new StorageOptions().MaxImageBytes);
        }
    }

    /// <summary>Lets the camera sit idle, as a site does between door cycles; staleness is a matter of time passing.</summary>
    private static async Task IdleAsync(TimeSpan idle)
    {
        var since = Stopwatch.GetTimestamp();
        await Eventually.UntilAsync(() => Stopwatch.GetElapsedTime(since) > idle, idle + TimeSpan.FromSeconds(10), "the camera's idle time");
    }

    [Fact]
    public async Task A_PSRAM_board_gets_one_grab_per_capture_once_its_frames_are_known_fresh()
    {
        using var dir = new TempDirectory();
        await using var camera = await FakeCamera.StartAsync();
        camera.Psram = true;
        var settings = ProductSettings(camera, FrameSize.QVGA);
        settings["Capture:StaleFrameMs"] = "300";
        await using var h = await EngineHarness.StartAsync(dir.Path, settings);
        var frames = h.Services.GetRequiredService<FrameFreshness>();

        var requests = new List<int>();
        for (var i = 0; i < 4; i++)
        {
            if (i > 0) await IdleAsync(TimeSpan.FromSeconds(1));
            Assert.True((await CaptureAsync(h)).IsCaptured, Log(h));
            requests.Add(camera.CaptureRequests);
        }

        // The first capture cannot know yet (a first frame is judged against nothing); from the second on, one grab.
        Assert.Equal(2, requests[0]);
        Assert.Equal([1, 1, 1], requests.Zip(requests.Skip(1), (a, b) => b - a).ToList());
        Assert.Equal(FrameFreshness.Buffers.Two, frames.KindOf(camera.Url));
        Assert.Contains(h.Logs.At(LogLevel.Information), m => m.Contains("serves fresh frames"));
    }

    [Fact]
    public async Task A_one_buffer_board_never_has_a_stale_frame_stored()
    {
        using var dir = new TempDirectory();
        await using var camera = await FakeCamera.StartAsync();
        camera.Psram = false;
        var settings = ProductSettings(camera, FrameSize.QVGA);
        settings["Capture:StaleFrameMs"] = "300";
        await using var h = await EngineHarness.StartAsync(dir.Path, settings);

        var stored = new List<EvidenceRecord>();
        for (var i = 0; i < 4; i++)
        {
            await IdleAsync(TimeSpan.FromSeconds(1));
            stored.Add(await CaptureAsync(h));
        }

        var served = camera.ServedFrames;
        foreach (var record in stored)
        {
            Assert.True(record.IsCaptured, Log(h));
            var frame = Assert.Single(served, f => f.Sha256 == record.Sha256);
            // Taken at most a frame's time before its request: right after the agent's own throw-away grab.
            Assert.True(frame.RequestedAt - frame.CapturedAt < TimeSpan.FromMilliseconds(300),
                $"stored frame taken {(frame.RequestedAt - frame.CapturedAt).TotalMilliseconds:F0} ms before its request");
        }
        // The camera did serve stale frames (one per capture); none of them was kept.
        Assert.True(served.Count(f => f.RequestedAt - f.CapturedAt > TimeSpan.FromMilliseconds(900)) >= 4);
        Assert.Equal(8, camera.CaptureRequests);
        Assert.Equal(FrameFreshness.Buffers.One, h.Services.GetRequiredService<FrameFreshness>().KindOf(camera.Url));
    }
}
