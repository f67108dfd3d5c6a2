using System.Net;
using Microsoft.Data.Sqlite;
using MQTTnet;
using MQTTnet.Protocol;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.EndToEnd;

/// <summary>
/// A door event's PUBACK waits for the commit that records it. The agent's store is made slow the way a site's can
/// be, by another process holding SQLite's write lock on the real database file (BEGIN IMMEDIATE).
/// </summary>
[Trait("Agent", "Process")]
public class MqttAckTests
{
    private static Dictionary<string, string> Environment(string data, int brokerPort, string cameraUrl, string clientId, int containers)
    {
        var environment = new Dictionary<string, string>
        {
            ["PIORCH_Storage__DataDirectory"] = data,
            ["PIORCH_Mqtt__Host"] = "127.0.0.1",
            ["PIORCH_Mqtt__Port"] = brokerPort.ToString(),
            ["PIORCH_Mqtt__ClientId"] = clientId,
            ["PIORCH_Mqtt__ReconnectMaxSeconds"] = "2",
            ["PIORCH_Capture__AfterCloseDelayMs"] = "200",
            // The test polls the status faster than a dashboard may.
            ["PIORCH_Api__RateLimitPerSecond"] = "0",
        };
        for (var i = 0; i < containers; i++)
        {
            environment[$"PIORCH_Containers__{i}__Id"] = $"ctr-00{i + 1}";
            environment[$"PIORCH_Containers__{i}__CameraId"] = $"espcam-00000{i + 1}";
            environment[$"PIORCH_Containers__{i}__CameraUrl"] = cameraUrl;
        }
        return environment;
    }

    /// <summary>Another process's write transaction on the agent's database: the agent's writes wait until it ends.</summary>
    private sealed class WriteLock : IDisposable
    {
        private readonly SqliteConnection _connection;

        public WriteLock(string dataDirectory)
        {
            _connection = new SqliteConnection($"Data Source={Path.Combine(dataDirectory, "evidence.db")};Pooling=False");
            _connection.Open();
            using var begin = _connection.CreateCommand();
            begin.CommandText = "BEGIN IMMEDIATE";
            begin.ExecuteNonQuery();
        }

        public void Dispose()
        {
            using var rollback = _connection.CreateCommand();
            rollback.CommandText = "ROLLBACK";
            rollback.ExecuteNonQuery();
            _connection.Dispose();
        }
    }

    private static async Task<long> MessagesReceivedAsync(AgentProcess agent) =>
        (await agent.GetDataAsync("/api/v1/status")).GetProperty("mqtt").GetProperty("messages_received").GetInt64();

    [Fact]
    public async Task Killed_before_the_event_is_recorded_the_agent_gets_it_again_from_the_broker_after_restart()
    {
        using var data = new TempDirectory();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        var environment = Environment(data.Path, broker.Port, camera.Url, "piorch-ack-kill", containers: 1);
        var agent = AgentProcess.Start(environment);
        try
        {
            await agent.WaitReadyAsync();
            await agent.WaitForOutputAsync("MQTT connected");

            using (new WriteLock(data.Path))
            {
                await broker.PublishAsync("containers/ctr-001/door", """{"event":"opened","event_id":"ev-kill-1","session_id":"sess-kill-1"}""");
                // The agent has the event: the camera is asked for BEFORE_OPEN before anything is written.
                await Eventually.UntilAsync(() => camera.CaptureRequests >= 1, TimeSpan.FromSeconds(20), "the BEFORE_OPEN request");
                Assert.Equal(HttpStatusCode.NotFound, (await agent.Http.GetAsync("/api/v1/sessions/sess-kill-1")).StatusCode);
                await agent.KillAsync();
            }

            await agent.DisposeAsync();
            agent = AgentProcess.Start(environment);
            await agent.WaitReadyAsync();
            await Eventually.UntilAsync(async () => (await agent.Http.GetAsync("/api/v1/sessions/sess-kill-1")).StatusCode == HttpStatusCode.OK,
                TimeSpan.FromSeconds(30), "the session of the redelivered event");
        }
        finally
        {
            await agent.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_burst_across_containers_while_the_store_is_slow_is_processed_in_order_once_each_with_unacked_deliveries_capped()
    {
        const int containers = 4;
        const int perContainer = 30;
        using var data = new TempDirectory();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        await using var agent = AgentProcess.Start(Environment(data.Path, broker.Port, camera.Url, "piorch-ack-burst", containers));
        await agent.WaitReadyAsync();
        await agent.WaitForOutputAsync("MQTT connected");
        using var publisher = await broker.ConnectClientAsync("burst-" + Guid.NewGuid().ToString("N")[..8]);

        // Interleaved across containers; per container opened, closed, opened... (no two alike in a row, so nothing merges).
        var published = new List<(string Container, string EventId, string Kind)>();
        for (var n = 0; n < perContainer; n++)
            for (var c = 1; c <= containers; c++)
                published.Add(($"ctr-00{c}", $"ev-{c}-{n:D3}", n % 2 == 0 ? "opened" : "closed"));

        using (new WriteLock(data.Path))
        {
            foreach (var (container, eventId, kind) in published)
            {
                await publisher.PublishAsync(new MqttApplicationMessageBuilder().WithTopic($"containers/{container}/door")
                    .WithPayload($$"""{"event":"{{kind}}","event_id":"{{eventId}}"}""")
                    .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
            }
            // Every event is at the broker, and none can be recorded: the broker hands out no more than its cap of
            // unacknowledged messages (mosquitto's max_inflight_messages, 20), because no PUBACK has gone out.
            await Eventually.UntilAsync(async () => await MessagesReceivedAsync(agent) == 20, TimeSpan.FromSeconds(20), "the first 20 deliveries");
            var until = DateTime.UtcNow.AddSeconds(1);
            while (DateTime.UtcNow < until)
                Assert.Equal(20, await MessagesReceivedAsync(agent));
        }

        var recorded = await Eventually.UntilAsync(() =>
        {
            var rows = DoorEventsInCommitOrder(data.Path);
            return Task.FromResult(rows.Count >= published.Count ? rows : null);
        }, TimeSpan.FromSeconds(60), "every event recorded");
        Assert.Equal(published.Count, recorded!.Count);
        for (var c = 1; c <= containers; c++)
        {
            var container = $"ctr-00{c}";
            Assert.Equal(published.Where(p => p.Container == container).Select(p => p.EventId), recorded.Where(r => r.Container == container).Select(r => r.EventId));
        }
        // Each delivered once: nothing was sent again, and nothing taken for a duplicate.
        Assert.Equal(published.Count, await MessagesReceivedAsync(agent));
        Assert.DoesNotContain("Duplicate door event", agent.Output);
    }

    /// <summary>The agent's de-duplication table in the order its rows were committed.</summary>
    private static List<(string Container, string EventId)> DoorEventsInCommitOrder(string dataDirectory)
    {
        using var connection = new SqliteConnection($"Data Source={Path.Combine(dataDirectory, "evidence.db")};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var query = connection.CreateCommand();
        query.CommandText = "SELECT container_id, event_id FROM door_events ORDER BY rowid";
        using var reader = query.ExecuteReader();
        var rows = new List<(string, string)>();
        while (reader.Read()) rows.Add((reader.GetString(0), reader.GetString(1)));
        return rows;
    }
}
