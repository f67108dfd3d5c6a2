using PiOrchestrator.Capture;
using PiOrchestrator.Doors;
using PiOrchestrator.Site;
using PiOrchestrator.Store;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Sessions;

/// <summary>The DURING_OPEN schedule: its arithmetic, and the engine following it on a clock the test moves.</summary>
public class TimelapseTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public void Schedule_keeps_the_interval_up_to_the_cap_then_doubles_each_wait()
    {
        var schedule = new TimelapseSchedule(TimeSpan.FromSeconds(5), MaxFrames: 3);
        Assert.Equal([5, 5, 5, 10, 20, 40, 80], Enumerable.Range(0, 7).Select(n => schedule.WaitAfter(n).TotalSeconds));
        // A door open for days: the wait stops growing at an hour, and never overflows.
        Assert.Equal(TimelapseSchedule.LongestWait, schedule.WaitAfter(10_000));
        Assert.Equal(TimeSpan.FromHours(2), new TimelapseSchedule(TimeSpan.FromHours(2), 1).WaitAfter(50));
    }

    [Fact]
    public void Container_setting_overrides_the_site_one_and_zero_is_off()
    {
        var options = new CaptureOptions { DuringOpenIntervalSeconds = 4, DuringOpenMaxFrames = 7 };
        Assert.Equal(new TimelapseSchedule(TimeSpan.FromSeconds(4), 7), TimelapseSchedule.For(options, new ContainerOptions()));
        Assert.Equal(TimeSpan.FromSeconds(0.5), TimelapseSchedule.For(options, new ContainerOptions { DuringOpenIntervalSeconds = 0.5 })!.Interval);
        Assert.Null(TimelapseSchedule.For(options, new ContainerOptions { DuringOpenIntervalSeconds = 0 }));
        Assert.Null(TimelapseSchedule.For(new CaptureOptions(), new ContainerOptions()));
    }

    [Theory]
    [InlineData("0.1")]
    [InlineData("-1")]
    [InlineData("3601")]
    public async Task An_interval_below_the_floor_or_out_of_range_stops_the_agent(string seconds)
    {
        using var dir = new TempDirectory();
        var settings = EngineHarness.Container("ctr-001", "http://127.0.0.1:9");
        settings["Capture:DuringOpenIntervalSeconds"] = seconds;
        var failure = await Assert.ThrowsAnyAsync<Exception>(async () => await (await EngineHarness.StartAsync(dir.Path, settings)).DisposeAsync());
        Assert.Contains("DuringOpenIntervalSeconds", failure.ToString());

        var perContainer = EngineHarness.Container("ctr-001", "http://127.0.0.1:9");
        perContainer["Containers:0:DuringOpenIntervalSeconds"] = seconds;
        failure = await Assert.ThrowsAnyAsync<Exception>(async () => await (await EngineHarness.StartAsync(dir.Path, perContainer)).DisposeAsync());
        Assert.Contains("Containers:0:DuringOpenIntervalSeconds", failure.ToString());
    }

    [Fact]
    public async Task Frames_follow_the_interval_after_BEFORE_OPEN_thin_out_past_the_cap_and_stop_at_close()
    {
        using var dir = new TempDirectory();
        var time = new ManualTimeProvider();
        await using var camera = await FakeCamera.StartAsync();
        var settings = EngineHarness.Container("ctr-001", camera.Url);
        settings["Capture:DuringOpenIntervalSeconds"] = "10";
        settings["Capture:DuringOpenMaxFrames"] = "2";
        await using var h = await EngineHarness.StartAsync(dir.Path, settings, time);

        Post(h, time, DoorEventKind.Opened);
        // The first frame is due one interval after BEFORE_OPEN is stored, not alongside it.
        await WaitForTimerAsync(time, TimeSpan.FromSeconds(10), "the first frame's timer");
        var session = Assert.Single(h.Sessions("ctr-001"));
        Assert.Equal([CaptureTag.BeforeOpen], h.Store.GetEvidenceForSession(session.SessionId).Select(e => e.Tag));

        time.Advance(TimeSpan.FromSeconds(9));
        Assert.True(time.HasTimerDueIn(TimeSpan.FromSeconds(1)));
        time.Advance(TimeSpan.FromSeconds(1));
        await WaitForFramesAsync(h, session.SessionId, 1);
        await WaitForTimerAsync(time, TimeSpan.FromSeconds(10), "the second frame's timer");
        time.Advance(TimeSpan.FromSeconds(10));
        await WaitForFramesAsync(h, session.SessionId, 2);

        // At the cap: the next wait is twice the interval.
        await WaitForTimerAsync(time, TimeSpan.FromSeconds(20), "the third frame's timer, doubled");
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.True(time.HasTimerDueIn(TimeSpan.FromSeconds(10)));
        Assert.Equal(2, Frames(h, session.SessionId).Count);
        time.Advance(TimeSpan.FromSeconds(10));
        await WaitForFramesAsync(h, session.SessionId, 3);
        await WaitForTimerAsync(time, TimeSpan.FromSeconds(40), "the fourth frame's timer, doubled again");

        Post(h, time, DoorEventKind.Closed);
        await WaitForTimerAsync(time, TimeSpan.FromMilliseconds(50), "the AFTER_CLOSE timer");
        Assert.False(time.HasTimerDueIn(TimeSpan.FromSeconds(40)));
        time.Advance(TimeSpan.FromMilliseconds(50));
        var complete = await h.WaitForCompleteAsync("ctr-001");
        time.Advance(TimeSpan.FromMinutes(5));

        var evidence = h.Store.GetEvidenceForSession(session.SessionId);
        Assert.Equal(["BEFORE_OPEN", "DURING_OPEN", "DURING_OPEN", "DURING_OPEN", "AFTER_CLOSE"], evidence.Select(e => EvidenceNames.Of(e.Tag)));
        Assert.Equal([1, 2, 3], Frames(h, session.SessionId).Select(e => e.Sequence!.Value));
        Assert.All(evidence, e => Assert.True(e.IsCaptured && e.Signature is not null));
        Assert.All(Frames(h, session.SessionId), e => Assert.StartsWith($"evidence/ctr-001/{session.SessionId}/DURING_OPEN_{e.Sequence:D4}_", e.ObjectKey));
        Assert.Equal(HashChain.Head(session.SessionId, evidence), complete.ChainHead);
        Assert.Equal(5, camera.CaptureRequests);
    }

    [Fact]
    public async Task Ending_a_session_stops_its_frames()
    {
        using var dir = new TempDirectory();
        var time = new ManualTimeProvider();
        await using var camera = await FakeCamera.StartAsync();
        var settings = EngineHarness.Container("ctr-001", camera.Url);
        settings["Containers:0:DuringOpenIntervalSeconds"] = "3";
        await using var h = await EngineHarness.StartAsync(dir.Path, settings, time);

        Post(h, time, DoorEventKind.Opened);
        await WaitForTimerAsync(time, TimeSpan.FromSeconds(3), "the first frame's timer");
        var session = Assert.Single(h.Sessions("ctr-001"));
        time.Advance(TimeSpan.FromSeconds(3));
        await WaitForFramesAsync(h, session.SessionId, 1);

        var ended = h.Engine.EndSessionAsync(new PiOrchestrator.Sessions.EndRequest(session.SessionId, new PiOrchestrator.Sessions.Actor("admin", null), "test", AfterClose: false));
        await ended;
        time.Advance(TimeSpan.FromMinutes(1));
        Assert.Single(Frames(h, session.SessionId));
        Assert.Equal(2, camera.CaptureRequests);
    }

    [Fact]
    public async Task A_close_that_is_dropped_as_a_duplicate_leaves_the_frames_running()
    {
        using var dir = new TempDirectory();
        var time = new ManualTimeProvider();
        await using var camera = await FakeCamera.StartAsync();
        var settings = EngineHarness.Container("ctr-001", camera.Url);
        settings["Capture:DuringOpenIntervalSeconds"] = "3";
        await using var h = await EngineHarness.StartAsync(dir.Path, settings, time);

        Post(h, time, DoorEventKind.Opened, "ev-1");
        await WaitForTimerAsync(time, TimeSpan.FromSeconds(3), "the first frame's timer");
        var session = Assert.Single(h.Sessions("ctr-001"));
        time.Advance(TimeSpan.FromSeconds(1));
        // A redelivered event id: dropped by the loop after it had stopped the frames on arrival.
        Post(h, time, DoorEventKind.Closed, "ev-1");
        await Eventually.UntilAsync(() => h.Logs.Entries.Any(e => e.Message.Contains("Duplicate door event ev-1")), Deadline, "the duplicate dropped");
        await WaitForTimerAsync(time, TimeSpan.FromSeconds(3), "the frames started again");
        time.Advance(TimeSpan.FromSeconds(3));
        await WaitForFramesAsync(h, session.SessionId, 1);
        Assert.Equal(SessionPhase.Open, h.Store.GetSession(session.SessionId)!.Phase);
    }

    private static void Post(EngineHarness h, ManualTimeProvider time, DoorEventKind kind, string? eventId = null) =>
        h.Engine.Post(new DoorEvent("ctr-001", kind, DoorEventSource.Mqtt, time.GetUtcNow(), eventId));

    private static List<EvidenceRecord> Frames(EngineHarness h, string sessionId) =>
        h.Store.GetEvidenceForSession(sessionId).Where(e => e.Tag == CaptureTag.DuringOpen).ToList();

    private static Task WaitForTimerAsync(ManualTimeProvider time, TimeSpan dueIn, string what) =>
        Eventually.UntilAsync(() => time.HasTimerDueIn(dueIn), Deadline, what);

    private static Task WaitForFramesAsync(EngineHarness h, string sessionId, int count) =>
        Eventually.UntilAsync(() => Frames(h, sessionId).Count == count, Deadline, $"{count} frame(s)");
}
