using System.Security.Cryptography;
using System.Text.Json;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.EndToEnd;

/// <summary>
/// DURING_OPEN frames with the agent as a process, real mosquitto and s3rver, and the test ESP32-CAM: frames at the
/// interval that verify like the pair, the cap thinning them, a close that cuts a slow frame grab, and kill -9.
/// </summary>
[Trait("Agent", "Process")]
public class TimelapseProcessTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private sealed record Frame(string EvidenceId, int Sequence, DateTimeOffset CapturedAt, string Sha256, string ObjectKey);

    [Fact]
    public async Task A_long_open_door_gives_frames_at_the_interval_that_verify_upload_and_export_like_the_pair()
    {
        using var data = new TempDirectory();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var s3 = await S3Server.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        var environment = Environment(data.Path, broker, camera, s3, interval: "0.5");
        await using var agent = AgentProcess.Start(environment);
        await agent.WaitReadyAsync();
        await agent.WaitForOutputAsync("MQTT connected to 127.0.0.1");

        await broker.PublishAsync("containers/ctr-001/door", "opened");
        var sessionId = await SessionIdAsync(agent);
        await WaitForFramesAsync(agent, sessionId, 6);
        await broker.PublishAsync("containers/ctr-001/door", "closed");
        await WaitForCompleteAsync(agent, sessionId);

        var list = await agent.GetDataAsync($"/api/v1/sessions/{sessionId}/evidence?include_image=false");
        var captures = list.GetProperty("captures").EnumerateArray().ToList();
        var frames = FramesOf(list);
        Assert.Equal("BEFORE_OPEN", captures[0].GetProperty("capture_tag").GetString());
        Assert.Equal("AFTER_CLOSE", captures[^1].GetProperty("capture_tag").GetString());
        Assert.Equal(Enumerable.Range(1, frames.Count), frames.Select(f => f.Sequence));
        // Start to start at the interval; the camera's answer time moves each stamp a little either way.
        Assert.All(frames.Zip(frames.Skip(1)), p => Assert.True(p.Second.CapturedAt - p.First.CapturedAt >= TimeSpan.FromSeconds(0.3),
            $"frames {p.First.Sequence} and {p.Second.Sequence} only {(p.Second.CapturedAt - p.First.CapturedAt).TotalMilliseconds} ms apart"));
        Assert.All(frames, f => Assert.StartsWith($"evidence/ctr-001/{sessionId}/DURING_OPEN_", f.ObjectKey));
        var summary = list.GetProperty("summary");
        Assert.Equal(2, summary.GetProperty("total_captures").GetInt32());
        Assert.Equal(frames.Count, summary.GetProperty("frames").GetInt32());
        Assert.True(summary.GetProperty("pair_complete").GetBoolean());
        var withImages = (await agent.GetDataAsync($"/api/v1/sessions/{sessionId}/evidence")).GetProperty("captures").EnumerateArray().ToList();
        Assert.All(withImages, c => Assert.Equal(c.GetProperty("capture_tag").GetString() != "DURING_OPEN", c.TryGetProperty("image_data", out _)));
        var thumb = await agent.Http.GetAsync($"/api/v1/evidence/image?key={Uri.EscapeDataString(frames[0].ObjectKey)}&size=thumb");
        Assert.Equal(System.Net.HttpStatusCode.OK, thumb.StatusCode);
        Assert.Equal("image/jpeg", thumb.Content.Headers.ContentType?.MediaType);
        var pair = await agent.GetDataAsync($"/api/v1/sessions/{sessionId}/evidence/pair?include_image=false");
        Assert.Equal("complete", pair.GetProperty("pair_status").GetString());
        Assert.Equal(captures[0].GetProperty("evidence_id").GetString(), pair.GetProperty("before").GetProperty("evidence_id").GetString());
        Assert.Equal(captures[^1].GetProperty("evidence_id").GetString(), pair.GetProperty("after").GetProperty("evidence_id").GetString());

        await Eventually.UntilAsync(async () =>
            (await agent.GetDataAsync("/api/v1/status")).GetProperty("upload").GetProperty("queue_depth").GetInt64() == 0,
            Deadline, "every frame uploaded");
        foreach (var f in frames)
            Assert.Equal(f.Sha256, Convert.ToHexStringLower(SHA256.HashData(await s3.ReadAsync("evidence", f.ObjectKey))));
        var verify = await agent.GetDataAsync($"/api/v1/sessions/{sessionId}/verify");
        Assert.True(verify.GetProperty("ok").GetBoolean(), verify.ToString());
        Assert.Equal(frames.Count + 2, verify.GetProperty("captures").GetArrayLength());

        using var export = new TempDirectory();
        var results = await EvidenceExportProcessTests.ExportAndRunVerifyAsync(agent, sessionId, export.Path);
        Assert.All(results, r => Assert.True(r.ExitCode == 0, $"{r.Command}\n{r.Output}"));
        Assert.Equal(frames.Count + 2, results.Count(r => r.Command.Contains("openssl dgst") && r.Output.Contains("Verified OK")));
        Assert.Equal(frames.Count + 2, results.Single(r => r.Command.StartsWith("sha256sum -c")).Output.Split('\n').Count(l => l.EndsWith(": OK")));
        var metrics = await agent.Http.GetStringAsync("/metrics");
        var frameLines = metrics.Split('\n').Where(l => l.StartsWith("piorchestrator_frames_total{")).ToList();
        Assert.Contains(frameLines, l => l.EndsWith($"container=\"ctr-001\",outcome=\"captured\",reason=\"\"}} {frames.Count}"));
        // Each frame is stored under a key of its own: none lost to a key another frame took.
        Assert.DoesNotContain(frameLines, l => l.Contains("outcome=\"failed\""));
    }

    [Fact]
    public async Task Past_the_cap_each_frame_waits_twice_as_long_as_the_one_before()
    {
        using var data = new TempDirectory();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        var environment = Environment(data.Path, broker, camera, null, interval: "0.4");
        environment["PIORCH_Capture__DuringOpenMaxFrames"] = "2";
        await using var agent = AgentProcess.Start(environment);
        await agent.WaitReadyAsync();
        await agent.WaitForOutputAsync("MQTT connected to 127.0.0.1");

        await broker.PublishAsync("containers/ctr-001/door", "opened");
        var sessionId = await SessionIdAsync(agent);
        var frames = await WaitForFramesAsync(agent, sessionId, 4);
        // Waits of 0.4 s up to the cap, then 0.8 s and 1.6 s; the camera's answer time shifts each stamp by a little.
        var gaps = frames.Zip(frames.Skip(1)).Select(p => (p.Second.CapturedAt - p.First.CapturedAt).TotalSeconds).ToList();
        Assert.True(gaps[1] >= 0.8 - 0.25, $"gaps {string.Join(", ", gaps)}");
        Assert.True(gaps[2] >= 1.6 - 0.25, $"gaps {string.Join(", ", gaps)}");
        Assert.True(gaps[2] > gaps[0] * 2, $"gaps {string.Join(", ", gaps)}");
        await broker.PublishAsync("containers/ctr-001/door", "closed");
        await WaitForCompleteAsync(agent, sessionId);
    }

    [Fact]
    public async Task A_close_during_a_slow_frame_grab_gets_its_AFTER_CLOSE_at_once()
    {
        using var data = new TempDirectory();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        camera.SlowDelay = TimeSpan.FromSeconds(30);
        var environment = Environment(data.Path, broker, camera, null, interval: "0.5");
        await using var agent = AgentProcess.Start(environment);
        await agent.WaitReadyAsync();
        await agent.WaitForOutputAsync("MQTT connected to 127.0.0.1");

        await broker.PublishAsync("containers/ctr-001/door", "opened");
        var sessionId = await SessionIdAsync(agent);
        await WaitForFramesAsync(agent, sessionId, 1);
        camera.SlowNextGrabs = 1;
        await Eventually.UntilAsync(() => camera.SlowGrabsStarted == 1, Deadline, "a frame grab held by the camera");
        var closedAt = DateTimeOffset.UtcNow;
        await broker.PublishAsync("containers/ctr-001/door", "closed");
        await WaitForCompleteAsync(agent, sessionId);

        var list = await agent.GetDataAsync($"/api/v1/sessions/{sessionId}/evidence?include_image=false");
        var after = list.GetProperty("captures").EnumerateArray().Single(c => c.GetProperty("capture_tag").GetString() == "AFTER_CLOSE");
        Assert.Equal("captured", after.GetProperty("status").GetString());
        // The usual time: the settling delay, then one grab; nowhere near the held grab's 30 s.
        var afterAt = after.GetProperty("captured_at").GetDateTimeOffset();
        Assert.True(afterAt - closedAt < TimeSpan.FromSeconds(5), $"AFTER_CLOSE {(afterAt - closedAt).TotalSeconds:F1} s after the close");
        Assert.True(after.GetProperty("delay_ms").GetInt32() < 2000, after.ToString());
        Assert.Equal(1, camera.SlowGrabsAbandoned);
        Assert.Equal(1, camera.MaxConcurrent);
        Assert.All(FramesOf(list), f => Assert.True(f.CapturedAt < afterAt));
    }

    [Fact]
    public async Task Killed_mid_timelapse_the_agent_keeps_every_stored_frame_numbers_on_and_takes_none_after_the_close()
    {
        using var data = new TempDirectory();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        var environment = Environment(data.Path, broker, camera, null, interval: "0.3");
        var port = TestPorts.Free();
        string sessionId;
        await using (var first = AgentProcess.Start(environment, port))
        {
            await first.WaitReadyAsync();
            await first.WaitForOutputAsync("MQTT connected to 127.0.0.1");
            await broker.PublishAsync("containers/ctr-001/door", "opened");
            sessionId = await SessionIdAsync(first);
            await WaitForFramesAsync(first, sessionId, 3);
            await first.KillAsync();
        }
        var beforeKill = StoredFrames(data.Path);
        Assert.True(beforeKill.Count >= 3);

        await using var second = AgentProcess.Start(environment, port);
        await second.WaitReadyAsync();
        await second.WaitForOutputAsync("Resuming session");
        await second.WaitForOutputAsync("MQTT connected to 127.0.0.1");
        await WaitForFramesAsync(second, sessionId, beforeKill.Count + 2);
        await broker.PublishAsync("containers/ctr-001/door", "closed");
        await WaitForCompleteAsync(second, sessionId);

        var session = await second.GetDataAsync($"/api/v1/sessions/{sessionId}");
        var closedAt = session.GetProperty("closed_at").GetDateTimeOffset();
        var list = await second.GetDataAsync($"/api/v1/sessions/{sessionId}/evidence?include_image=false");
        var frames = FramesOf(list);
        // Nothing recorded before the kill was lost or changed, and numbering went on without a gap or a repeat.
        Assert.All(beforeKill, kept => Assert.Contains(frames, f => f.EvidenceId == kept.EvidenceId && f.Sha256 == kept.Sha256 && f.Sequence == kept.Sequence));
        Assert.Equal(Enumerable.Range(1, frames.Count), frames.Select(f => f.Sequence));
        Assert.All(frames, f => Assert.True(f.CapturedAt <= closedAt, $"frame {f.Sequence} at {f.CapturedAt:O}, after the close at {closedAt:O}"));
        var verify = await second.GetDataAsync($"/api/v1/sessions/{sessionId}/verify");
        Assert.True(verify.GetProperty("ok").GetBoolean(), verify.ToString());
        Assert.True(verify.GetProperty("chain_ok").GetBoolean());
        // Still none later: the completed session takes no frame.
        var count = StoredFrames(data.Path).Count;
        await broker.PublishAsync("containers/ctr-001/door", "opened");
        await Eventually.UntilAsync(async () =>
            (await second.GetDataAsync("/api/v1/sessions?container_id=ctr-001")).GetProperty("sessions").GetArrayLength() == 2, Deadline, "a second session");
        Assert.Equal(count, StoredFrames(data.Path).Count(f => f.SessionId == sessionId));
    }

    private static Dictionary<string, string> Environment(string dataDirectory, MosquittoBroker broker, FakeCamera camera, S3Server? s3, string interval)
    {
        var environment = AgentProcess.OneContainerEnvironment(dataDirectory, broker, camera, s3, "piorch-timelapse");
        environment["PIORCH_Capture__AfterCloseDelayMs"] = "200";
        environment["PIORCH_Capture__DuringOpenIntervalSeconds"] = interval;
        environment["PIORCH_Containers__0__FlushFrames"] = "0";
        return environment;
    }

    private static Task<string> SessionIdAsync(AgentProcess agent) =>
        Eventually.UntilAsync(async () =>
            (await agent.GetDataAsync("/api/v1/sessions?container_id=ctr-001")).GetProperty("sessions").EnumerateArray()
                .Select(s => s.GetProperty("id").GetString()).FirstOrDefault(), Deadline, "the session");

    private static Task WaitForCompleteAsync(AgentProcess agent, string sessionId) =>
        Eventually.UntilAsync(async () =>
            (await agent.GetDataAsync($"/api/v1/sessions/{sessionId}")).GetProperty("status").GetString() == "complete", Deadline, "the session complete");

    private static Task<List<Frame>> WaitForFramesAsync(AgentProcess agent, string sessionId, int count) =>
        Eventually.UntilAsync(async () =>
        {
            var frames = FramesOf(await agent.GetDataAsync($"/api/v1/sessions/{sessionId}/evidence?include_image=false"));
            return frames.Count >= count ? frames : null;
        }, Deadline, $"{count} frames");

    private static List<Frame> FramesOf(JsonElement list) =>
        [.. list.GetProperty("captures").EnumerateArray()
            .Where(c => c.GetProperty("capture_tag").GetString() == "DURING_OPEN")
            .Select(c => new Frame(c.GetProperty("evidence_id").GetString()!, c.GetProperty("sequence").GetInt32(),
                c.GetProperty("captured_at").GetDateTimeOffset(), c.GetProperty("sha256").GetString()!, c.GetProperty("object_key").GetString()!))
            .OrderBy(f => f.Sequence)];

    private sealed record StoredFrame(string EvidenceId, string SessionId, int Sequence, string Sha256);

    /// <summary>The frames on disk, read straight from SQLite: what a kill left recorded.</summary>
    private static List<StoredFrame> StoredFrames(string dataDirectory)
    {
        using var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(dataDirectory, "evidence.db")};Mode=ReadOnly;Pooling=False");
        db.Open();
        using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT evidence_id, session_id, sequence, sha256 FROM evidence WHERE capture_tag = 'DURING_OPEN' ORDER BY sequence";
        using var r = cmd.ExecuteReader();
        var frames = new List<StoredFrame>();
        while (r.Read()) frames.Add(new StoredFrame(r.GetString(0), r.GetString(1), r.GetInt32(2), r.GetString(3)));
        return frames;
    }
}
