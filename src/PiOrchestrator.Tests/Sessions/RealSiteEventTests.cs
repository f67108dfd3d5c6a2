using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using PiOrchestrator.Doors;
using PiOrchestrator.Evidence;
using PiOrchestrator.Sessions;
using PiOrchestrator.Store;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Sessions;

/// <summary>What real sites send: the same door from two sources, repeats, late events, doors left open.</summary>
public class RealSiteEventTests
{
    private static Dictionary<string, string?> Settings(string cameraUrl, int mergeWindowMs = 5000)
    {
        var settings = EngineHarness.Container("ctr-001", cameraUrl);
        settings["Doors:MergeWindowMs"] = mergeWindowMs.ToString();
        return settings;
    }

    private static void Post(EngineHarness h, DoorEventKind kind, DoorEventSource source, DateTimeOffset? timestamp = null) =>
        h.Engine.Post(new DoorEvent("ctr-001", kind, source, DateTimeOffset.UtcNow, Timestamp: timestamp));

    [Fact]
    public async Task Mqtt_and_gpio_reporting_one_door_make_one_session_and_one_BEFORE_OPEN()
    {
        using var dir = new TempDirectory();
        await using var camera = await FakeCamera.StartAsync();
        await using var h = await EngineHarness.StartAsync(dir.Path, Settings(camera.Url));

        Post(h, DoorEventKind.Opened, DoorEventSource.Gpio);
        Post(h, DoorEventKind.OpenRequested, DoorEventSource.Mqtt);
        Post(h, DoorEventKind.Opened, DoorEventSource.Mqtt);
        await h.WaitForSessionAsync("ctr-001", s => s.HasBefore, "BEFORE_OPEN");
        Post(h, DoorEventKind.Closed, DoorEventSource.Gpio);
        await h.WaitForCompleteAsync("ctr-001");
        // The lock controller's "closed" arrives after the session already completed on the GPIO close.
        Post(h, DoorEventKind.Closed, DoorEventSource.Mqtt);
        Post(h, DoorEventKind.Opened, DoorEventSource.Gpio);
        await h.WaitForSessionAsync("ctr-001", s => s.Phase == SessionPhase.Open && s.HasBefore, "the next opening");

        var sessions = h.Sessions("ctr-001");
        Assert.Equal(2, sessions.Count);
        Assert.All(sessions, s => Assert.Null(s.BeforeMissingReason));
        Assert.Equal(3, camera.CaptureRequests);
    }

    [Fact]
    public async Task The_same_state_twice_outside_the_window_is_a_close_without_open()
    {
        using var dir = new TempDirectory();
        await using var camera = await FakeCamera.StartAsync();
        await using var h = await EngineHarness.StartAsync(dir.Path, Settings(camera.Url, mergeWindowMs: 100));

        Post(h, DoorEventKind.Closed, DoorEventSource.Mqtt);
        await h.WaitForCompleteAsync("ctr-001");
        await Eventually.UntilAsync(() => h.Sessions("ctr-001")[0].CompletedAt < DateTimeOffset.UtcNow.AddMilliseconds(-150), TimeSpan.FromSeconds(5), "the window to pass");
        Post(h, DoorEventKind.Closed, DoorEventSource.Mqtt);
        await Eventually.UntilAsync(() => h.Sessions("ctr-001").Count(s => s.Phase == SessionPhase.Complete) == 2, TimeSpan.FromSeconds(10), "a second session");
        Assert.All(h.Sessions("ctr-001"), s => Assert.Equal(MissingReason.NoOpenEvent, s.BeforeMissingReason));
    }

    [Fact]
    public async Task A_late_event_stamped_before_the_newest_one_from_its_source_is_dropped()
    {
        using var dir = new TempDirectory();
        await using var camera = await FakeCamera.StartAsync();
        await using var h = await EngineHarness.StartAsync(dir.Path, Settings(camera.Url));
        var now = DateTimeOffset.UtcNow;

        Post(h, DoorEventKind.Opened, DoorEventSource.Mqtt, now);
        await h.WaitForSessionAsync("ctr-001", s => s.HasBefore, "BEFORE_OPEN");
        // A "closed" from the previous cycle, delivered late by a reconnecting publisher.
        Post(h, DoorEventKind.Closed, DoorEventSource.Mqtt, now.AddMinutes(-3));
        Post(h, DoorEventKind.Opened, DoorEventSource.Gpio);
        await Eventually.UntilAsync(() => h.Logs.Entries.Any(e => e.Message.Contains("Late closed")), TimeSpan.FromSeconds(5), "the late-event warning");

        var session = Assert.Single(h.Sessions("ctr-001"));
        Assert.Equal(SessionPhase.Open, session.Phase);
        Post(h, DoorEventKind.Closed, DoorEventSource.Mqtt, now.AddSeconds(30));
        Assert.True((await h.WaitForCompleteAsync("ctr-001")).PairComplete);
    }

    [Fact]
    public async Task One_event_stamped_years_ahead_does_not_make_later_events_late()
    {
        using var dir = new TempDirectory();
        await using var camera = await FakeCamera.StartAsync();
        await using var h = await EngineHarness.StartAsync(dir.Path, Settings(camera.Url, mergeWindowMs: 0));

        // A lock controller's clock glitch: one event stamped in 2031, the rest correct.
        h.Engine.Post(new DoorEvent("ctr-001", DoorEventKind.Opened, DoorEventSource.Mqtt, DateTimeOffset.UtcNow, "ev-future", "sess-future",
            new DateTimeOffset(2031, 1, 1, 0, 0, 0, TimeSpan.Zero)));
        await h.WaitForSessionAsync("ctr-001", s => s.SessionId == "sess-future" && s.HasBefore, "the glitched event's session");
        h.Engine.Post(new DoorEvent("ctr-001", DoorEventKind.Closed, DoorEventSource.Mqtt, DateTimeOffset.UtcNow, "ev-closed", null, DateTimeOffset.UtcNow));
        await h.WaitForSessionAsync("ctr-001", s => s.SessionId == "sess-future" && s.Phase == SessionPhase.Complete, "the glitched session to complete");
        h.Engine.Post(new DoorEvent("ctr-001", DoorEventKind.Opened, DoorEventSource.Mqtt, DateTimeOffset.UtcNow, "ev-good", "sess-good", DateTimeOffset.UtcNow));

        await h.WaitForSessionAsync("ctr-001", s => s.SessionId == "sess-good" && s.HasBefore, "the correctly stamped session");
        Assert.Single(h.Logs.At(LogLevel.Warning), m => m.Contains("ahead of the time it arrived"));
        Assert.DoesNotContain(h.Logs.At(LogLevel.Warning), m => m.Contains("Late "));
    }

    [Fact]
    public async Task Open_requested_then_opened_inside_the_merge_window_shows_the_door_open()
    {
        using var dir = new TempDirectory();
        await using var camera = await FakeCamera.StartAsync();
        await using var h = await EngineHarness.StartAsync(dir.Path, Settings(camera.Url));

        Post(h, DoorEventKind.Closed, DoorEventSource.Mqtt);
        await h.WaitForCompleteAsync("ctr-001");
        Assert.Equal(DoorState.Closed, h.Engine.Snapshot("ctr-001")!.Door);
        Post(h, DoorEventKind.OpenRequested, DoorEventSource.Mqtt);
        Post(h, DoorEventKind.Opened, DoorEventSource.Mqtt);

        await Eventually.UntilAsync(() => h.Logs.Entries.Any(e => e.Message.Contains("merged with the same report")), TimeSpan.FromSeconds(5), "the opened to be merged");
        Assert.Equal(DoorState.Open, h.Engine.Snapshot("ctr-001")!.Door);
    }

    [Fact]
    public async Task A_door_left_open_is_flagged_warned_and_alerted_once()
    {
        using var dir = new TempDirectory();
        await using var camera = await FakeCamera.StartAsync();
        var time = new OffsetTimeProvider();
        var settings = Settings(camera.Url);
        settings["Sessions:MaxOpenMinutes"] = "10";
        await using var h = await EngineHarness.StartAsync(dir.Path, settings, time);
        var alerts = new List<DoorAlert>();
        h.Engine.Alert += alerts.Add;

        h.Post("ctr-001", DoorEventKind.Opened);
        var session = await h.WaitForSessionAsync("ctr-001", s => s.HasBefore, "BEFORE_OPEN");
        time.Elapse(TimeSpan.FromMinutes(11));
        var flagged = await h.WaitForSessionAsync("ctr-001", s => s.DoorLeftOpenAt is not null, "the door-left-open flag");
        time.Elapse(TimeSpan.FromMinutes(30));
        // The engine's 5 s tick has run again since the clock moved: a second alert would have been raised by now.
        await Eventually.UntilAsync(() => h.Engine.LastTurn > time.GetUtcNow().AddSeconds(-1), TimeSpan.FromSeconds(15), "another tick");

        Assert.Equal(session.SessionId, flagged.SessionId);
        var alert = Assert.Single(alerts);
        Assert.Equal(("door_left_open", "ctr-001", session.SessionId), (alert.Alert, alert.ContainerId, alert.SessionId));
        Assert.Single(h.Logs.At(LogLevel.Warning), m => m.Contains("DOOR_LEFT_OPEN"));
        var views = new EvidenceViews(h.Store, new ImageCache(Microsoft.Extensions.Options.Options.Create(new StorageOptions())), time);
        var pair = views.Pair(h.Store.GetSession(session.SessionId)!, withImages: false);
        Assert.Equal(MissingReason.DoorLeftOpen, pair.After!.MissingReason);

        h.Post("ctr-001", DoorEventKind.Closed);
        Assert.True((await h.WaitForCompleteAsync("ctr-001")).PairComplete);
    }
}
