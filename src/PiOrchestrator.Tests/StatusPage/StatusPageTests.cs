using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.StatusPage;

/// <summary>The status page in headless Debian chromium (playwright-core), against the agent process with fake cameras.</summary>
[Trait("Agent", "Process")]
public class StatusPageTests
{
    [Fact]
    public async Task The_page_shows_pairs_reasons_and_offline_cameras_takes_test_captures_and_never_runs_injected_markup()
    {
        using var data = new TempDirectory();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var healthy = await FakeCamera.StartAsync(seed: 1);
        await using var broken = await FakeCamera.StartAsync(seed: 2);
        broken.Mode = CameraMode.Http500;
        var environment = new Dictionary<string, string>
        {
            ["PIORCH_Storage__DataDirectory"] = data.Path,
            ["PIORCH_Mqtt__Host"] = "127.0.0.1",
            ["PIORCH_Mqtt__Port"] = broker.Port.ToString(),
            ["PIORCH_Mqtt__ClientId"] = "piorch-page-" + Guid.NewGuid().ToString("N")[..8],
            ["PIORCH_Capture__AfterCloseDelayMs"] = "100",
            ["PIORCH_Containers__0__Id"] = "ctr-ok",
            ["PIORCH_Containers__0__CameraId"] = "espcam-ok",
            ["PIORCH_Containers__0__CameraUrl"] = healthy.Url,
            ["PIORCH_Containers__1__Id"] = "ctr-broken",
            ["PIORCH_Containers__1__CameraId"] = "espcam-broken",
            ["PIORCH_Containers__1__CameraUrl"] = broken.Url,
            ["PIORCH_Containers__2__Id"] = "ctr-offline",
            ["PIORCH_Containers__2__CameraId"] = "espcam-offline",
            ["PIORCH_Containers__2__CameraUrl"] = $"http://127.0.0.1:{TestPorts.Free()}",
        };
        await using var agent = AgentProcess.Start(environment);
        await agent.WaitReadyAsync();
        await agent.WaitForOutputAsync("MQTT connected");
        foreach (var container in new[] { "ctr-ok", "ctr-broken", "ctr-offline" })
        {
            await broker.PublishAsync($"containers/{container}/door", "opened");
            await broker.PublishAsync($"containers/{container}/door", "closed");
        }
        await Eventually.UntilAsync(async () =>
            (await agent.GetDataAsync("/api/v1/sessions?status=complete")).GetProperty("sessions").GetArrayLength() == 3,
            TimeSpan.FromSeconds(30), "three door cycles");

        var screenshot = Path.Combine(RepoPaths.Root, "TestResults", "status-page.png");
        Directory.CreateDirectory(Path.GetDirectoryName(screenshot)!);
        var output = await PageCheck.RunAsync(agent, "status-page.check.js", screenshot, RepoPaths.TestTools);

        Assert.Contains("ok: an injected <script> / onerror in a container id does not run", output);
        Assert.True(new FileInfo(screenshot).Length > 10_000, "screenshot written to " + screenshot);
    }
}
