using System.Security.Cryptography;
using System.Text.Json;
using PiOrchestrator.Tests.Fixtures;
using PiOrchestrator.Tests.Systemd;

namespace PiOrchestrator.Tests.EndToEnd;

/// <summary>
/// A Pi has no real-time clock: it boots with the time fake-hwclock saved, then NTP steps the clock. Here the agent
/// process's own wall clock is stepped (libfaketime, see <see cref="FakeWallClock"/>; its monotonic clock runs on) in
/// the middle of a session, with S3 away so every capture is still waiting to be uploaded.
/// </summary>
[Trait("Agent", "Process")]
public class ClockStepProcessTests
{
    private static readonly TimeSpan AfterCloseDelay = TimeSpan.FromSeconds(6);
    private const string SessionId = "sess-clockstep-1";

    [Fact]
    public async Task A_year_forward_then_a_day_back_mid_session_keeps_the_agent_ready_its_timers_right_and_every_capture_until_uploaded()
    {
        using var data = new TempDirectory();
        using var notify = new NotifySocket();
        // Booted with a clock saved 364 days ago; NTP steps it forward by a year (a day too far), then back by a day,
        // so it ends right: S3 refuses requests signed more than 15 minutes off, as s3rver does.
        using var clock = new FakeWallClock(-TimeSpan.FromDays(364));
        await using var broker = await MosquittoBroker.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        await using var s3 = await S3Server.StartAsync();
        await s3.StopAsync();
        var environment = AgentEnvironment(clock, data, broker, camera, s3, AfterCloseDelay);
        environment["PIORCH_Containers__0__FlushFrames"] = "0";
        environment["NOTIFY_SOCKET"] = notify.Address;
        // A ping each second while every loop keeps its heartbeat.
        environment["WATCHDOG_USEC"] = "2000000";
        var port = TestPorts.Free();
        var pids = new List<int>();
        try
        {
            await using (var agent = AgentProcess.Start(environment, port))
            {
                pids.Add(agent.ProcessId);
                await agent.WaitReadyAsync();
                await agent.WaitForOutputAsync("MQTT connected");
                await WaitForPingsAsync(notify, DateTimeOffset.UtcNow, "watchdog pings after start");

                await broker.PublishAsync("containers/ctr-001/door", $$"""{"event":"opened","event_id":"step-open","session_id":"{{SessionId}}"}""");
                await Eventually.UntilAsync(async () => Capture(await EvidenceAsync(agent), "BEFORE_OPEN") is { } c
                    && c.GetProperty("status").GetString() == "captured", TimeSpan.FromSeconds(20), "BEFORE_OPEN captured");

                // Door open, BEFORE_OPEN pending upload: a year forward.
                clock.Set(TimeSpan.FromDays(1));
                await agent.WaitForOutputAsync("The wall clock was stepped forward by 365.00:00:00");
                // That warning comes from the engine's tick after its door-left-open check, which so ran on the new time.
                await AssertStillServingAsync(agent, notify, "after the step forward");
                var session = await agent.GetDataAsync($"/api/v1/sessions/{SessionId}");
                Assert.Equal("in_progress", session.GetProperty("status").GetString());
                Assert.False(session.TryGetProperty("door_left_open_at", out _), $"flagged DOOR_LEFT_OPEN by the step: {session}");

                // Closed, and a day back while AFTER_CLOSE waits its delay.
                var closeSent = DateTimeOffset.UtcNow;
                await broker.PublishAsync("containers/ctr-001/door", """{"event":"closed","event_id":"step-close"}""");
                await agent.WaitForOutputAsync($"AFTER_CLOSE for session {SessionId} in {AfterCloseDelay.TotalMilliseconds} ms");
                clock.Set(TimeSpan.Zero);
                Assert.True(camera.CaptureRequests == 1, "the step back came after AFTER_CLOSE was taken: the test did not step the clock while it waited");
                await Eventually.UntilAsync(async () => (await agent.GetDataAsync($"/api/v1/sessions/{SessionId}")).GetProperty("status").GetString() == "complete",
                    TimeSpan.FromSeconds(30), "the session to complete");
                // Measured on the test's clock, which never stepped: neither skipped at the step nor waiting a day.
                var afterClose = camera.RequestTimes.Max() - closeSent;
                Assert.InRange(afterClose, AfterCloseDelay - TimeSpan.FromMilliseconds(100), AfterCloseDelay + TimeSpan.FromSeconds(5));
                await agent.WaitForOutputAsync("The wall clock was stepped back by 1.00:00:00");
                var backSeen = DateTimeOffset.UtcNow;
                await AssertStillServingAsync(agent, notify, "after the step back");
                // Long enough for the engine's next 5 s tick: one warning per step, not one per tick.
                await Eventually.UntilAsync(() => DateTimeOffset.UtcNow - backSeen > TimeSpan.FromSeconds(6), TimeSpan.FromSeconds(10), "another tick");

                var output = agent.Output;
                Assert.Equal(1, Occurrences(output, "The wall clock was stepped forward by 365.00:00:00"));
                Assert.Equal(1, Occurrences(output, "The wall clock was stepped back by 1.00:00:00"));
                Assert.Equal(2, Occurrences(output, "The wall clock was stepped"));
                Assert.DoesNotContain("DOOR_LEFT_OPEN", output);
                Assert.DoesNotContain("withholding systemd watchdog pings", output);
                session = await agent.GetDataAsync($"/api/v1/sessions/{SessionId}");
                Assert.False(session.TryGetProperty("door_left_open_at", out _), $"flagged DOOR_LEFT_OPEN: {session}");
                Assert.Equal("complete", session.GetProperty("pair_status").GetString());
                AssertHeldAndPending(await EvidenceAsync(agent), camera);

                Assert.Equal(0, await agent.StopAsync());
            }

            // Restarted with the clock now right: the retention pass at start finds BEFORE_OPEN 364 days old, past the
            // 24 h image TTL and the 90-day metadata retention, and not uploaded: its bytes and its session stay.
            await using (var agent = AgentProcess.Start(environment, port))
            {
                pids.Add(agent.ProcessId);
                await agent.WaitReadyAsync();
                await agent.WaitForOutputAsync("1 capture(s) older than 24 h are still not uploaded; their bytes are kept");
                AssertHeldAndPending(await EvidenceAsync(agent), camera);

                await s3.LaunchAsync();
                await Eventually.UntilAsync(async () =>
                    (await agent.GetDataAsync("/api/v1/status")).GetProperty("upload").GetProperty("queue_depth").GetInt64() == 0,
                    TimeSpan.FromSeconds(60), "the uploads to complete once S3 is back");
                var captures = (await EvidenceAsync(agent)).GetProperty("captures").EnumerateArray().ToList();
                Assert.Equal(2, captures.Count);
                var objects = await s3.ListAsync("evidence");
                Assert.Equal(captures.Select(c => c.GetProperty("object_key").GetString()).Order(), objects.Select(o => o.Key).Order());
                foreach (var c in captures)
                {
                    Assert.Equal("uploaded", c.GetProperty("upload_status").GetString());
                    var bytes = await s3.ReadAsync("evidence", c.GetProperty("object_key").GetString()!);
                    Assert.Equal(c.GetProperty("sha256").GetString(), Convert.ToHexStringLower(SHA256.HashData(bytes)));
                }
                Assert.Equal(camera.ServedSha256.Order(), captures.Select(c => c.GetProperty("sha256").GetString()!).Order());
                Assert.DoesNotContain("The wall clock was stepped", agent.Output);
                Assert.Equal(0, await agent.StopAsync());
            }
        }
        finally
        {
            foreach (var pid in pids) FakeWallClock.ForgetProcess(pid);
        }
    }

    [Fact]
    public async Task Booted_a_year_behind_the_agent_uploads_to_an_S3_that_refuses_skewed_requests_before_and_after_the_step()
    {
        // s3rver, as S3, refuses a request signed more than 15 minutes off its own time (RequestTimeTooSkewed; a HEAD's
        // bare 403). AWSSDK takes the server's time from that answer and signs with it: a Pi whose clock is a year off
        // uploads anyway, and again once NTP has stepped the clock and that correction is a year off in turn. The
        // technician is told it is the clock, not sent to check the credentials.
        using var data = new TempDirectory();
        using var clock = new FakeWallClock(-TimeSpan.FromDays(364));
        await using var broker = await MosquittoBroker.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        await using var s3 = await S3Server.StartAsync();
        var environment = AgentEnvironment(clock, data, broker, camera, s3, TimeSpan.FromMilliseconds(100));
        await using var agent = AgentProcess.Start(environment);
        try
        {
            await agent.WaitReadyAsync();
            await agent.WaitForOutputAsync("MQTT connected");
            await DoorCycleUploadedAsync(agent, broker, "sess-skew-before", 2);
            clock.Set(TimeSpan.Zero);
            await agent.WaitForOutputAsync("The wall clock was stepped forward by 364.00:00:00");
            await DoorCycleUploadedAsync(agent, broker, "sess-skew-after", 4);

            var output = agent.Output;
            Assert.Contains("this agent's clock is 364.00:00:00 behind S3's", output);
            Assert.DoesNotContain("refuses this agent's credentials", output);
            var objects = await s3.ListAsync("evidence");
            Assert.Equal(4, objects.Count);
            foreach (var (sessionId, age) in new[] { ("sess-skew-before", TimeSpan.FromDays(364)), ("sess-skew-after", TimeSpan.Zero) })
            {
                foreach (var c in (await agent.GetDataAsync($"/api/v1/sessions/{sessionId}/evidence?include_image=false")).GetProperty("captures").EnumerateArray())
                {
                    Assert.Equal("uploaded", c.GetProperty("upload_status").GetString());
                    // Taken on the clock as it was: the first pair a year back, while s3rver's clock was right.
                    Assert.InRange(DateTimeOffset.UtcNow - age - c.GetProperty("captured_at").GetDateTimeOffset(), TimeSpan.Zero, TimeSpan.FromMinutes(5));
                    var bytes = await s3.ReadAsync("evidence", c.GetProperty("object_key").GetString()!);
                    Assert.Equal(c.GetProperty("sha256").GetString(), Convert.ToHexStringLower(SHA256.HashData(bytes)));
                }
            }
            Assert.Equal(0, await agent.StopAsync());
        }
        finally
        {
            FakeWallClock.ForgetProcess(agent.ProcessId);
        }
    }

    private static async Task DoorCycleUploadedAsync(AgentProcess agent, MosquittoBroker broker, string sessionId, int uploadedSinceStart)
    {
        await broker.PublishAsync("containers/ctr-001/door", $$"""{"event":"opened","event_id":"{{sessionId}}-open","session_id":"{{sessionId}}"}""");
        await broker.PublishAsync("containers/ctr-001/door", $$"""{"event":"closed","event_id":"{{sessionId}}-close"}""");
        await Eventually.UntilAsync(async () =>
            (await agent.GetDataAsync("/api/v1/status")).GetProperty("upload").GetProperty("uploaded_since_start").GetInt64() == uploadedSinceStart,
            TimeSpan.FromSeconds(30), $"the captures of {sessionId} uploaded");
    }

    private static Task<JsonElement> EvidenceAsync(AgentProcess agent) => agent.GetDataAsync($"/api/v1/sessions/{SessionId}/evidence");

    private static JsonElement? Capture(JsonElement evidence, string tag) =>
        evidence.GetProperty("captures").EnumerateArray().Where(c => c.GetProperty("capture_tag").GetString() == tag).Cast<JsonElement?>().FirstOrDefault();

    private static int Occurrences(string text, string part) => (text.Length - text.Replace(part, "", StringComparison.Ordinal).Length) / part.Length;

    /// <summary>Pings keep coming: systemd would kill an agent whose pings stop for WATCHDOG_USEC.</summary>
    private static Task WaitForPingsAsync(NotifySocket notify, DateTimeOffset after, string what) =>
        Eventually.UntilAsync(() => notify.Messages.Count(m => m.At > after && m.Message == "WATCHDOG=1") >= 3, TimeSpan.FromSeconds(10), what);

    private static async Task AssertStillServingAsync(AgentProcess agent, NotifySocket notify, string when)
    {
        await WaitForPingsAsync(notify, DateTimeOffset.UtcNow, "watchdog pings " + when);
        Assert.False(agent.HasExited, "the agent exited " + when);
        using (var ready = await agent.Http.GetAsync("/readyz")) Assert.True(ready.IsSuccessStatusCode, $"/readyz answered {(int)ready.StatusCode} {when}");
        using (var health = await agent.Http.GetAsync("/healthz")) Assert.True(health.IsSuccessStatusCode, $"/healthz answered {(int)health.StatusCode} {when}: {await health.Content.ReadAsStringAsync()}");
        var status = await agent.GetDataAsync("/api/v1/status");
        Assert.True(status.GetProperty("mqtt").GetProperty("connected").GetBoolean(), $"MQTT not connected {when}: {status}");
    }

    /// <summary>Both captures taken, still waiting for S3, their bytes on the agent, the frames the camera served.</summary>
    private static void AssertHeldAndPending(JsonElement evidence, FakeCamera camera)
    {
        var captures = evidence.GetProperty("captures").EnumerateArray().ToList();
        Assert.Equal(["AFTER_CLOSE", "BEFORE_OPEN"], captures.Select(c => c.GetProperty("capture_tag").GetString()).Order());
        foreach (var c in captures)
        {
            Assert.Equal("captured", c.GetProperty("status").GetString());
            Assert.NotEqual("uploaded", c.GetProperty("upload_status").GetString());
            Assert.True(c.TryGetProperty("image_data", out var image), $"local bytes gone: {c}");
            Assert.Equal(c.GetProperty("sha256").GetString(), Convert.ToHexStringLower(SHA256.HashData(Convert.FromBase64String(image.GetString()!))));
        }
        Assert.Equal(camera.ServedSha256.Order(), captures.Select(c => c.GetProperty("sha256").GetString()!).Order());
    }

    /// <summary>One container, MQTT, S3 with quick retries, and the clock: what both tests run the agent with.</summary>
    private static Dictionary<string, string> AgentEnvironment(FakeWallClock clock, TempDirectory data, MosquittoBroker broker, FakeCamera camera,
        S3Server s3, TimeSpan afterCloseDelay)
    {
        var environment = AgentProcess.OneContainerEnvironment(data.Path, broker, camera, s3, "piorch-clockstep");
        foreach (var (key, value) in clock.Environment) environment[key] = value;
        environment["PIORCH_Capture__AfterCloseDelayMs"] = ((int)afterCloseDelay.TotalMilliseconds).ToString();
        environment["PIORCH_S3__RetryBaseDelayMs"] = "100";
        environment["PIORCH_S3__BreakSeconds"] = "1";
        return environment;
    }
}
