using System.Text.Json;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.EndToEnd;

/// <summary>
/// Ten agent processes, each with its own agent id, container, camera, data directory and port, on one mosquitto
/// and one S3 bucket: nothing of one agent shows up as another's, and one agent dying leaves the others working.
/// </summary>
[Trait("Agent", "Process")]
public class FleetTests
{
    private const int Agents = 10;

    [Fact]
    public async Task Ten_agents_on_one_broker_and_one_bucket_keep_their_evidence_and_status_apart()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var s3 = await S3Server.StartAsync();
        var cameras = new List<FakeCamera>();
        var data = new List<TempDirectory>();
        var agents = new List<AgentProcess>();
        try
        {
            for (var i = 0; i < Agents; i++)
            {
                cameras.Add(await FakeCamera.StartAsync(seed: i + 1));
                data.Add(new TempDirectory());
            }
            var evidence = await broker.SubscribeAsync("containers/+/evidence", 2 * Agents, TimeSpan.FromSeconds(180));
            for (var i = 0; i < Agents; i++)
                agents.Add(AgentProcess.Start(new Dictionary<string, string>
                {
                    ["PIORCH_Storage__DataDirectory"] = data[i].Path,
                    ["PIORCH_Mqtt__Host"] = "127.0.0.1",
                    ["PIORCH_Mqtt__Port"] = broker.Port.ToString(),
                    ["PIORCH_Mqtt__AgentId"] = $"pi-fleet-{i}",
                    ["PIORCH_Mqtt__ClientId"] = $"piorch-fleet-{i}-" + Guid.NewGuid().ToString("N")[..6],
                    ["PIORCH_Mqtt__KeepAliveSeconds"] = "5",
                    ["PIORCH_Capture__AfterCloseDelayMs"] = "100",
                    ["PIORCH_Containers__0__Id"] = $"ctr-f{i}",
                    ["PIORCH_Containers__0__CameraId"] = $"espcam-f{i}",
                    ["PIORCH_Containers__0__CameraUrl"] = cameras[i].Url,
                    ["PIORCH_S3__Endpoint"] = s3.Endpoint,
                    ["PIORCH_S3__Bucket"] = "evidence",
                    ["PIORCH_S3__AccessKey"] = S3Server.AccessKey,
                    ["PIORCH_S3__SecretKey"] = S3Server.SecretKey,
                }));
            await Task.WhenAll(agents.Select(a => a.WaitReadyAsync(TimeSpan.FromSeconds(120))));
            await Task.WhenAll(agents.Select(a => a.WaitForOutputAsync("MQTT connected", TimeSpan.FromSeconds(60))));

            // Each agent's retained status is its own.
            var statuses = await (await broker.SubscribeAsync("containers/agent/+/status", Agents, TimeSpan.FromSeconds(30)));
            Assert.Equal(Enumerable.Range(0, Agents).Select(i => $"containers/agent/pi-fleet-{i}/status online").Order(), statuses.Order());

            for (var i = 0; i < Agents; i++)
            {
                await broker.PublishAsync($"containers/ctr-f{i}/door", "opened");
                await broker.PublishAsync($"containers/ctr-f{i}/door", "closed");
            }
            await Task.WhenAll(agents.Select(a => Eventually.UntilAsync(async () =>
                (await a.GetDataAsync("/api/v1/status")).GetProperty("upload").GetProperty("uploaded_since_start").GetInt64() == 2,
                TimeSpan.FromSeconds(120), "both photos of a door cycle uploaded")));

            // Every capture announced once, by the agent that took it.
            var announced = (await evidence.WaitAsync(TimeSpan.FromSeconds(60)))
                .Select(line => (Topic: line[..line.IndexOf(' ')], Body: JsonDocument.Parse(line[(line.IndexOf(' ') + 1)..]).RootElement)).ToList();
            Assert.Equal(2 * Agents, announced.Count);
            Assert.Equal(2 * Agents, announced.Select(a => a.Body.GetProperty("evidence_id").GetString()).Distinct().Count());
            var objects = (await s3.ListAsync("evidence")).Select(o => o.Key).ToHashSet();
            Assert.Equal(2 * Agents, objects.Count);
            for (var i = 0; i < Agents; i++)
            {
                var container = $"ctr-f{i}";
                var mine = announced.Where(a => a.Topic == $"containers/{container}/evidence").Select(a => a.Body).ToList();
                Assert.Equal(["AFTER_CLOSE", "BEFORE_OPEN"], mine.Select(b => b.GetProperty("capture_tag").GetString()).Order());
                Assert.All(mine, b => Assert.Equal(container, b.GetProperty("container_id").GetString()));
                // Its evidence lands under its own keys, and those are the keys its own API reports.
                var sessions = (await agents[i].GetDataAsync("/api/v1/sessions")).GetProperty("sessions");
                var session = Assert.Single(sessions.EnumerateArray()).GetProperty("id").GetString();
                var pair = await agents[i].GetDataAsync($"/api/v1/sessions/{session}/evidence/pair");
                var keys = new[] { "before", "after" }.Select(side => pair.GetProperty(side).GetProperty("object_key").GetString()!).ToList();
                Assert.All(keys, key => Assert.StartsWith($"evidence/{container}/", key));
                Assert.Equal(keys.Order(), objects.Where(k => k.StartsWith($"evidence/{container}/", StringComparison.Ordinal)).Order());
                Assert.Equal(keys.Order(), mine.Select(b => b.GetProperty("object_key").GetString()).Order());
            }

            // One agent dies: its will says offline, the others stay online and keep taking doors.
            await agents[0].KillAsync();
            var dead = await (await broker.SubscribeAsync("containers/agent/pi-fleet-0/status", 1, TimeSpan.FromSeconds(30)));
            Assert.Equal(["containers/agent/pi-fleet-0/status offline"], dead);
            var after = await (await broker.SubscribeAsync("containers/agent/+/status", Agents, TimeSpan.FromSeconds(30)));
            Assert.Equal(Enumerable.Range(1, Agents - 1).Select(i => $"containers/agent/pi-fleet-{i}/status online")
                .Append("containers/agent/pi-fleet-0/status offline").Order(), after.Order());
            await broker.PublishAsync("containers/ctr-f1/door", "opened");
            await broker.PublishAsync("containers/ctr-f1/door", "closed");
            await Eventually.UntilAsync(async () =>
                (await agents[1].GetDataAsync("/api/v1/sessions?status=complete")).GetProperty("sessions").GetArrayLength() == 2,
                TimeSpan.FromSeconds(60), "a second door cycle on another agent");
        }
        finally
        {
            foreach (var agent in agents) await agent.DisposeAsync();
            foreach (var camera in cameras) await camera.DisposeAsync();
            foreach (var directory in data) directory.Dispose();
        }
    }
}
