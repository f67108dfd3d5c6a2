using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using PiOrchestrator.Doors;
using PiOrchestrator.Evidence;
using PiOrchestrator.Hosting;
using PiOrchestrator.Store;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Sessions;

/// <summary>
/// The whole agent in-process, uploading to a real S3 server, while its wall clock is stepped a year forward and a
/// day back in the middle of a session (NTP on a Pi without RTC). Timers run on the real monotonic clock.
/// </summary>
public class SessionClockStepTests
{
    [Fact]
    public async Task A_year_forward_then_a_day_back_mid_session_leaves_timers_on_time_and_unuploaded_photos_kept()
    {
        await using var s3 = await S3Server.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        await using var app = new AgentApplication(camera.Url, new Dictionary<string, string?>
        {
            ["S3:Endpoint"] = s3.Endpoint,
            ["S3:Bucket"] = "site-evidence",
            ["S3:AccessKey"] = S3Server.AccessKey,
            ["S3:SecretKey"] = S3Server.SecretKey,
            ["S3:RetryBaseDelayMs"] = "100",
            ["S3:BreakSeconds"] = "1",
            ["Capture:AfterCloseDelayMs"] = "1000",
        });
        using var http = app.CreateClient();
        var sink = app.Services.GetRequiredService<IDoorEventSink>();
        void Post(DoorEventKind kind) => sink.Post(new DoorEvent("ctr-001", kind, DoorEventSource.Mqtt, app.Time.GetUtcNow()));

        // A cycle that reached S3: its local bytes may go once the clock says they are old.
        var uploadedSession = await app.DoorCycleAsync("ctr-002");
        await Eventually.UntilAsync(() => app.Store.GetEvidenceForSession(uploadedSession).All(e => e.UploadStatus == UploadStatus.Uploaded),
            TimeSpan.FromSeconds(30), "the first cycle uploaded");
        // From here nothing reaches S3: the session's photos stay pending.
        await s3.StopAsync();
        Post(DoorEventKind.Opened);
        var session = await Eventually.UntilAsync(() => Task.FromResult(
            app.Store.ListSessions("ctr-001", null, false, null, 10).Sessions.FirstOrDefault(s => s.HasBefore)), TimeSpan.FromSeconds(20), "BEFORE_OPEN");

        app.Time.Advance(TimeSpan.FromDays(365));
        // The step is noticed on the engine's next tick, after that tick's door-left-open check.
        await Eventually.UntilAsync(() => app.Logs.At(LogLevel.Warning).Any(m => m.Contains("stepped forward by 365.00:00:00")),
            TimeSpan.FromSeconds(20), "the forward step warned");
        Assert.DoesNotContain(app.Logs.Entries, e => e.Message.Contains("DOOR_LEFT_OPEN"));
        Assert.Null(app.Store.GetSession(session.SessionId)!.DoorLeftOpenAt);
        Assert.Empty(app.Services.GetRequiredService<LoopHeartbeats>().Stalled());
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz")).StatusCode);

        var retention = app.Services.GetRequiredService<RetentionService>();
        await retention.RunOnceAsync(CancellationToken.None);
        // Retention ran by the new date: the uploaded photos' local bytes went, the pending one's stayed.
        Assert.All(app.Store.GetEvidenceForSession(uploadedSession), e => Assert.Null(app.Store.ReadImage(e.EvidenceId)));
        var pending = Assert.Single(app.Store.GetEvidenceForSession(session.SessionId));
        Assert.NotEqual(UploadStatus.Uploaded, pending.UploadStatus);
        Assert.NotNull(app.Store.ReadImage(pending.EvidenceId));

        // The door closes, and the clock goes back a day while AFTER_CLOSE waits its second.
        var closed = Stopwatch.GetTimestamp();
        Post(DoorEventKind.Closed);
        await Eventually.UntilAsync(() => app.Store.GetSession(session.SessionId)!.Phase != SessionPhase.Open, TimeSpan.FromSeconds(10), "closing");
        app.Time.Advance(TimeSpan.FromDays(-1));
        await Eventually.UntilAsync(() => app.Store.GetSession(session.SessionId)!.Phase == SessionPhase.Complete, TimeSpan.FromSeconds(20), "the session complete");
        var waited = Stopwatch.GetElapsedTime(closed);
        Assert.InRange(waited, TimeSpan.FromMilliseconds(950), TimeSpan.FromSeconds(15));
        Assert.True(app.Store.GetSession(session.SessionId)!.PairComplete);

        await Eventually.UntilAsync(() => app.Logs.At(LogLevel.Warning).Any(m => m.Contains("stepped back by 1.00:00:00")),
            TimeSpan.FromSeconds(20), "the backward step warned");
        Assert.Empty(app.Services.GetRequiredService<LoopHeartbeats>().Stalled());
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz")).StatusCode);
        await retention.RunOnceAsync(CancellationToken.None);
        Assert.All(app.Store.GetEvidenceForSession(session.SessionId), e => Assert.NotNull(app.Store.ReadImage(e.EvidenceId)));
        Assert.Equal(2, app.Store.GetEvidenceForSession(session.SessionId).Count(e => e.UploadStatus != UploadStatus.Uploaded));
        Assert.DoesNotContain(app.Logs.Entries, e => e.Message.Contains("DOOR_LEFT_OPEN"));
        // One warning per step, not one per tick.
        Assert.Single(app.Logs.At(LogLevel.Warning), m => m.Contains("wall clock was stepped forward"));
    }
}
