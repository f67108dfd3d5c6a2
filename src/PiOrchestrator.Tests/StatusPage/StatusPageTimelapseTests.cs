using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.StatusPage;

/// <summary>A session's DURING_OPEN frames on the status page, as a strip with a scrubber, in headless Debian chromium.</summary>
[Trait("Agent", "Process")]
public class StatusPageTimelapseTests
{
    [Fact]
    public async Task A_door_left_open_shows_its_frames_as_a_strip_the_scrubber_moves_through()
    {
        using var data = new TempDirectory();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        var environment = AgentProcess.OneContainerEnvironment(data.Path, broker, camera, clientIdPrefix: "piorch-strip");
        environment["PIORCH_Capture__AfterCloseDelayMs"] = "50";
        environment["PIORCH_Capture__DuringOpenIntervalSeconds"] = "0.3";
        await using var agent = AgentProcess.Start(environment);
        await agent.WaitReadyAsync();
        await agent.WaitForOutputAsync("MQTT connected");

        await broker.PublishAsync("containers/ctr-001/door", "opened");
        var sessionId = await Eventually.UntilAsync(async () =>
            (await agent.GetDataAsync("/api/v1/sessions?container_id=ctr-001")).GetProperty("sessions").EnumerateArray()
                .Select(s => s.GetProperty("id").GetString()).FirstOrDefault(), TimeSpan.FromSeconds(30), "the session");
        await Eventually.UntilAsync(async () =>
            (await agent.GetDataAsync($"/api/v1/sessions/{sessionId}/evidence?include_image=false")).GetProperty("summary").GetProperty("frames").GetInt32() >= 4,
            TimeSpan.FromSeconds(60), "four frames while the door is open");
        await broker.PublishAsync("containers/ctr-001/door", "closed");
        await Eventually.UntilAsync(async () =>
            (await agent.GetDataAsync($"/api/v1/sessions/{sessionId}")).GetProperty("status").GetString() == "complete",
            TimeSpan.FromSeconds(30), "the session complete");

        var screenshot = Path.Combine(RepoPaths.Root, "TestResults", "status-page-timelapse.png");
        Directory.CreateDirectory(Path.GetDirectoryName(screenshot)!);
        var output = await PageCheck.RunAsync(agent, "status-page-timelapse.check.js", sessionId!, RepoPaths.TestTools, screenshot);

        Assert.Contains("ok: the frame chosen survives the refresh", output);
        Assert.Contains("ok: a click on a thumbnail shows that frame", output);
    }
}
