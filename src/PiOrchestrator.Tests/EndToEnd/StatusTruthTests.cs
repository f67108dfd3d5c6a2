using System.Diagnostics;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.EndToEnd;

/// <summary>The status answer against its sources: the process's own start time, the broker connection.</summary>
[Trait("Agent", "Process")]
public class StatusTruthTests
{
    [Fact]
    public async Task Uptime_counts_from_the_process_start_not_from_the_first_status_request()
    {
        using var data = new TempDirectory();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var agent = AgentProcess.Start(new Dictionary<string, string>
        {
            ["PIORCH_Storage__DataDirectory"] = data.Path,
            ["PIORCH_Mqtt__Host"] = "127.0.0.1",
            ["PIORCH_Mqtt__Port"] = broker.Port.ToString(),
            ["PIORCH_Mqtt__ClientId"] = "piorch-uptime-" + Guid.NewGuid().ToString("N")[..8],
        });
        using var process = Process.GetProcessById(agent.ProcessId);
        var processStart = new DateTimeOffset(process.StartTime.ToUniversalTime());
        await agent.WaitReadyAsync();
        // The first status request comes well after the start, so counting from it would show.
        await Eventually.UntilAsync(() => DateTimeOffset.UtcNow - processStart > TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(30), "4 s of uptime");
        await agent.WaitForOutputAsync("MQTT connected");

        var status = await agent.GetDataAsync("/api/v1/status");
        var startedAt = status.GetProperty("started_at").GetDateTimeOffset();
        Assert.InRange((startedAt - processStart).Duration(), TimeSpan.Zero, TimeSpan.FromSeconds(1.5));
        var uptime = status.GetProperty("uptime_seconds").GetInt64();
        Assert.InRange(uptime, 4, (long)(DateTimeOffset.UtcNow - processStart).TotalSeconds + 1);
        var mqtt = status.GetProperty("mqtt");
        Assert.True(mqtt.GetProperty("connected").GetBoolean());
        var mqttSince = mqtt.GetProperty("since").GetDateTimeOffset();
        Assert.InRange(mqttSince, processStart, DateTimeOffset.UtcNow);
    }
}
