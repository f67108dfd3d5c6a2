using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.EndToEnd;

/// <summary>
/// The built agent as a process, configured with PIORCH_ variables, hearing doors through a real mosquitto
/// and photographing a fake ESP32-CAM over real HTTP; checked over HTTP exactly as the dashboard reads it.
/// </summary>
[Trait("Agent", "Process")]
public class AgentProcessTests
{
    private static Dictionary<string, string> Environment(string dataDirectory, int brokerPort, string cameraUrl) => new()
    {
        ["PIORCH_Storage__DataDirectory"] = dataDirectory,
        ["PIORCH_Mqtt__Host"] = "127.0.0.1",
        ["PIORCH_Mqtt__Port"] = brokerPort.ToString(),
        ["PIORCH_Mqtt__ClientId"] = "piorch-e2e-" + Guid.NewGuid().ToString("N")[..8],
        ["PIORCH_Mqtt__ReconnectMaxSeconds"] = "2",
        ["PIORCH_Capture__AfterCloseDelayMs"] = "200",
        ["PIORCH_Containers__0__Id"] = "ctr-001",
        ["PIORCH_Containers__0__CameraId"] = "espcam-a1b2c3",
        ["PIORCH_Containers__0__CameraUrl"] = cameraUrl,
    };

    private static async Task<JsonElement> WaitForPairAsync(AgentProcess agent, string status = "complete") =>
        (await Eventually.UntilAsync(async () =>
        {
            var sessions = (await agent.GetDataAsync("/api/v1/sessions?container_id=ctr-001")).GetProperty("sessions");
            if (sessions.GetArrayLength() == 0) return (JsonElement?)null;
            var id = sessions[0].GetProperty("id").GetString();
            var pair = await agent.GetDataAsync($"/api/v1/sessions/{id}/evidence/pair");
            return pair.GetProperty("pair_status").GetString() == status ? pair : null;
        }, TimeSpan.FromSeconds(30), $"a {status} pair")) ?? throw new InvalidOperationException("no pair");

    private static Task WaitForSubscriptionAsync(AgentProcess agent) =>
        agent.WaitForOutputAsync("MQTT connected to 127.0.0.1");

    private static Task WaitForBeforeOpenAsync(AgentProcess agent) =>
        Eventually.UntilAsync(async () =>
        {
            var sessions = (await agent.GetDataAsync("/api/v1/sessions?container_id=ctr-001")).GetProperty("sessions");
            if (sessions.GetArrayLength() == 0) return false;
            var id = sessions[0].GetProperty("id").GetString();
            var evidence = await agent.GetDataAsync($"/api/v1/sessions/{id}/evidence?include_image=false");
            return evidence.GetProperty("summary").GetProperty("has_before_open").GetBoolean();
        }, TimeSpan.FromSeconds(20), "BEFORE_OPEN");

    [Fact]
    public async Task A_door_cycle_over_mqtt_gives_a_complete_pair_whose_image_bytes_match_their_sha256()
    {
        using var data = new TempDirectory();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        await using var agent = AgentProcess.Start(Environment(data.Path, broker.Port, camera.Url));
        await agent.WaitReadyAsync();
        await WaitForSubscriptionAsync(agent);

        await broker.PublishAsync("containers/ctr-001/door", """{"event":"opened","event_id":"e2e-1","session_id":"sess-e2e-1"}""");
        await broker.PublishAsync("containers/ctr-001/door", "closed");
        var pair = await WaitForPairAsync(agent);

        Assert.Equal("sess-e2e-1", pair.GetProperty("session_id").GetString());
        var evidence = await agent.GetDataAsync("/api/v1/sessions/sess-e2e-1/evidence");
        Assert.True(evidence.GetProperty("summary").GetProperty("pair_complete").GetBoolean());
        foreach (var side in new[] { "before", "after" })
        {
            var capture = pair.GetProperty(side);
            var key = capture.GetProperty("object_key").GetString()!;
            var bytes = await agent.Http.GetByteArrayAsync($"/api/v1/evidence/image?key={Uri.EscapeDataString(key)}");
            Assert.Equal(capture.GetProperty("sha256").GetString(), Convert.ToHexStringLower(SHA256.HashData(bytes)));
            Assert.Contains(capture.GetProperty("sha256").GetString(), camera.ServedSha256);
            var inline = Convert.FromBase64String(capture.GetProperty("image_data").GetString()!);
            Assert.Equal(bytes, inline);
        }
        Assert.Contains("Session sess-e2e-1 of ctr-001 complete", agent.Output);
    }

    [Fact]
    public async Task Killed_after_BEFORE_OPEN_the_agent_resumes_the_session_and_completes_the_pair()
    {
        using var data = new TempDirectory();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        var environment = Environment(data.Path, broker.Port, camera.Url);
        var port = TestPorts.Free();
        await using (var first = AgentProcess.Start(environment, port))
        {
            await first.WaitReadyAsync();
            await WaitForSubscriptionAsync(first);
            await broker.PublishAsync("containers/ctr-001/door", "opened");
            await WaitForBeforeOpenAsync(first);
            await first.KillAsync();
        }
        await using var second = AgentProcess.Start(environment, port);
        await second.WaitReadyAsync();
        await second.WaitForOutputAsync("Resuming session");
        await WaitForSubscriptionAsync(second);
        await broker.PublishAsync("containers/ctr-001/door", "closed");

        var pair = await WaitForPairAsync(second);
        Assert.Equal("captured", pair.GetProperty("before").GetProperty("status").GetString());
        Assert.Equal("captured", pair.GetProperty("after").GetProperty("status").GetString());
        Assert.Equal(1, (await second.GetDataAsync("/api/v1/sessions")).GetProperty("sessions").GetArrayLength());
    }

    [Fact]
    public async Task Door_events_published_while_the_agent_is_down_are_processed_when_it_is_back()
    {
        using var data = new TempDirectory();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        var environment = Environment(data.Path, broker.Port, camera.Url);
        await using (var first = AgentProcess.Start(environment))
        {
            await first.WaitReadyAsync();
            await WaitForSubscriptionAsync(first);
            Assert.Equal(0, await first.StopAsync());
        }
        // The broker keeps the agent's persistent session (clean_session=false) and queues these QoS 1 events.
        await broker.PublishAsync("containers/ctr-001/door", """{"event":"opened","event_id":"while-down-1"}""");
        await broker.PublishAsync("containers/ctr-001/door", """{"event":"closed","event_id":"while-down-2"}""");

        await using var second = AgentProcess.Start(environment);
        await second.WaitReadyAsync();
        var pair = await WaitForPairAsync(second);
        Assert.Equal("complete", pair.GetProperty("pair_status").GetString());
    }

    [Fact]
    public async Task Bad_payloads_and_unknown_containers_are_logged_and_dropped_while_good_events_work()
    {
        using var data = new TempDirectory();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        await using var agent = AgentProcess.Start(Environment(data.Path, broker.Port, camera.Url));
        await agent.WaitReadyAsync();
        await WaitForSubscriptionAsync(agent);

        await broker.PublishAsync("containers/ctr-001/door", "{\"event\": ");
        await broker.PublishAsync("containers/ctr-001/door", "exploded");
        await broker.PublishAsync("containers/ctr-999/door", "opened");
        await broker.PublishBytesAsync("containers/ctr-001/door", [0xC3, 0x28, 0xFF]);
        await broker.PublishBytesAsync("containers/ctr-001/door", Encoding.UTF8.GetBytes(new string('x', 5000)));
        await broker.PublishAsync("containers/ctr-001/door", "opened");
        await broker.PublishAsync("containers/ctr-001/door", "closed");
        await WaitForPairAsync(agent);

        await agent.WaitForOutputAsync("unknown container");
        Assert.Contains("malformed JSON", agent.Output);
        Assert.Contains("unknown event word 'exploded'", agent.Output);
        Assert.Contains("not valid UTF-8", agent.Output);
        Assert.Contains("over the 4096-byte limit", agent.Output);
        Assert.False(agent.HasExited);
        var status = await agent.GetDataAsync("/api/v1/status");
        Assert.Equal(5, status.GetProperty("mqtt").GetProperty("events_rejected").GetInt64());
        Assert.Single((await agent.GetDataAsync("/api/v1/sessions")).GetProperty("sessions").EnumerateArray());
    }

    [Fact]
    public async Task A_broker_down_at_start_is_retried_and_a_broker_restart_is_survived()
    {
        using var data = new TempDirectory();
        await using var broker = MosquittoBroker.NotStarted();
        await using var camera = await FakeCamera.StartAsync();
        await using var agent = AgentProcess.Start(Environment(data.Path, broker.Port, camera.Url));
        await agent.WaitReadyAsync();
        await agent.WaitForOutputAsync("unreachable");
        Assert.Equal("disconnected", (await agent.GetDataAsync("/api/v1/status")).GetProperty("mqtt").GetProperty("state").GetString());

        await broker.LaunchAsync();
        await WaitForSubscriptionAsync(agent);
        await broker.RestartAsync();
        await agent.WaitForOutputAsync("lost");
        await Eventually.UntilAsync(async () =>
            (await agent.GetDataAsync("/api/v1/status")).GetProperty("mqtt").GetProperty("connected").GetBoolean(), TimeSpan.FromSeconds(30), "reconnect");

        await broker.PublishAsync("containers/ctr-001/door", "opened");
        await broker.PublishAsync("containers/ctr-001/door", "closed");
        await WaitForPairAsync(agent);
    }

    [Fact]
    public async Task A_bad_configuration_stops_the_agent_with_one_line_per_problem()
    {
        using var data = new TempDirectory();
        var environment = new Dictionary<string, string>
        {
            ["PIORCH_Storage__DataDirectory"] = data.Path,
            ["PIORCH_Mqtt__Port"] = "70000",
            ["PIORCH_Capture__Attempts"] = "0",
            ["PIORCH_Containers__0__Id"] = "bad id!",
            ["PIORCH_Containers__0__CameraId"] = "cam",
            ["PIORCH_Containers__0__CameraUrl"] = "ftp://camera",
        };
        await using var agent = AgentProcess.Start(environment);
        Assert.Equal(78, await agent.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        var lines = agent.Output.Split('\n').Where(l => l.Contains("configuration error")).ToList();
        Assert.Contains(lines, l => l.Contains("Port"));
        Assert.Contains(lines, l => l.Contains("Attempts"));
        Assert.Contains(lines, l => l.Contains("Containers:0:Id 'bad id!'"));
        Assert.Contains(lines, l => l.Contains("Containers:0:CameraUrl 'ftp://camera'"));
        Assert.DoesNotContain("   at ", agent.Output);
    }

    [Fact]
    public async Task Demo_mode_shows_a_complete_pair_within_seconds()
    {
        using var data = new TempDirectory();
        await using var agent = AgentProcess.Start(new Dictionary<string, string>
        {
            ["PIORCH_Storage__DataDirectory"] = data.Path,
            ["PIORCH_Mqtt__Enabled"] = "false",
        }, null, "--demo");
        await agent.WaitReadyAsync();
        var pair = await Eventually.UntilAsync(async () =>
        {
            var sessions = (await agent.GetDataAsync("/api/v1/sessions?container_id=ctr-demo&status=complete")).GetProperty("sessions");
            if (sessions.GetArrayLength() == 0) return (JsonElement?)null;
            return await agent.GetDataAsync($"/api/v1/sessions/{sessions[0].GetProperty("id").GetString()}/evidence/pair");
        }, TimeSpan.FromSeconds(30), "a demo pair");
        Assert.Equal("complete", pair!.Value.GetProperty("pair_status").GetString());
    }

    [Fact]
    public async Task Socket_completions_run_inline_on_one_socket_thread_per_core_unless_the_operator_says_otherwise()
    {
        // What the dashboard figures in bench/RESULTS.md rest on (Net/SocketThreading.cs). .NET starts one socket
        // thread per core when completions run inline, and one in all otherwise (below 45 cores): the count tells
        // the two apart wherever there is more than one core.
        static async Task<int> SocketThreadsAsync(params (string Key, string Value)[] extra)
        {
            using var data = new TempDirectory();
            var environment = new Dictionary<string, string>
            {
                ["PIORCH_Storage__DataDirectory"] = data.Path,
                ["PIORCH_Mqtt__Enabled"] = "false",
            };
            foreach (var (key, value) in extra) environment[key] = value;
            await using var agent = AgentProcess.Start(environment, null, "--demo");
            await agent.WaitReadyAsync();
            // The demo camera is photographed over HTTP: outgoing connections work in this mode too.
            await Eventually.UntilAsync(async () =>
                (await agent.GetDataAsync("/api/v1/sessions?container_id=ctr-demo&status=complete")).GetProperty("sessions").GetArrayLength() > 0,
                TimeSpan.FromSeconds(30), "a demo pair");
            return Directory.GetDirectories($"/proc/{agent.ProcessId}/task")
                .Count(task => File.ReadAllText(Path.Combine(task, "comm")).Trim() == ".NET Sockets");
        }

        Assert.Equal(System.Environment.ProcessorCount, await SocketThreadsAsync());
        Assert.Equal(1, await SocketThreadsAsync(("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "0")));
    }

    [Theory]
    [InlineData("GET /api/v1/sessions/sess%001/evidence HTTP/1.1", 400)]
    [InlineData("GET /api/v1/sessions/../../../etc/passwd HTTP/1.1", 400)]
    [InlineData("GET /api/v1/evidence/image?key=..%2F..%2Fevidence.db HTTP/1.1", 400)]
    public async Task Real_kestrel_refuses_hostile_request_lines(string requestLine, int status)
    {
        using var data = new TempDirectory();
        await using var agent = AgentProcess.Start(new Dictionary<string, string>
        {
            ["PIORCH_Storage__DataDirectory"] = data.Path,
            ["PIORCH_Mqtt__Enabled"] = "false",
        });
        await agent.WaitReadyAsync();
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, agent.Port);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"{requestLine}\r\nHost: localhost\r\nConnection: close\r\n\r\n"));
        var response = await new StreamReader(stream).ReadToEndAsync();
        Assert.StartsWith($"HTTP/1.1 {status}", response);
    }
}
