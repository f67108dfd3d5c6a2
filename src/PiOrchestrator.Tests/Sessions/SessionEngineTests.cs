using System.Security.Cryptography;
using PiOrchestrator.Doors;
using PiOrchestrator.Jpeg;
using PiOrchestrator.Store;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Sessions;

/// <summary>The session state machine over a real SQLite file and a fake ESP32-CAM over real HTTP.</summary>
public class SessionEngineTests
{
    [Fact]
    public async Task Open_then_close_captures_before_and_after_and_completes_with_a_chain_head()
    {
        using var dir = new TempDirectory();
        await using var camera = await FakeCamera.StartAsync();
        await using var h = await EngineHarness.StartAsync(dir.Path, EngineHarness.Container("ctr-001", camera.Url));

        h.Post("ctr-001", DoorEventKind.Opened);
        await h.WaitForSessionAsync("ctr-001", s => s.HasBefore, "BEFORE_OPEN");
        h.Post("ctr-001", DoorEventKind.Closed);
        var session = await h.WaitForCompleteAsync("ctr-001");

        var evidence = h.Store.GetEvidenceForSession(session.SessionId);
        Assert.Equal(["BEFORE_OPEN", "AFTER_CLOSE"], evidence.Select(e => EvidenceNames.Of(e.Tag)));
        Assert.All(evidence, e =>
        {
            Assert.Equal(CaptureStatus.Captured, e.Status);
            Assert.Equal(7, e.EvidenceId.Version);
            Assert.Equal(UploadStatus.Pending, e.UploadStatus);
            var bytes = h.Store.ReadImage(e.EvidenceId)!;
            Assert.Equal(e.Sha256, Convert.ToHexStringLower(SHA256.HashData(bytes)));
            Assert.Equal(e.ImageSizeBytes, bytes.Length);
            Assert.StartsWith($"evidence/ctr-001/{session.SessionId}/{EvidenceNames.Of(e.Tag)}_", e.ObjectKey);
            Assert.Equal((320, 240), (e.Width, e.Height));
        });
        Assert.Equal(camera.ServedSha256, evidence.Select(e => e.Sha256!));
        Assert.Equal(HashChain.Head(session.SessionId, evidence), session.ChainHead);
        Assert.NotNull(session.ClosedAt);
    }

    [Fact]
    public async Task Closed_without_open_records_NO_OPEN_EVENT_and_still_captures_after()
    {
        using var dir = new TempDirectory();
        await using var camera = await FakeCamera.StartAsync();
        await using var h = await EngineHarness.StartAsync(dir.Path, EngineHarness.Container("ctr-001", camera.Url));

        h.Post("ctr-001", DoorEventKind.Closed);
        var session = await h.WaitForCompleteAsync("ctr-001");

        Assert.Equal(MissingReason.NoOpenEvent, session.BeforeMissingReason);
        var evidence = Assert.Single(h.Store.GetEvidenceForSession(session.SessionId));
        Assert.Equal(CaptureTag.AfterClose, evidence.Tag);
        Assert.True(evidence.IsCaptured);
        Assert.Equal(1, camera.CaptureRequests);
    }

    [Fact]
    public async Task Duplicate_event_id_is_ignored()
    {
        using var dir = new TempDirectory();
        await using var camera = await FakeCamera.StartAsync();
        await using var h = await EngineHarness.StartAsync(dir.Path, EngineHarness.Container("ctr-001", camera.Url));

        h.Post("ctr-001", DoorEventKind.Opened, eventId: "ev-1");
        h.Post("ctr-001", DoorEventKind.Closed, eventId: "ev-2");
        await h.WaitForCompleteAsync("ctr-001");
        // The same two events again, as a broker redelivers after a reconnect.
        h.Post("ctr-001", DoorEventKind.Opened, eventId: "ev-1");
        h.Post("ctr-001", DoorEventKind.Closed, eventId: "ev-2");
        h.Post("ctr-001", DoorEventKind.Opened, eventId: "ev-3");
        await h.WaitForSessionAsync("ctr-001", s => s.HasBefore && s.Phase == SessionPhase.Open, "the ev-3 session");

        Assert.Equal(2, h.Sessions("ctr-001").Count);
        Assert.Equal(3, camera.CaptureRequests);
        Assert.Contains(h.Logs.Entries, e => e.Message.Contains("Duplicate door event ev-1"));
    }

    [Fact]
    public async Task Opened_twice_in_one_session_captures_once()
    {
        using var dir = new TempDirectory();
        await using var camera = await FakeCamera.StartAsync();
        await using var h = await EngineHarness.StartAsync(dir.Path, EngineHarness.Container("ctr-001", camera.Url));

        h.Post("ctr-001", DoorEventKind.OpenRequested);
        h.Post("ctr-001", DoorEventKind.Opened);
        h.Post("ctr-001", DoorEventKind.Opened);
        h.Post("ctr-001", DoorEventKind.Closed);
        var session = await h.WaitForCompleteAsync("ctr-001");

        Assert.Single(h.Sessions("ctr-001"));
        Assert.Equal(2, h.Store.GetEvidenceForSession(session.SessionId).Count);
        Assert.Equal(2, camera.CaptureRequests);
    }

    [Fact]
    public async Task Reopening_while_the_door_settles_continues_the_same_session()
    {
        using var dir = new TempDirectory();
        await using var camera = await FakeCamera.StartAsync();
        var settings = EngineHarness.Container("ctr-001", camera.Url);
        settings["Capture:AfterCloseDelayMs"] = "60000";
        await using var h = await EngineHarness.StartAsync(dir.Path, settings);

        h.Post("ctr-001", DoorEventKind.Opened);
        await h.WaitForSessionAsync("ctr-001", s => s.HasBefore, "BEFORE_OPEN");
        h.Post("ctr-001", DoorEventKind.Closed);
        await h.WaitForSessionAsync("ctr-001", s => s.Phase == SessionPhase.Closing, "closing");
        h.Post("ctr-001", DoorEventKind.Opened);
        var reopened = await h.WaitForSessionAsync("ctr-001", s => s.Phase == SessionPhase.Open && s.Revision > 3, "reopened");

        Assert.Single(h.Sessions("ctr-001"));
        Assert.Null(reopened.AfterCloseDueAt);
        Assert.Equal(1, camera.CaptureRequests);
    }

    [Fact]
    public async Task Access_system_session_id_is_used_and_not_reused()
    {
        using var dir = new TempDirectory();
        await using var camera = await FakeCamera.StartAsync();
        await using var h = await EngineHarness.StartAsync(dir.Path, EngineHarness.Container("ctr-001", camera.Url));

        h.Post("ctr-001", DoorEventKind.Opened, sessionId: "sess-abc123");
        h.Post("ctr-001", DoorEventKind.Closed);
        var session = await h.WaitForCompleteAsync("ctr-001");
        Assert.Equal("sess-abc123", session.SessionId);

        h.Post("ctr-001", DoorEventKind.Opened, sessionId: "sess-abc123");
        h.Post("ctr-001", DoorEventKind.Opened, sessionId: "sess-next");
        await h.WaitForSessionAsync("ctr-001", s => s.SessionId == "sess-next" && s.HasBefore, "sess-next");
        Assert.Equal(2, h.Sessions("ctr-001").Count);
    }

    [Fact]
    public async Task A_restart_in_the_middle_of_a_session_resumes_it()
    {
        using var dir = new TempDirectory();
        await using var camera = await FakeCamera.StartAsync();
        var settings = EngineHarness.Container("ctr-001", camera.Url);
        string sessionId;
        await using (var first = await EngineHarness.StartAsync(dir.Path, settings))
        {
            first.Post("ctr-001", DoorEventKind.Opened);
            sessionId = (await first.WaitForSessionAsync("ctr-001", s => s.HasBefore, "BEFORE_OPEN")).SessionId;
        }
        await using var second = await EngineHarness.StartAsync(dir.Path, settings);
        Assert.Equal(sessionId, second.Engine.Snapshot("ctr-001")!.CurrentSessionId);
        second.Post("ctr-001", DoorEventKind.Closed);
        var session = await second.WaitForCompleteAsync("ctr-001");

        Assert.Equal(sessionId, session.SessionId);
        Assert.True(session.PairComplete);
    }

    [Fact]
    public async Task A_restart_while_closing_takes_the_AFTER_CLOSE_it_owed()
    {
        using var dir = new TempDirectory();
        await using var camera = await FakeCamera.StartAsync();
        var settings = EngineHarness.Container("ctr-001", camera.Url);
        settings["Capture:AfterCloseDelayMs"] = "300";
        await using (var first = await EngineHarness.StartAsync(dir.Path, settings))
        {
            first.Post("ctr-001", DoorEventKind.Opened);
            await first.WaitForSessionAsync("ctr-001", s => s.HasBefore, "BEFORE_OPEN");
            first.Post("ctr-001", DoorEventKind.Closed);
            await first.WaitForSessionAsync("ctr-001", s => s.Phase == SessionPhase.Closing, "closing");
        }
        Assert.Equal(SessionPhase.Closing, Assert.Single(new EvidenceStoreProbe(dir.Path).Unfinished()).Phase);
        await using var second = await EngineHarness.StartAsync(dir.Path, settings);
        var session = await second.WaitForCompleteAsync("ctr-001");
        Assert.True(session.PairComplete);
    }

    [Fact]
    public async Task A_stored_AFTER_CLOSE_time_far_ahead_of_the_clock_waits_no_longer_than_the_delay()
    {
        using var dir = new TempDirectory();
        await using var camera = await FakeCamera.StartAsync();
        var settings = EngineHarness.Container("ctr-001", camera.Url);
        settings["Capture:AfterCloseDelayMs"] = "300";
        // The first run's clock is an hour ahead; after the reboot the clock is right (a Pi without RTC gets it wrong either way).
        var ahead = new OffsetTimeProvider();
        ahead.Advance(TimeSpan.FromHours(1));
        await using (var first = await EngineHarness.StartAsync(dir.Path, settings, ahead))
        {
            first.Post("ctr-001", DoorEventKind.Opened);
            await first.WaitForSessionAsync("ctr-001", s => s.HasBefore, "BEFORE_OPEN");
            first.Engine.Post(new DoorEvent("ctr-001", DoorEventKind.Closed, DoorEventSource.Mqtt, ahead.GetUtcNow()));
            await first.WaitForSessionAsync("ctr-001", s => s.Phase == SessionPhase.Closing, "closing");
        }
        Assert.True(Assert.Single(new EvidenceStoreProbe(dir.Path).Unfinished()).AfterCloseDueAt > DateTimeOffset.UtcNow.AddMinutes(50));

        await using var second = await EngineHarness.StartAsync(dir.Path, settings);
        var session = await second.WaitForCompleteAsync("ctr-001");
        Assert.True(session.PairComplete);
    }

    [Fact]
    public async Task A_grab_cut_by_a_stop_overrun_is_recorded_interrupted_before_the_store_closes()
    {
        using var dir = new TempDirectory();
        await using var camera = await FakeCamera.StartAsync();
        camera.Mode = CameraMode.Hang;
        var settings = EngineHarness.Container("ctr-001", camera.Url);
        settings["Capture:TimeoutMs"] = "30000";
        settings["Capture:AttemptTimeoutMs"] = "30000";
        var h = await EngineHarness.StartAsync(dir.Path, settings);
        h.Post("ctr-001", DoorEventKind.Opened);
        var session = await h.WaitForSessionAsync("ctr-001", _ => true, "the session");
        await Eventually.UntilAsync(() => camera.CaptureRequests > 0, TimeSpan.FromSeconds(10), "the BEFORE_OPEN request");

        // The host's stop timeout has already passed.
        using var overrun = new CancellationTokenSource();
        overrun.Cancel();
        await h.Engine.StopAsync(overrun.Token);

        var row = Assert.Single(h.Store.GetEvidenceForSession(session.SessionId));
        Assert.Equal((CaptureStatus.Failed, CaptureFailure.Interrupted), (row.Status, row.FailureReason));
        h.Store.Dispose();
        h.Store.Dispose();
        await h.DisposeAsync();
    }

    [Theory]
    [InlineData(CameraMode.Http500, CaptureFailure.GrabFailed)]
    [InlineData(CameraMode.Hang, CaptureFailure.Busy)]
    [InlineData(CameraMode.TruncatedNoEoi, CaptureFailure.TruncatedJpeg)]
    [InlineData(CameraMode.ShortBody, CaptureFailure.TruncatedJpeg)]
    [InlineData(CameraMode.CutWithFakeEoi, CaptureFailure.TruncatedJpeg)]
    [InlineData(CameraMode.NoSoi, CaptureFailure.NotAJpeg)]
    [InlineData(CameraMode.Garbage, CaptureFailure.NotAJpeg)]
    public async Task A_bad_frame_is_never_stored_as_captured(CameraMode mode, string reason)
    {
        using var dir = new TempDirectory();
        await using var camera = await FakeCamera.StartAsync();
        camera.Mode = mode;
        var settings = EngineHarness.Container("ctr-001", camera.Url);
        settings["Capture:TimeoutMs"] = "3000";
        settings["Capture:AttemptTimeoutMs"] = "1000";
        await using var h = await EngineHarness.StartAsync(dir.Path, settings);

        h.Post("ctr-001", DoorEventKind.Opened);
        h.Post("ctr-001", DoorEventKind.Closed);
        var session = await h.WaitForCompleteAsync("ctr-001");

        var evidence = h.Store.GetEvidenceForSession(session.SessionId);
        Assert.Equal(2, evidence.Count);
        var warnings = string.Join("\n", h.Logs.Entries.Select(e => $"{e.Level} {e.Message}"));
        Assert.All(evidence, e =>
        {
            Assert.Equal(CaptureStatus.Failed, e.Status);
            Assert.True(reason == e.FailureReason, $"expected {reason}, got {e.FailureReason}; log:\n{warnings}");
            Assert.Null(e.Sha256);
            Assert.Null(h.Store.ReadImage(e.EvidenceId));
        });
        Assert.False(session.PairComplete);
        Assert.Contains(h.Logs.At(Microsoft.Extensions.Logging.LogLevel.Warning), m => m.Contains(reason));
    }

    [Fact]
    public async Task An_unreachable_camera_is_recorded_as_offline()
    {
        using var dir = new TempDirectory();
        await using var h = await EngineHarness.StartAsync(dir.Path, EngineHarness.Container("ctr-001", $"http://127.0.0.1:{TestPorts.Free()}"));

        h.Post("ctr-001", DoorEventKind.Closed);
        var session = await h.WaitForCompleteAsync("ctr-001");

        Assert.Equal(CaptureFailure.Offline, Assert.Single(h.Store.GetEvidenceForSession(session.SessionId)).FailureReason);
    }

    [Fact]
    public async Task The_stale_first_frame_is_flushed()
    {
        using var dir = new TempDirectory();
        await using var camera = await FakeCamera.StartAsync();
        camera.Mode = CameraMode.StaleFirst;
        await using var h = await EngineHarness.StartAsync(dir.Path, EngineHarness.Container("ctr-001", camera.Url, flushFrames: 1));

        h.Post("ctr-001", DoorEventKind.Closed);
        var session = await h.WaitForCompleteAsync("ctr-001");

        var evidence = Assert.Single(h.Store.GetEvidenceForSession(session.SessionId));
        Assert.Equal(2, camera.CaptureRequests);
        // The first answer was the frame left over from before; the stored one is the one taken at the flush.
        Assert.Equal(camera.ServedSha256[1], evidence.Sha256);
    }

    [Fact]
    public async Task A_hanging_camera_does_not_delay_another_container()
    {
        using var dir = new TempDirectory();
        await using var stuck = await FakeCamera.StartAsync(seed: 1);
        await using var healthy = await FakeCamera.StartAsync(seed: 2);
        stuck.Mode = CameraMode.Hang;
        var settings = EngineHarness.Container("ctr-stuck", stuck.Url);
        foreach (var (k, v) in EngineHarness.Container("ctr-ok", healthy.Url, index: 1)) settings[k] = v;
        settings["Capture:TimeoutMs"] = "10000";
        await using var h = await EngineHarness.StartAsync(dir.Path, settings);

        h.Post("ctr-stuck", DoorEventKind.Opened);
        h.Post("ctr-ok", DoorEventKind.Opened);
        await h.WaitForSessionAsync("ctr-ok", s => s.HasBefore, "the healthy container's BEFORE_OPEN");

        var stuckSession = Assert.Single(h.Sessions("ctr-stuck"));
        Assert.Empty(h.Store.GetEvidenceForSession(stuckSession.SessionId));
    }
}

/// <summary>Reads a data directory's store without the engine, as a technician's sqlite3 would.</summary>
internal sealed class EvidenceStoreProbe(string dataDirectory)
{
    public List<SessionRecord> Unfinished()
    {
        using var store = new EvidenceStore(
            Microsoft.Extensions.Options.Options.Create(new StorageOptions { DataDirectory = dataDirectory }),
            Microsoft.Extensions.Logging.Abstractions.NullLogger<EvidenceStore>.Instance);
        return store.UnfinishedSessions();
    }
}
