using System.Globalization;
using System.Text.Json;
using MQTTnet;
using MQTTnet.Protocol;
using PiOrchestrator.Tests.Fixtures;
using Xunit.Abstractions;

namespace PiOrchestrator.Tests.Proof;

/// <summary>
/// Hostile publishers on the site's broker against the agent as a process: a huge payload, retained door messages and
/// a flood of forged events each get a bounded, visible outcome, and a real door cycle afterwards still gets its photos.
/// </summary>
[Trait("Agent", "Process")]
public sealed class HostileMqttTests(ITestOutputHelper output)
{
    private const string DoorTopic = "containers/ctr-001/door";

    private static async Task<AgentProcess> StartAgentAsync(Dictionary<string, string> environment)
    {
        environment["PIORCH_Capture__AfterCloseDelayMs"] = "200";
        var agent = AgentProcess.Start(environment);
        await agent.WaitReadyAsync();
        await agent.WaitForOutputAsync("MQTT connected to 127.0.0.1");
        return agent;
    }

    /// <summary>A real door cycle with its own session id: both photos taken, the pair complete.</summary>
    private static async Task RealDoorCycleAsync(AgentProcess agent, MosquittoBroker broker, string sessionId)
    {
        await broker.PublishAsync(DoorTopic, $$"""{"event":"opened","event_id":"{{sessionId}}-open","session_id":"{{sessionId}}"}""");
        await Eventually.UntilAsync(async () =>
            (await agent.GetDataAsync($"/api/v1/sessions/{sessionId}/evidence?include_image=false")).GetProperty("summary").GetProperty("has_before_open").GetBoolean(),
            TimeSpan.FromSeconds(30), $"BEFORE_OPEN of {sessionId}");
        await broker.PublishAsync(DoorTopic, $$"""{"event":"closed","event_id":"{{sessionId}}-close"}""");
        await Eventually.UntilAsync(async () =>
            (await agent.GetDataAsync($"/api/v1/sessions/{sessionId}/evidence/pair")).GetProperty("pair_status").GetString() == "complete",
            TimeSpan.FromSeconds(30), $"the pair of {sessionId}");
        var pair = await agent.GetDataAsync($"/api/v1/sessions/{sessionId}/evidence/pair");
        Assert.Equal("captured", pair.GetProperty("before").GetProperty("status").GetString());
        Assert.Equal("captured", pair.GetProperty("after").GetProperty("status").GetString());
    }

    private static async Task<JsonElement> ContainerStatusAsync(AgentProcess agent, string id = "ctr-001")
    {
        var containers = (await agent.GetDataAsync("/api/v1/status")).GetProperty("containers");
        return containers.EnumerateArray().First(c => c.GetProperty("id").GetString() == id);
    }

    private static async Task<string> MetricsAsync(AgentProcess agent) => await agent.Http.GetStringAsync("/metrics");

    /// <summary>The value of the first series line that starts with <paramref name="name"/> and contains every label given.</summary>
    private static double? Series(string metrics, string name, params string[] labels)
    {
        foreach (var line in metrics.Split('\n'))
        {
            if (!line.StartsWith(name + "{", StringComparison.Ordinal) && !line.StartsWith(name + " ", StringComparison.Ordinal)) continue;
            if (!labels.All(l => line.Contains(l, StringComparison.Ordinal))) continue;
            return double.Parse(line.Split(' ')[^1], CultureInfo.InvariantCulture);
        }
        return null;
    }

    private static int Count(string text, string what)
    {
        var count = 0;
        for (var at = text.IndexOf(what, StringComparison.Ordinal); at >= 0; at = text.IndexOf(what, at + what.Length, StringComparison.Ordinal)) count++;
        return count;
    }

    [Fact]
    public async Task A_200_MB_publish_on_a_door_topic_is_dropped_by_the_broker_and_never_buffered_by_the_agent()
    {
        using var data = new TempDirectory();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        var environment = AgentProcess.OneContainerEnvironment(data.Path, broker, camera, clientIdPrefix: "piorch-huge");
        await using var agent = await StartAgentAsync(environment);
        // A first cycle so that what the agent needs for one is already resident before the baseline.
        await RealDoorCycleAsync(agent, broker, "sess-before-huge");
        var peakBefore = ProcFs.PeakRssBytes(agent.ProcessId);
        var cpuBefore = ProcFs.CpuTime(agent.ProcessId);

        const int size = 200 * 1024 * 1024;
        await broker.PublishBytesAsync(DoorTopic, new byte[size]);
        var clientId = environment["PIORCH_Mqtt__ClientId"];
        await Eventually.UntilAsync(() => broker.Log.Contains($"Dropping too large outgoing PUBLISH for {clientId}", StringComparison.Ordinal),
            TimeSpan.FromSeconds(60), "the broker to drop the huge message for the agent");

        // Still connected on the same connection, and the next real cycle is recorded.
        await RealDoorCycleAsync(agent, broker, "sess-after-huge");
        var mqtt = (await agent.GetDataAsync("/api/v1/status")).GetProperty("mqtt");
        Assert.True(mqtt.GetProperty("connected").GetBoolean());
        Assert.DoesNotContain("MQTT connection to", agent.Output);

        var peak = ProcFs.PeakRssBytes(agent.ProcessId);
        var cpu = ProcFs.CpuTime(agent.ProcessId) - cpuBefore;
        output.WriteLine($"200 MiB publish: agent VmHWM {peakBefore / 1048576.0:F1} -> {peak / 1048576.0:F1} MiB, CPU {cpu.TotalSeconds:F2} s (incl. one door cycle)");
        // Buffered whole (MQTT 3.1.1, no Maximum Packet Size) the payload alone took the peak up by 200 MiB and more.
        Assert.True(peak - peakBefore < 32L * 1024 * 1024, $"VmHWM grew by {(peak - peakBefore) / 1048576.0:F1} MiB");
        Assert.True(cpu < TimeSpan.FromSeconds(5), $"CPU time {cpu.TotalSeconds:F2} s");
    }

    [Fact]
    public async Task Retained_door_messages_start_no_session_and_the_real_opening_then_gets_its_BEFORE_OPEN()
    {
        using var data = new TempDirectory();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        // Left on the broker by some publisher long ago: delivered again at every new subscription.
        await broker.PublishAsync(DoorTopic, """{"event":"opened","event_id":"stale-1"}""", retain: true);
        await broker.PublishAsync("containers/ctr-002/door", "opened", retain: true);
        var environment = AgentProcess.OneContainerEnvironment(data.Path, broker, camera, clientIdPrefix: "piorch-retained");
        environment["PIORCH_Containers__1__Id"] = "ctr-002";
        environment["PIORCH_Containers__1__CameraId"] = "espcam-d4e5f6";
        environment["PIORCH_Containers__1__CameraUrl"] = camera.Url;
        await using var agent = await StartAgentAsync(environment);

        await Eventually.UntilAsync(async () => (await agent.GetDataAsync("/api/v1/status")).GetProperty("mqtt").GetProperty("events_rejected").GetInt64() == 2,
            TimeSpan.FromSeconds(20), "both retained messages to be dropped");
        Assert.Equal(1, Count(agent.Output, "a retained message, not a live event"));
        Assert.Equal(2, Series(await MetricsAsync(agent), "piorchestrator_door_events_total", "result=\"retained\""));
        Assert.Equal(0, (await agent.GetDataAsync("/api/v1/sessions")).GetProperty("sessions").GetArrayLength());
        Assert.Equal(JsonValueKind.Null, (await ContainerStatusAsync(agent)).GetProperty("current_session_id").ValueKind);
        Assert.Equal(0, camera.CaptureRequests);

        await RealDoorCycleAsync(agent, broker, "sess-real-1");
        Assert.Equal(1, (await agent.GetDataAsync("/api/v1/sessions")).GetProperty("sessions").GetArrayLength());
    }

    [Fact]
    public async Task A_flood_of_forged_door_events_is_flagged_once_in_bounded_memory_and_a_real_door_cycle_still_gets_its_photos()
    {
        using var data = new TempDirectory();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        await using var agent = await StartAgentAsync(AgentProcess.OneContainerEnvironment(data.Path, broker, camera, clientIdPrefix: "piorch-flood"));
        await RealDoorCycleAsync(agent, broker, "sess-before-flood");
        var flag = (await ContainerStatusAsync(agent)).GetProperty("door_event_flood");
        Assert.Equal(JsonValueKind.Null, flag.ValueKind);
        var peakBefore = ProcFs.PeakRssBytes(agent.ProcessId);
        var cpuBefore = ProcFs.CpuTime(agent.ProcessId);

        // Forged closings with unique 128-character ids and forged events for a container this agent does not have, as
        // fast as the broker takes them.
        const int forged = 5000, unknown = 300;
        var publisher = await broker.ConnectClientAsync("flooder");
        var started = DateTime.UtcNow;
        for (var i = 0; i < forged; i++)
        {
            await publisher.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(DoorTopic)
                .WithPayload($$"""{"event":"closed","event_id":"{{$"forged-{i:D6}-".PadRight(128, 'x')}}"}""")
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
            if (i < unknown)
                await publisher.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("containers/ctr-999/door")
                    .WithPayload("opened").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        }

        // Delivery is in order: once a marker published after the flood is received, and every received message is
        // accounted for in the door event counter (the engine counts each event it handled), nothing reached the agent
        // unhandled. What the broker itself drops past its per-client queue (mosquitto max_queued_messages, 1000)
        // never reaches the agent, the marker included: another goes out every 2 s until one arrives.
        long received = 0, unknownHandled = 0;
        var markerSentAt = DateTime.MinValue;
        await Eventually.UntilAsync(async () =>
        {
            var scraped = await MetricsAsync(agent);
            received = (await agent.GetDataAsync("/api/v1/status")).GetProperty("mqtt").GetProperty("messages_received").GetInt64();
            var counted = scraped.Split('\n').Where(l => l.StartsWith("piorchestrator_door_events_total{", StringComparison.Ordinal))
                .Sum(l => double.Parse(l.Split(' ')[^1], CultureInfo.InvariantCulture));
            unknownHandled = (long)(Series(scraped, "piorchestrator_door_events_total", "result=\"unknown_container\"") ?? 0);
            var markerSeen = Series(scraped, "piorchestrator_door_events_total", "result=\"invalid\"") is > 0;
            if (!markerSeen && DateTime.UtcNow - markerSentAt > TimeSpan.FromSeconds(2))
            {
                markerSentAt = DateTime.UtcNow;
                await publisher.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(DoorTopic).WithPayload("flood-marker")
                    .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
            }
            return markerSeen && counted == received;
        }, TimeSpan.FromMinutes(3), "every received message to be handled");
        var elapsed = DateTime.UtcNow - started;
        await publisher.DisconnectAsync();
        publisher.Dispose();
        var metrics = await MetricsAsync(agent);
        var markers = (long)Series(metrics, "piorchestrator_door_events_total", "result=\"invalid\"")!.Value;
        var forgedReceived = received - 2 - unknownHandled - markers;
        output.WriteLine($"{forgedReceived} of {forged} forged and {unknownHandled} of {unknown} unknown-container events reached the agent (the broker dropped the rest past its queue)");
        Assert.True(forgedReceived >= 500, $"only {forgedReceived} forged events reached the agent");
        Assert.True(unknownHandled > 0);

        var flood = (await ContainerStatusAsync(agent)).GetProperty("door_event_flood");
        Assert.Equal(JsonValueKind.Object, flood.ValueKind);
        // The first cycle's two events may fall in the minute the flood began (a marker is refused before the engine).
        Assert.InRange(flood.GetProperty("events").GetInt64(), forgedReceived, forgedReceived + 2);
        Assert.Equal(120, flood.GetProperty("limit_per_minute").GetInt32());
        Assert.Equal(1, Count(agent.Output, "Door events for ctr-001 arrive at more than 120 a minute"));

        Assert.Equal(1, Series(metrics, "piorchestrator_door_event_floods_total", "container=\"ctr-001\""));
        Assert.Equal(1, Series(metrics, "piorchestrator_door_events_flooded", "container=\"ctr-001\""));

        var peak = ProcFs.PeakRssBytes(agent.ProcessId);
        var cpu = ProcFs.CpuTime(agent.ProcessId) - cpuBefore;
        var heap = Series(metrics, "piorchestrator_gc_heap_size_bytes") ?? 0;
        output.WriteLine($"{forgedReceived + unknownHandled} flood events handled in {elapsed.TotalSeconds:F1} s: agent VmHWM {peakBefore / 1048576.0:F1} -> {peak / 1048576.0:F1} MiB, " +
            $"managed heap {heap / 1048576.0:F1} MiB, CPU {cpu.TotalSeconds:F2} s");
        Assert.True(peak < 300L * 1024 * 1024, $"VmHWM {peak / 1048576.0:F1} MiB");

        // The forged closings made sessions with no opening; once the last is done, a real door still gets both photos.
        await Eventually.UntilAsync(async () => (await ContainerStatusAsync(agent)).GetProperty("current_session_id").ValueKind == JsonValueKind.Null,
            TimeSpan.FromSeconds(30), "the forged closings' sessions to finish");
        await RealDoorCycleAsync(agent, broker, "sess-after-flood");
    }
}
