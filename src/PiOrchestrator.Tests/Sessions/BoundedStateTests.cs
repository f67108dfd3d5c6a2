using PiOrchestrator.Doors;
using PiOrchestrator.Sessions;
using PiOrchestrator.Store;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Sessions;

/// <summary>What the engine remembers in memory is a window; the store answers beyond it.</summary>
public class BoundedStateTests
{
    [Fact]
    public void Remembered_ids_are_forgotten_after_the_window_on_the_monotonic_clock()
    {
        var time = new ManualTimeProvider();
        var ids = new RecentIds<string>(time, TimeSpan.FromDays(7), 10_000, StringComparer.Ordinal);
        for (var i = 0; i < 1000; i++)
        {
            Assert.True(ids.Add($"ev-{i}"));
            time.Advance(TimeSpan.FromMinutes(10));
        }
        Assert.False(ids.Add("ev-999"));
        // A wall-clock step forward by a year forgets nothing early.
        time.StepWallClock(TimeSpan.FromDays(365));
        ids.Prune();
        Assert.Equal(1000, ids.Count);
        // The last id came 10 minutes ago: 20 minutes short of its week, it and the one before remain.
        time.Advance(TimeSpan.FromDays(7) - TimeSpan.FromMinutes(20));
        ids.Prune();
        Assert.Equal(2, ids.Count);
        Assert.True(ids.Contains("ev-999"));
        time.Advance(TimeSpan.FromMinutes(20));
        ids.Prune();
        Assert.Equal(0, ids.Count);
        Assert.True(ids.Add("ev-0"));
    }

    [Fact]
    public void Remembered_ids_are_bounded_in_count_and_say_when_the_store_must_answer()
    {
        var time = new ManualTimeProvider();
        var ids = new RecentIds<string>(time, TimeSpan.FromDays(7), 100, StringComparer.Ordinal);
        for (var i = 0; i < 100; i++) Assert.True(ids.Add($"ev-{i}"));
        Assert.True(ids.Complete);
        // A flood of new ids: the oldest make room, and a miss no longer proves an id unseen.
        for (var i = 100; i < 50_000; i++) Assert.True(ids.Add($"ev-{i}"));
        Assert.Equal(100, ids.Count);
        Assert.False(ids.Contains("ev-0"));
        Assert.True(ids.Contains("ev-49999"));
        Assert.False(ids.Complete);
        // Once the last id pushed out would have been forgotten anyway, memory is whole again.
        time.Advance(TimeSpan.FromDays(7) + TimeSpan.FromSeconds(1));
        Assert.True(ids.Complete);
        ids.Prune();
        Assert.Equal(0, ids.Count);
    }

    [Fact]
    public void A_door_event_rate_above_the_limit_is_flagged_until_a_minute_passes_at_a_normal_rate()
    {
        var time = new ManualTimeProvider();
        var rate = new DoorEventRate(time, 120);
        for (var i = 0; i < 120; i++) rate.Count();
        Assert.False(rate.Flooded);
        rate.Count();
        Assert.True(rate.Flooded);
        Assert.Equal(121, rate.FloodEvents);
        // Still flooding in the next minute: the flag stays, the count goes on.
        time.Advance(TimeSpan.FromSeconds(61));
        for (var i = 0; i < 200; i++) rate.Count();
        time.Advance(TimeSpan.FromSeconds(61));
        rate.Roll();
        Assert.True(rate.Flooded);
        Assert.Equal(321, rate.FloodEvents);
        // A minute at a door's rate ends it.
        for (var i = 0; i < 3; i++) rate.Count();
        time.Advance(TimeSpan.FromSeconds(61));
        rate.Roll();
        Assert.False(rate.Flooded);
    }

    [Fact]
    public async Task A_duplicate_whose_id_a_flood_pushed_out_of_memory_is_still_caught_by_the_store()
    {
        using var dir = new TempDirectory();
        await using var camera = await FakeCamera.StartAsync();
        var settings = EngineHarness.Container("ctr-001", camera.Url);
        settings["Doors:RememberedEventIds"] = "100";
        await using var h = await EngineHarness.StartAsync(dir.Path, settings);
        h.Post("ctr-001", DoorEventKind.Opened, eventId: "ev-real", sessionId: "sess-real");
        for (var i = 0; i < 150; i++)
            h.Post("ctr-001", DoorEventKind.Opened, eventId: $"ev-forged-{i}");
        await Eventually.UntilAsync(() => h.Store.HasDoorEvent("ctr-001", "ev-forged-149"), TimeSpan.FromSeconds(30), "every forged event to be recorded");
        // The broker delivers the first event again once its door has closed and its session is over: no new session.
        h.Post("ctr-001", DoorEventKind.Closed, eventId: "ev-close");
        await h.WaitForCompleteAsync("ctr-001");
        h.Post("ctr-001", DoorEventKind.Opened, eventId: "ev-real", sessionId: "sess-real-again");
        h.Post("ctr-001", DoorEventKind.Closed, eventId: "ev-last");
        await Eventually.UntilAsync(() => h.Store.HasDoorEvent("ctr-001", "ev-last"), TimeSpan.FromSeconds(10), "the last event");
        Assert.Contains(h.Logs.Entries, e => e.Message.Contains("Duplicate door event ev-real for ctr-001 ignored"));
        Assert.Null(h.Store.GetSession("sess-real-again"));
    }

    [Theory]
    [InlineData("90", 7 * 24.0)]
    [InlineData("7", 7 * 24.0)]
    [InlineData("0.5", 12.0)]
    [InlineData("0.0005", 0.012)]
    public async Task Event_ids_are_remembered_no_longer_than_the_store_keeps_them(string metadataRetentionDays, double windowHours)
    {
        // The store deletes door_events rows with metadata retention: memory holding ids longer would only grow.
        using var dir = new TempDirectory();
        await using var camera = await FakeCamera.StartAsync();
        var settings = EngineHarness.Container("ctr-001", camera.Url);
        settings["Storage:MetadataRetentionDays"] = metadataRetentionDays;
        await using var h = await EngineHarness.StartAsync(dir.Path, settings);
        Assert.Equal(windowHours, h.Engine.SeenWindow.TotalHours, 6);
    }

    [Fact]
    public async Task A_supplied_session_id_is_free_again_once_retention_has_deleted_its_session()
    {
        using var dir = new TempDirectory();
        await using var camera = await FakeCamera.StartAsync();
        await using var h = await EngineHarness.StartAsync(dir.Path, EngineHarness.Container("ctr-001", camera.Url));
        h.Post("ctr-001", DoorEventKind.Opened, sessionId: "sess-access-7");
        h.Post("ctr-001", DoorEventKind.Closed);
        await h.WaitForCompleteAsync("ctr-001");
        // Uploaded (as the uploader records it), so retention may delete the session once it is old enough.
        foreach (var e in h.Store.GetEvidenceForSession("sess-access-7"))
            h.Store.SetUploadStatus(e, UploadStatus.Uploaded, null, DateTimeOffset.UtcNow);
        Assert.Equal(1, h.Store.DeleteSessionsBefore(DateTimeOffset.UtcNow.AddMinutes(1)));

        h.Post("ctr-001", DoorEventKind.Opened, sessionId: "sess-access-7");
        var again = await h.WaitForSessionAsync("ctr-001", s => s.SessionId == "sess-access-7" && s.HasBefore, "sess-access-7 reused");
        Assert.Equal(SessionPhase.Open, again.Phase);
    }

    [Fact]
    public async Task An_event_stamped_before_the_memory_window_is_checked_in_the_store()
    {
        using var dir = new TempDirectory();
        await using var camera = await FakeCamera.StartAsync();
        var settings = EngineHarness.Container("ctr-001", camera.Url);
        var time = new OffsetTimeProvider();
        var stamp = time.GetUtcNow();
        await using (var first = await EngineHarness.StartAsync(dir.Path, settings, time))
        {
            first.Engine.Post(new DoorEvent("ctr-001", DoorEventKind.Opened, DoorEventSource.Mqtt, time.GetUtcNow(), "ev-old", null, stamp));
            first.Engine.Post(new DoorEvent("ctr-001", DoorEventKind.Closed, DoorEventSource.Mqtt, time.GetUtcNow(), "ev-old-close", null, stamp));
            await first.WaitForCompleteAsync("ctr-001");
        }
        // Eight days on (past what a restart reloads into memory), a broker delivers the opening again.
        time.Advance(SessionEngine.MaxSeenWindow + TimeSpan.FromDays(1));
        await using var second = await EngineHarness.StartAsync(dir.Path, settings, time);
        second.Engine.Post(new DoorEvent("ctr-001", DoorEventKind.Opened, DoorEventSource.Mqtt, time.GetUtcNow(), "ev-old", null, stamp));
        second.Engine.Post(new DoorEvent("ctr-001", DoorEventKind.Opened, DoorEventSource.Mqtt, time.GetUtcNow(), "ev-new", null, time.GetUtcNow()));
        await second.WaitForSessionAsync("ctr-001", s => s.Phase == SessionPhase.Open && s.HasBefore, "the session of ev-new");
        Assert.Equal(2, second.Sessions("ctr-001").Count);
        Assert.Contains(second.Logs.Entries, e => e.Message.Contains("Duplicate door event ev-old"));
    }

    [Fact]
    public async Task A_problem_that_comes_with_every_event_is_one_warning_a_minute()
    {
        using var dir = new TempDirectory();
        await using var camera = await FakeCamera.StartAsync();
        await using var h = await EngineHarness.StartAsync(dir.Path, EngineHarness.Container("ctr-001", camera.Url));
        // A sender that only ever reports closing: every event starts a NO_OPEN_EVENT session.
        for (var i = 1; i <= 3; i++)
        {
            h.Post("ctr-001", DoorEventKind.Closed);
            await Eventually.UntilAsync(() => h.Sessions("ctr-001").Count(s => s.Phase == SessionPhase.Complete) == i, TimeSpan.FromSeconds(20), $"session {i} complete");
        }
        Assert.Single(h.Logs.At(Microsoft.Extensions.Logging.LogLevel.Warning), m => m.Contains("NO_OPEN_EVENT"));
        Assert.Equal(2, h.Logs.At(Microsoft.Extensions.Logging.LogLevel.Information).Count(m => m.Contains("NO_OPEN_EVENT")));
    }
}
