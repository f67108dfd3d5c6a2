using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.EndToEnd;

/// <summary>The time-stamp queue and its settings in the agent as a process (native in the native run).</summary>
[Trait("Agent", "Process")]
public class TimestampProcessTests
{
    [Fact]
    public async Task A_stamp_queued_while_the_TSA_is_down_survives_a_restart_and_lands_when_it_is_back()
    {
        using var data = new TempDirectory();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        await using var tsa = await TestTsa.StartAsync();
        tsa.Available = false;
        var environment = new Dictionary<string, string>
        {
            ["PIORCH_Storage__DataDirectory"] = data.Path,
            ["PIORCH_Mqtt__Host"] = "127.0.0.1",
            ["PIORCH_Mqtt__Port"] = broker.Port.ToString(),
            ["PIORCH_Mqtt__ClientId"] = "piorch-tsa-" + Guid.NewGuid().ToString("N")[..8],
            ["PIORCH_Capture__AfterCloseDelayMs"] = "50",
            ["PIORCH_Containers__0__Id"] = "ctr-001",
            ["PIORCH_Containers__0__CameraId"] = "espcam-a1b2c3",
            ["PIORCH_Containers__0__CameraUrl"] = camera.Url,
            ["PIORCH_Tsa__Url"] = tsa.Url,
            ["PIORCH_Tsa__CaFile"] = tsa.CaFile,
            ["PIORCH_Tsa__RetryMaxSeconds"] = "1",
        };
        var port = TestPorts.Free();
        string sessionId;
        await using (var first = AgentProcess.Start(environment, port))
        {
            await first.WaitReadyAsync();
            await first.WaitForOutputAsync("MQTT connected");
            await broker.PublishAsync("containers/ctr-001/door", "opened");
            await broker.PublishAsync("containers/ctr-001/door", "closed");
            sessionId = (await Eventually.UntilAsync(async () =>
                (await first.GetDataAsync("/api/v1/sessions?status=complete")).GetProperty("sessions").EnumerateArray()
                    .Select(s => s.GetProperty("id").GetString()).FirstOrDefault(), TimeSpan.FromSeconds(20), "a door cycle"))!;
            await first.WaitForOutputAsync("postponed");
            Assert.Equal("pending", (await first.GetDataAsync($"/api/v1/sessions/{sessionId}")).GetProperty("timestamp").GetProperty("status").GetString());
            Assert.Equal(0, await first.StopAsync());
        }

        tsa.Available = true;
        await using var second = AgentProcess.Start(environment, port);
        await second.WaitReadyAsync();
        await Eventually.UntilAsync(async () =>
            (await second.GetDataAsync($"/api/v1/sessions/{sessionId}")).GetProperty("timestamp").GetProperty("status").GetString() == "ok",
            TimeSpan.FromSeconds(30), "the queued stamp to land after the restart");
        Assert.Equal("ok", (await second.GetDataAsync($"/api/v1/sessions/{sessionId}/verify")).GetProperty("timestamp").GetString());
    }

    [Fact]
    public async Task A_TSA_url_without_its_CA_stops_the_agent_with_a_configuration_error()
    {
        using var data = new TempDirectory();
        await using var agent = AgentProcess.Start(new Dictionary<string, string>
        {
            ["PIORCH_Storage__DataDirectory"] = data.Path,
            ["PIORCH_Mqtt__Enabled"] = "false",
            ["PIORCH_Tsa__Url"] = "ftp://tsa.example",
        });
        Assert.Equal(78, await agent.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        var lines = agent.Output.Split('\n').Where(l => l.Contains("configuration error")).ToList();
        Assert.Contains(lines, l => l.Contains("Tsa:Url 'ftp://tsa.example'"));
        Assert.Contains(lines, l => l.Contains("Tsa:CaFile must be set"));
    }
}
