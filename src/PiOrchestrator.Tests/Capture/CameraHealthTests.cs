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

public class CameraHealthTests
{
    [Fact]
    public async Task A_slow_camera_within_its_limits_is_captured()
    {
        using var dir = new TempDirectory();
        await using var camera = await FakeCamera.StartAsync();
        camera.Mode = CameraMode.Slow;
        camera.SlowDelay = TimeSpan.FromMilliseconds(400);
        await using var h = await EngineHarness.StartAsync(dir.Path, EngineHarness.Container("ctr-001", camera.Url));

        h.Post("ctr-001", DoorEventKind.Closed);
        var session = await h.WaitForCompleteAsync("ctr-001");

        var evidence = Assert.Single(h.Store.GetEvidenceForSession(session.SessionId));
        Assert.True(evidence.IsCaptured);
        // The camera's 400 ms wait is a .NET timer, which may fire a millisecond early (millisecond tick granularity).
        Assert.True(evidence.LatencyMs >= 390, $"latency {evidence.LatencyMs} ms");
    }

    [Fact]
    public async Task A_flapping_camera_is_one_log_line_per_change_not_one_per_poll()
    {
        using var dir = new TempDirectory();
        var port = TestPorts.Free();
        var camera = await FakeCamera.StartAsync(port: port);
        await using var h = await EngineHarness.StartAsync(dir.Path, EngineHarness.Container("ctr-001", camera.Url));
        var monitor = h.Services.GetRequiredService<CameraHealthMonitor>();
        var health = h.Services.GetRequiredService<CameraHealth>();
        var container = h.Services.GetRequiredService<IOptions<SiteOptions>>().Value.Containers[0];

        await monitor.PollAsync(container, CancellationToken.None);
        Assert.True(health.Get(container.CameraId).Online);
        for (var flap = 0; flap < 2; flap++)
        {
            await camera.DisposeAsync();
            for (var i = 0; i < 3; i++) await monitor.PollAsync(container, CancellationToken.None);
            Assert.False(health.Get(container.CameraId).Online);
            Assert.Equal(CaptureFailure.Offline, health.Get(container.CameraId).LastError);
            camera = await FakeCamera.StartAsync(port: port);
            for (var i = 0; i < 3; i++) await monitor.PollAsync(container, CancellationToken.None);
            Assert.True(health.Get(container.CameraId).Online);
        }
        await camera.DisposeAsync();

        Assert.Equal(2, h.Logs.At(LogLevel.Warning).Count(m => m.Contains("Camera espcam-ctr-001 is offline")));
        Assert.Equal(2, h.Logs.At(LogLevel.Information).Count(m => m.Contains("Camera espcam-ctr-001 is back online")));
    }

    [Fact]
    public async Task A_camera_offline_several_times_running_gets_one_attempt_per_capture_until_it_answers()
    {
        using var dir = new TempDirectory();
        var port = TestPorts.Free();
        var camera = await FakeCamera.StartAsync(port: port);
        var settings = EngineHarness.Container("ctr-001", camera.Url);
        settings["Capture:Attempts"] = "3";
        settings["Capture:BreakAfterFailures"] = "2";
        await using var h = await EngineHarness.StartAsync(dir.Path, settings);
        await camera.DisposeAsync();

        async Task<string> CaptureOnceAsync(int sessions)
        {
            h.Post("ctr-001", DoorEventKind.Closed);
            await Eventually.UntilAsync(() => h.Store.ListSessions("ctr-001", SessionPhase.Complete, false, null, 100).Sessions.Count == sessions,
                TimeSpan.FromSeconds(30), $"session {sessions}");
            return h.Logs.At(LogLevel.Warning).Last(m => m.Contains("Capture AFTER_CLOSE for ctr-001"));
        }

        // Each failed capture's log line lists its grabs: three while the camera is new to being away, then one.
        static int Grabs(string line) => System.Text.RegularExpressions.Regex.Count(line, @"offline \d");
        Assert.Equal(3, Grabs(await CaptureOnceAsync(1)));
        Assert.Equal(3, Grabs(await CaptureOnceAsync(2)));
        Assert.Equal(1, Grabs(await CaptureOnceAsync(3)));

        camera = await FakeCamera.StartAsync(port: port);
        await using var _ = camera;
        await CaptureOnceAsync(4);
        var latest = h.Store.ListSessions("ctr-001", null, false, null, 1).Sessions[0];
        Assert.True(Assert.Single(h.Store.GetEvidenceForSession(latest.SessionId)).IsCaptured);
        camera.Mode = CameraMode.Http500;
        var requests = camera.CaptureRequests;
        await CaptureOnceAsync(5);
        Assert.Equal(requests + 3, camera.CaptureRequests);
    }

    [Fact]
    public async Task A_camera_that_accepts_but_does_not_answer_is_busy_not_offline_and_keeps_every_attempt()
    {
        using var dir = new TempDirectory();
        await using var camera = await FakeCamera.StartAsync();
        camera.Mode = CameraMode.Hang;
        var settings = EngineHarness.Container("ctr-001", camera.Url);
        settings["Capture:Attempts"] = "3";
        settings["Capture:AttemptTimeoutMs"] = "300";
        settings["Capture:TimeoutMs"] = "5000";
        settings["Capture:BreakAfterFailures"] = "1";
        await using var h = await EngineHarness.StartAsync(dir.Path, settings);

        for (var sessions = 1; sessions <= 2; sessions++)
        {
            h.Post("ctr-001", DoorEventKind.Closed);
            var expected = sessions;
            await Eventually.UntilAsync(() => h.Store.ListSessions("ctr-001", SessionPhase.Complete, false, null, 100).Sessions.Count == expected,
                TimeSpan.FromSeconds(30), $"session {sessions}");
        }

        var health = h.Services.GetRequiredService<CameraHealth>().Get("espcam-ctr-001");
        Assert.Equal(CameraHealth.States.Busy, health.State);
        Assert.True(health.Online);
        var failures = h.Logs.At(LogLevel.Warning).Where(m => m.Contains("Capture AFTER_CLOSE for ctr-001")).ToList();
        Assert.Equal(2, failures.Count);
        // Busy is no reason to give up attempts: the second capture still had all three.
        Assert.All(failures, line => Assert.Equal(3, System.Text.RegularExpressions.Regex.Count(line, @"busy \d")));
        Assert.Contains(h.Logs.At(LogLevel.Warning), m => m.Contains("Camera espcam-ctr-001 is busy"));
        Assert.DoesNotContain(h.Logs.Entries, e => e.Message.Contains("is offline"));
    }
}
