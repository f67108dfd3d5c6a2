using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Amazon.S3.Model;
using PiOrchestrator.Tests.Fixtures;
using Xunit.Abstractions;

namespace PiOrchestrator.Tests.EndToEnd;

/// <summary>
/// Ids end up as segments of object keys (<c>evidence/{container}/{session}/…</c>): the agent as a process refuses ids
/// S3 would rewrite, and never writes over an object it did not write.
/// </summary>
[Trait("Agent", "Process")]
public sealed class ObjectKeyProcessTests(ITestOutputHelper output)
{
    private const string Door = "containers/ctr-001/door";

    [Fact]
    public async Task Dot_session_ids_are_refused_over_mqtt_and_http_with_the_reason()
    {
        using var data = new TempDirectory();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        var environment = AgentProcess.OneContainerEnvironment(data.Path, broker, camera, clientIdPrefix: "piorch-ids");
        environment["PIORCH_Capture__AfterCloseDelayMs"] = "50";
        await using var agent = AgentProcess.Start(environment);
        await agent.WaitReadyAsync();
        await agent.WaitForOutputAsync("MQTT connected");

        await broker.PublishAsync(Door, """{"event":"opened","session_id":".."}""");
        await broker.PublishAsync(Door, """{"event":"closed","session_id":"."}""");
        await broker.PublishAsync(Door, """{"event":"opened","session_id":"sess-trailing."}""");
        // A good cycle after them: events are handled in order, so once it is complete the refused ones were seen.
        await broker.PublishAsync(Door, """{"event":"opened","session_id":"sess-ok"}""");
        await broker.PublishAsync(Door, """{"event":"closed","session_id":"sess-ok"}""");
        await Eventually.UntilAsync(async () =>
            (await agent.GetDataAsync("/api/v1/sessions")).GetProperty("sessions").EnumerateArray()
                .Any(s => s.GetProperty("id").GetString() == "sess-ok" && s.GetProperty("status").GetString() == "complete"),
            TimeSpan.FromSeconds(30), "the good session to complete");

        var sessions = (await agent.GetDataAsync("/api/v1/sessions")).GetProperty("sessions").EnumerateArray().Select(s => s.GetProperty("id").GetString()).ToList();
        Assert.Equal(["sess-ok"], sessions);
        Assert.Equal(3, (await agent.GetDataAsync("/api/v1/status")).GetProperty("mqtt").GetProperty("events_rejected").GetInt64());
        var metrics = await agent.Http.GetStringAsync("/metrics");
        Assert.Equal(3, Metric(metrics, "piorchestrator_door_events_total", "result=\"invalid\"", "source=\"mqtt\""));
        // One warning with the reason (the rest of the class is held back by the log throttle, and counted).
        var warning = agent.Output.Split('\n').Single(l => l.Contains("\"session_id\" '..' is refused", StringComparison.Ordinal));
        Assert.Contains("must not begin or end with '.'", warning);
        output.WriteLine(warning);

        // HTTP: a dot id anywhere it can be given is a 400 envelope naming the field and the rule.
        foreach (var (target, field) in new[]
                 {
                     ("/api/v1/sessions/%2E%2E/evidence", "path"),
                     ("/api/v1/sessions/./export", "path"),
                     ("/api/v1/sessions/..", "path"),
                     ("/api/v1/sessions/sess-ok/../../status", "path"),
                     ("/api/v1/sessions/sess-trailing./evidence/pair", "session_id"),
                     ("/api/v1/sessions/.hidden", "session_id"),
                     ("/api/v1/sessions?container_id=..", "container_id"),
                 })
        {
            var (status, body) = await RawGetAsync(agent.Port, target);
            output.WriteLine($"{target} -> {status} {body}");
            Assert.Equal(400, status);
            using var json = JsonDocument.Parse(body);
            var error = json.RootElement.GetProperty("error");
            Assert.False(json.RootElement.GetProperty("success").GetBoolean());
            Assert.Equal("invalid_request", error.GetProperty("code").GetString());
            Assert.Equal(field, error.GetProperty("field").GetString());
            Assert.Contains("'.'", error.GetProperty("message").GetString());
        }
        // The good session is still served.
        Assert.Equal(HttpStatusCode.OK, (await agent.Http.GetAsync("/api/v1/sessions/sess-ok/evidence?include_image=false")).StatusCode);
    }

    /// <summary>The sum of a series' samples whose labels include all of <paramref name="labels"/>.</summary>
    private static double Metric(string exposition, string name, params string[] labels) =>
        exposition.Split('\n')
            .Where(l => l.StartsWith(name + "{", StringComparison.Ordinal) && labels.All(label => l.Contains(label, StringComparison.Ordinal)))
            .Sum(l => double.Parse(l.TrimEnd('\r').Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>
    /// HTTP clients remove dot segments before sending (as the server does before routing): the request line is
    /// written by hand, as a hostile client would.
    /// </summary>
    private static async Task<(int Status, string Body)> RawGetAsync(int port, string target)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        await using var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"));
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var response = await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(10));
        var status = int.Parse(response.Split(' ', 3)[1]);
        var body = response[(response.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..];
        // Chunked: the JSON is the first chunk.
        if (response.Contains("Transfer-Encoding: chunked", StringComparison.OrdinalIgnoreCase))
            body = body[(body.IndexOf("\r\n", StringComparison.Ordinal) + 2)..body.LastIndexOf('}')] + "}";
        return (status, body);
    }

    [Fact]
    public async Task A_key_holding_another_agents_photo_is_left_alone_and_the_capture_is_stored_beside_it()
    {
        using var data = new TempDirectory();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        await using var s3 = await S3Server.StartAsync();
        using var client = s3.Client();
        await client.PutBucketAsync("evidence");
        // The agent reaches S3 through a gate, closed until the bucket holds what the test puts there.
        await using var gate = new TcpGate(s3.Port);
        var environment = AgentProcess.OneContainerEnvironment(data.Path, broker, camera, s3, "piorch-collide");
        environment["PIORCH_S3__Endpoint"] = $"http://127.0.0.1:{gate.Port}";
        environment["PIORCH_Capture__AfterCloseDelayMs"] = "50";
        environment["PIORCH_S3__RetryBaseDelayMs"] = "100";
        environment["PIORCH_S3__BreakSeconds"] = "1";
        await using var agent = AgentProcess.Start(environment);
        await agent.WaitReadyAsync();
        await agent.WaitForOutputAsync("MQTT connected");

        // The site's access system names the session: another agent configured with the same container id and
        // given the same session in the same second makes the same keys.
        await broker.PublishAsync(Door, """{"event":"opened","session_id":"sess-shared"}""");
        await broker.PublishAsync(Door, """{"event":"closed","session_id":"sess-shared"}""");
        JsonElement[] rows = [];
        await Eventually.UntilAsync(async () =>
        {
            rows = [.. (await agent.GetDataAsync("/api/v1/sessions/sess-shared/evidence")).GetProperty("captures").EnumerateArray()];
            return rows.Length == 2 && rows.All(r => r.GetProperty("status").GetString() == "captured");
        }, TimeSpan.FromSeconds(30), "both captures");
        var before = rows.Single(r => r.GetProperty("capture_tag").GetString() == "BEFORE_OPEN");
        var after = rows.Single(r => r.GetProperty("capture_tag").GetString() == "AFTER_CLOSE");
        var beforeKey = before.GetProperty("object_key").GetString()!;
        var afterKey = after.GetProperty("object_key").GetString()!;
        var afterBytes = Convert.FromBase64String(after.GetProperty("image_data").GetString()!);

        // The other agent's photo at BEFORE_OPEN's key; at AFTER_CLOSE's key this agent's own bytes, as a put whose
        // answer was lost leaves them.
        var foreign = TestJpegs.Make(909, 640, 480);
        var foreignSha = Convert.ToHexStringLower(SHA256.HashData(foreign));
        var seed = new PutObjectRequest { BucketName = "evidence", Key = beforeKey, InputStream = new MemoryStream(foreign), UseChunkEncoding = false };
        seed.Metadata["sha256"] = foreignSha;
        seed.Metadata["container_id"] = "ctr-001";
        await client.PutObjectAsync(seed);
        await client.PutObjectAsync(new PutObjectRequest { BucketName = "evidence", Key = afterKey, InputStream = new MemoryStream(afterBytes), UseChunkEncoding = false });

        gate.Open();
        await Eventually.UntilAsync(async () =>
        {
            rows = [.. (await agent.GetDataAsync("/api/v1/sessions/sess-shared/evidence?include_image=false")).GetProperty("captures").EnumerateArray()];
            return rows.All(r => r.GetProperty("upload_status").GetString() == "uploaded");
        }, TimeSpan.FromSeconds(60), "both uploads");

        // The other agent's photo is untouched.
        Assert.Equal(foreign, await s3.ReadAsync("evidence", beforeKey));
        // This agent's BEFORE_OPEN is beside it, under the whole evidence id, and its row points there; the object's
        // sha256 is the row's.
        before = rows.Single(r => r.GetProperty("capture_tag").GetString() == "BEFORE_OPEN");
        var movedKey = before.GetProperty("object_key").GetString()!;
        var evidenceId = Guid.Parse(before.GetProperty("evidence_id").GetString()!);
        Assert.Equal(beforeKey[..beforeKey.LastIndexOf('_')] + "_" + evidenceId.ToString("N") + ".jpg", movedKey);
        var stored = await s3.ReadAsync("evidence", movedKey);
        Assert.Equal(before.GetProperty("sha256").GetString(), Convert.ToHexStringLower(SHA256.HashData(stored)));
        Assert.NotEqual(foreignSha, before.GetProperty("sha256").GetString());
        // AFTER_CLOSE's key already held its bytes: that is this agent's own object, no collision, same key.
        after = rows.Single(r => r.GetProperty("capture_tag").GetString() == "AFTER_CLOSE");
        Assert.Equal(afterKey, after.GetProperty("object_key").GetString());
        Assert.Equal(afterBytes, await s3.ReadAsync("evidence", afterKey));
        // The API serves the row's own photo under its new key.
        using (var image = await agent.Http.GetAsync($"/api/v1/evidence/image?key={Uri.EscapeDataString(movedKey)}"))
            Assert.Equal(stored, await image.Content.ReadAsByteArrayAsync());
        // Three objects, none lost.
        Assert.Equal([afterKey, beforeKey, movedKey], (await s3.ListAsync("evidence")).Select(o => o.Key).Order(StringComparer.Ordinal));

        // Shown in status, logged as an error, counted.
        var upload = (await agent.GetDataAsync("/api/v1/status")).GetProperty("upload");
        output.WriteLine(upload.ToString());
        Assert.Equal(1, upload.GetProperty("key_collisions").GetInt64());
        var last = upload.GetProperty("last_key_collision");
        Assert.Equal(beforeKey, last.GetProperty("object_key").GetString());
        Assert.Equal(movedKey, last.GetProperty("stored_key").GetString());
        Assert.Contains(foreignSha, last.GetProperty("occupant").GetString());
        Assert.Contains(agent.Output.Split('\n'), l => l.Contains("Key collision", StringComparison.Ordinal) && l.Contains(beforeKey, StringComparison.Ordinal));
        Assert.Equal(1, Metric(await agent.Http.GetStringAsync("/metrics"), "piorchestrator_uploads_total", "result=\"collision\""));
    }
}
