using System.Security.Cryptography;
using System.Text.Json;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.EndToEnd;

[Trait("Agent", "Process")]
public class UploadProcessTests
{
    [Fact]
    public async Task Killed_during_uploads_the_agent_finishes_them_after_restart_without_loss_or_duplicates()
    {
        using var data = new TempDirectory();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var s3 = await S3Server.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        var environment = AgentProcess.OneContainerEnvironment(data.Path, broker, camera, s3, "piorch-upload");
        environment["PIORCH_Capture__AfterCloseDelayMs"] = "50";
        environment["PIORCH_S3__ParallelUploads"] = "1";
        environment["PIORCH_S3__RetryBaseDelayMs"] = "100";
        environment["PIORCH_S3__BreakSeconds"] = "1";
        const int cycles = 6;
        var port = TestPorts.Free();
        await using (var first = AgentProcess.Start(environment, port))
        {
            await first.WaitReadyAsync();
            await first.WaitForOutputAsync("MQTT connected");
            await first.WaitForOutputAsync("Uploading to bucket evidence");
            // Captures pile up while S3 is away, then the agent is killed right after uploads resume.
            await s3.StopAsync();
            for (var i = 0; i < cycles; i++)
            {
                await broker.PublishAsync("containers/ctr-001/door", "opened");
                await broker.PublishAsync("containers/ctr-001/door", "closed");
                await Eventually.UntilAsync(async () =>
                    (await first.GetDataAsync("/api/v1/sessions?status=complete")).GetProperty("sessions").GetArrayLength() == i + 1,
                    TimeSpan.FromSeconds(20), $"cycle {i + 1}");
            }
            await s3.LaunchAsync();
            await Eventually.UntilAsync(async () =>
                (await first.GetDataAsync("/api/v1/status")).GetProperty("upload").GetProperty("uploaded_since_start").GetInt64() >= 1,
                TimeSpan.FromSeconds(60), "the first upload after S3 returned");
            await first.KillAsync();
        }

        await using var second = AgentProcess.Start(environment, port);
        await second.WaitReadyAsync();
        await Eventually.UntilAsync(async () =>
            (await second.GetDataAsync("/api/v1/status")).GetProperty("upload").GetProperty("queue_depth").GetInt64() == 0,
            TimeSpan.FromSeconds(60), "the queue to drain after restart");

        // Audit: every captured row's bytes are in S3 at its key with its sha256; nothing missing, nothing extra.
        var rows = new List<JsonElement>();
        var sessions = (await second.GetDataAsync("/api/v1/sessions?limit=100")).GetProperty("sessions");
        foreach (var session in sessions.EnumerateArray())
            rows.AddRange((await second.GetDataAsync($"/api/v1/sessions/{session.GetProperty("id").GetString()}/evidence?include_image=false"))
                .GetProperty("captures").EnumerateArray());
        Assert.Equal(cycles * 2, rows.Count);
        var objects = await s3.ListAsync("evidence");
        Assert.Equal(rows.Select(r => r.GetProperty("object_key").GetString()).Order(), objects.Select(o => o.Key).Order());
        foreach (var row in rows)
        {
            Assert.Equal("uploaded", row.GetProperty("upload_status").GetString());
            var bytes = await s3.ReadAsync("evidence", row.GetProperty("object_key").GetString()!);
            Assert.Equal(row.GetProperty("sha256").GetString(), Convert.ToHexStringLower(SHA256.HashData(bytes)));
        }
    }
}
