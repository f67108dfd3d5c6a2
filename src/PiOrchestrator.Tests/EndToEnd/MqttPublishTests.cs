using System.Text.Json;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.EndToEnd;

/// <summary>What the agent publishes, read by a real mosquitto_sub; and a broker restart while events are queued.</summary>
[Trait("Agent", "Process")]
public class MqttPublishTests
{
    private static Dictionary<string, string> Environment(string data, int brokerPort, string cameraUrl, string agentId) => new()
    {
        ["PIORCH_Storage__DataDirectory"] = data,
        ["PIORCH_Mqtt__Host"] = "127.0.0.1",
        ["PIORCH_Mqtt__Port"] = brokerPort.ToString(),
        ["PIORCH_Mqtt__ClientId"] = "piorch-" + agentId,
        ["PIORCH_Mqtt__AgentId"] = agentId,
        ["PIORCH_Mqtt__KeepAliveSeconds"] = "5",
        ["PIORCH_Mqtt__ReconnectMaxSeconds"] = "2",
        ["PIORCH_Capture__AfterCloseDelayMs"] = "100",
        ["PIORCH_Containers__0__Id"] = "ctr-001",
        ["PIORCH_Containers__0__CameraId"] = "espcam-a1b2c3",
        ["PIORCH_Containers__0__CameraUrl"] = cameraUrl,
    };

    [Fact]
    public async Task The_agent_publishes_online_each_capture_and_offline_as_its_last_will()
    {
        using var data = new TempDirectory();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        var evidence = await broker.SubscribeAsync("containers/ctr-001/evidence", 2, TimeSpan.FromSeconds(60));
        await using var agent = AgentProcess.Start(Environment(data.Path, broker.Port, camera.Url, "pi-yard-7"));
        await agent.WaitReadyAsync();
        await agent.WaitForOutputAsync("MQTT connected");

        var online = await (await broker.SubscribeAsync("containers/agent/pi-yard-7/status", 1, TimeSpan.FromSeconds(20)));
        Assert.Equal(["containers/agent/pi-yard-7/status online"], online);

        await broker.PublishAsync("containers/ctr-001/door", "opened");
        await broker.PublishAsync("containers/ctr-001/door", "closed");
        var published = await evidence.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(2, published.Length);
        // Commits of two captures may reach the broker in either order; captured_at orders them.
        var captures = published.Select(line => JsonDocument.Parse(line[(line.IndexOf(' ') + 1)..]).RootElement)
            .OrderBy(c => c.GetProperty("captured_at").GetString()).ToList();
        Assert.Equal(["BEFORE_OPEN", "AFTER_CLOSE"], captures.Select(c => c.GetProperty("capture_tag").GetString()));
        Assert.All(captures, c =>
        {
            Assert.False(c.TryGetProperty("image_data", out _));
            Assert.Equal("captured", c.GetProperty("status").GetString());
            Assert.Matches("^[0-9a-f]{64}$", c.GetProperty("sha256").GetString());
            Assert.StartsWith("evidence/ctr-001/", c.GetProperty("object_key").GetString());
        });

        await agent.KillAsync();
        var status = await (await broker.SubscribeAsync("containers/agent/pi-yard-7/status", 1, TimeSpan.FromSeconds(20)));
        Assert.Equal(["containers/agent/pi-yard-7/status offline"], status);
    }

    [Fact]
    public async Task Events_published_while_the_broker_restarts_and_before_the_agent_reconnects_are_processed()
    {
        using var data = new TempDirectory();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        await using var agent = AgentProcess.Start(Environment(data.Path, broker.Port, camera.Url, "pi-restart"));
        await agent.WaitReadyAsync();
        await agent.WaitForOutputAsync("MQTT connected");

        await broker.RestartAsync();
        // The broker restored the agent's persistent session from disk: these queue until the agent is back.
        await broker.PublishAsync("containers/ctr-001/door", """{"event":"opened","event_id":"rs-1"}""");
        await broker.PublishAsync("containers/ctr-001/door", """{"event":"closed","event_id":"rs-2"}""");
        Assert.False((await agent.GetDataAsync("/api/v1/status")).GetProperty("mqtt").GetProperty("connected").GetBoolean());

        await Eventually.UntilAsync(async () =>
        {
            var sessions = (await agent.GetDataAsync("/api/v1/sessions?status=complete")).GetProperty("sessions");
            return sessions.GetArrayLength() == 1 && sessions[0].GetProperty("pair_status").GetString() == "complete";
        }, TimeSpan.FromSeconds(30), "the queued door cycle");
        Assert.False(agent.HasExited);
    }

    [Fact]
    public async Task A_gpio_sensor_that_cannot_open_shows_failed_in_status_and_mqtt_doors_still_work()
    {
        using var data = new TempDirectory();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        var environment = Environment(data.Path, broker.Port, camera.Url, "pi-gpio");
        environment["PIORCH_Containers__0__Door__Chip"] = "gpiochip9";
        environment["PIORCH_Containers__0__Door__Line"] = "17";
        await using var agent = AgentProcess.Start(environment);
        await agent.WaitReadyAsync();
        await agent.WaitForOutputAsync("MQTT connected");

        var sensor = await Eventually.UntilAsync(async () =>
        {
            var s = (await agent.GetDataAsync("/api/v1/status")).GetProperty("containers")[0].GetProperty("door_sensor");
            return s.GetProperty("state").GetString() == "failed" ? (JsonElement?)s : null;
        }, TimeSpan.FromSeconds(20), "the sensor to show failed");
        Assert.Contains("gpiochip9", sensor!.Value.GetProperty("error").GetString());
        Assert.Contains("Door sensor of ctr-001 is not working", agent.Output);

        await broker.PublishAsync("containers/ctr-001/door", "opened");
        await broker.PublishAsync("containers/ctr-001/door", "closed");
        await Eventually.UntilAsync(async () =>
            (await agent.GetDataAsync("/api/v1/sessions?status=complete")).GetProperty("sessions").GetArrayLength() == 1, TimeSpan.FromSeconds(20), "a session");
    }

    [Fact]
    public async Task On_sigterm_the_agent_publishes_a_retained_offline_before_its_clean_disconnect()
    {
        using var data = new TempDirectory();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        await using var agent = AgentProcess.Start(Environment(data.Path, broker.Port, camera.Url, "pi-term"));
        await agent.WaitReadyAsync();
        await agent.WaitForOutputAsync("MQTT connected");

        Assert.Equal(0, await agent.StopAsync());
        // A clean DISCONNECT: the broker drops the will, so the retained offline is the agent's own.
        await Eventually.UntilAsync(() => broker.Log.Contains("Client piorch-pi-term disconnected.", StringComparison.Ordinal),
            TimeSpan.FromSeconds(10), "the agent's DISCONNECT");
        var status = await (await broker.SubscribeAsync("containers/agent/pi-term/status", 1, TimeSpan.FromSeconds(20)));
        Assert.Equal(["containers/agent/pi-term/status offline"], status);
    }

    [Fact]
    public async Task A_frozen_broker_is_noticed_by_keep_alive_and_left_after_the_connect_timeout_until_it_answers_again()
    {
        using var data = new TempDirectory();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        var environment = Environment(data.Path, broker.Port, camera.Url, "pi-frozen");
        environment["PIORCH_Mqtt__ConnectTimeoutSeconds"] = "2";
        await using var agent = AgentProcess.Start(environment);
        await agent.WaitReadyAsync();
        await agent.WaitForOutputAsync("MQTT connected");

        broker.Freeze();
        try
        {
            // Keep-alive 5 s: the missing PINGRESP ends the connection; then each attempt gets no CONNACK in 2 s.
            await Eventually.UntilAsync(async () =>
                (await agent.GetDataAsync("/api/v1/status")).GetProperty("mqtt").GetProperty("last_error").GetString() == "no answer from the broker within 2 s",
                TimeSpan.FromSeconds(30), "the agent to give up on the frozen broker");
            Assert.Contains("MQTT connection to 127.0.0.1:" + broker.Port + " lost", agent.Output);
        }
        finally
        {
            broker.Thaw();
        }
        await Eventually.UntilAsync(async () =>
            (await agent.GetDataAsync("/api/v1/status")).GetProperty("mqtt").GetProperty("connected").GetBoolean(),
            TimeSpan.FromSeconds(30), "the agent to reconnect");
        await broker.PublishAsync("containers/ctr-001/door", "opened");
        await broker.PublishAsync("containers/ctr-001/door", "closed");
        await Eventually.UntilAsync(async () =>
            (await agent.GetDataAsync("/api/v1/sessions?status=complete")).GetProperty("sessions").GetArrayLength() == 1, TimeSpan.FromSeconds(20), "a session");
    }
}
