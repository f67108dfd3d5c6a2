using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.EndToEnd;

/// <summary>Sessions people end and open, in the agent as a process (native in the native run), with its real store, broker and TSA.</summary>
[Trait("Agent", "Process")]
public class SessionWritesProcessTests
{
    private const string Key = "site-key-e2e-41";

    private static async Task<HttpResponseMessage> PostAsync(AgentProcess agent, string path, string? json, string? idempotencyKey = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Key);
        if (idempotencyKey is not null) request.Headers.Add("Idempotency-Key", idempotencyKey);
        if (json is not null) request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        return await agent.Http.SendAsync(request);
    }

    private static async Task<JsonElement> Data(HttpResponseMessage response, HttpStatusCode expected)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(expected == response.StatusCode, $"{(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.GetProperty("data");
    }

    private static async Task<int> CapturesOf(AgentProcess agent, string sessionId) =>
        (await agent.GetDataAsync($"/api/v1/sessions/{sessionId}/evidence?include_image=false")).GetProperty("summary").GetProperty("total_captures").GetInt32();

    private static List<string> AuditOf(string data, string sessionId)
    {
        using var db = new SqliteConnection($"Data Source={Path.Combine(data, "evidence.db")};Mode=ReadOnly;Pooling=False");
        db.Open();
        using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT actor || '|' || address || '|' || action || '|' || detail FROM audit WHERE session_id = $id ORDER BY id";
        cmd.Parameters.AddWithValue("$id", sessionId);
        using var r = cmd.ExecuteReader();
        var rows = new List<string>();
        while (r.Read()) rows.Add(r.GetString(0));
        return rows;
    }

    private static int StampRows(string data, string sessionId)
    {
        using var db = new SqliteConnection($"Data Source={Path.Combine(data, "evidence.db")};Mode=ReadOnly;Pooling=False");
        db.Open();
        using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT COUNT(*) FROM session_timestamps WHERE session_id = $id";
        cmd.Parameters.AddWithValue("$id", sessionId);
        return Convert.ToInt32(cmd.ExecuteScalar());
    }

    [Fact]
    public async Task A_door_session_stuck_open_ends_with_a_reason_and_its_chain_head_is_time_stamped_once()
    {
        using var data = new TempDirectory();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        await using var tsa = await TestTsa.StartAsync();
        var environment = AgentProcess.OneContainerEnvironment(data.Path, broker, camera, clientIdPrefix: "piorch-end");
        environment["PIORCH_Api__Key"] = Key;
        environment["PIORCH_Capture__AfterCloseDelayMs"] = "50";
        environment["PIORCH_Tsa__Url"] = tsa.Url;
        environment["PIORCH_Tsa__CaFile"] = tsa.CaFile;
        await using var agent = AgentProcess.Start(environment);
        await agent.WaitReadyAsync();
        await agent.WaitForOutputAsync("MQTT connected");

        // The door opens and its sensor never reports the close.
        await broker.PublishAsync("containers/ctr-001/door", """{"event":"opened","session_id":"sess-stuck-e2e"}""");
        await Eventually.UntilAsync(async () =>
        {
            using var response = await agent.Http.GetAsync("/api/v1/sessions/sess-stuck-e2e/evidence/pair");
            if (response.StatusCode != HttpStatusCode.OK) return false;
            return (await Data(response, HttpStatusCode.OK)).GetProperty("before").GetProperty("status").GetString() == "captured";
        }, TimeSpan.FromSeconds(30), "BEFORE_OPEN of the door's session");
        var open = await agent.GetDataAsync("/api/v1/sessions/sess-stuck-e2e");
        Assert.Equal("in_progress", open.GetProperty("status").GetString());
        Assert.Equal(0, StampRows(data.Path, "sess-stuck-e2e"));

        var ended = await Data(await PostAsync(agent, "/api/v1/sessions/sess-stuck-e2e/end", """{"reason":"door sensor stuck open; door seen shut"}"""), HttpStatusCode.OK);
        Assert.Equal("complete", ended.GetProperty("status").GetString());
        Assert.Equal("complete", ended.GetProperty("pair_status").GetString());
        Assert.Equal("admin", ended.GetProperty("ended_by").GetString());
        Assert.Equal("door sensor stuck open; door seen shut", ended.GetProperty("end_reason").GetString());
        var head = ended.GetProperty("chain_head").GetString();
        Assert.Matches("^[0-9a-f]{64}$", head);
        var stamp = await Eventually.UntilAsync(async () =>
        {
            var t = (await agent.GetDataAsync("/api/v1/sessions/sess-stuck-e2e")).GetProperty("timestamp");
            return t.GetProperty("status").GetString() == "ok" ? (JsonElement?)t : null;
        }, TimeSpan.FromSeconds(30), "the ended session's chain head to be time-stamped");
        Assert.EndsWith("Z", stamp.Value.GetProperty("gen_time").GetString());
        Assert.Equal("ok", (await agent.GetDataAsync("/api/v1/sessions/sess-stuck-e2e/verify")).GetProperty("timestamp").GetString());
        var stampsAsked = tsa.Answered;

        // Ending it again returns it as it is: no second AFTER_CLOSE, chain head or time stamp.
        var again = await Data(await PostAsync(agent, "/api/v1/sessions/sess-stuck-e2e/end", """{"reason":"again"}"""), HttpStatusCode.OK);
        Assert.Equal(head, again.GetProperty("chain_head").GetString());
        Assert.Equal("door sensor stuck open; door seen shut", again.GetProperty("end_reason").GetString());
        Assert.Equal(ended.GetProperty("completed_at").GetString(), again.GetProperty("completed_at").GetString());
        Assert.Equal(2, await CapturesOf(agent, "sess-stuck-e2e"));
        Assert.Equal(1, StampRows(data.Path, "sess-stuck-e2e"));
        Assert.Equal(stampsAsked, tsa.Answered);
        // Who ended it, from where and why, once.
        Assert.Equal(["admin|127.0.0.1|session.end|door sensor stuck open; door seen shut"], AuditOf(data.Path, "sess-stuck-e2e"));
        // The admin reads the same row through the API, and the agent counted it once.
        using var read = new HttpRequestMessage(HttpMethod.Get, "/api/v1/audit?session_id=sess-stuck-e2e");
        read.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Key);
        var audit = Assert.Single((await Data(await agent.Http.SendAsync(read), HttpStatusCode.OK)).GetProperty("events").EnumerateArray());
        Assert.Equal(("admin", "127.0.0.1", "session.end", "door sensor stuck open; door seen shut"), (audit.GetProperty("actor").GetString(),
            audit.GetProperty("address").GetString(), audit.GetProperty("action").GetString(), audit.GetProperty("detail").GetString()));
        Assert.Matches("""(?m)^piorchestrator_audit_events_total\{[^}]*action="session\.end"[^}]*\} 1\b""", await agent.Http.GetStringAsync("/metrics"));
        Assert.Equal(HttpStatusCode.Unauthorized, (await agent.Http.GetAsync("/api/v1/audit")).StatusCode);
    }

    [Fact]
    public async Task An_inspection_opened_with_an_Idempotency_Key_survives_a_restart_without_a_duplicate()
    {
        using var data = new TempDirectory();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        var environment = AgentProcess.OneContainerEnvironment(data.Path, broker, camera, clientIdPrefix: "piorch-insp");
        environment["PIORCH_Api__Key"] = Key;
        var port = TestPorts.Free();
        const string body = """{"notes":"Container damage — claim CL-2026-0042","opened_by":"ops@yourco.com"}""";
        string sessionId;
        await using (var first = AgentProcess.Start(environment, port))
        {
            await first.WaitReadyAsync();
            var created = await Data(await PostAsync(first, "/api/v1/containers/ctr-001/sessions", body, "claim-CL-2026-0042"), HttpStatusCode.Created);
            sessionId = created.GetProperty("id").GetString()!;
            Assert.Equal("ops@yourco.com", created.GetProperty("opened_by").GetString());
            await Eventually.UntilAsync(async () => (await first.GetDataAsync($"/api/v1/sessions/{sessionId}/evidence/pair"))
                .GetProperty("before").GetProperty("status").GetString() == "captured", TimeSpan.FromSeconds(30), "BEFORE_OPEN of the inspection");
            // A body over the 8 KB a session request may have is refused before it is read.
            using (var large = await PostAsync(first, "/api/v1/containers/ctr-001/sessions", "{\"notes\":\"" + new string('n', 9000) + "\"}", "big"))
                Assert.Equal(HttpStatusCode.RequestEntityTooLarge, large.StatusCode);
            Assert.Equal(0, await first.StopAsync());
        }

        await using var second = AgentProcess.Start(environment, port);
        await second.WaitReadyAsync();
        var repeated = await Data(await PostAsync(second, "/api/v1/containers/ctr-001/sessions", body, "claim-CL-2026-0042"), HttpStatusCode.OK);
        Assert.Equal(sessionId, repeated.GetProperty("id").GetString());
        Assert.Equal("in_progress", repeated.GetProperty("status").GetString());
        Assert.Equal("Container damage — claim CL-2026-0042", repeated.GetProperty("notes").GetString());
        var sessions = (await second.GetDataAsync("/api/v1/sessions")).GetProperty("sessions");
        Assert.Equal([sessionId], sessions.EnumerateArray().Select(s => s.GetProperty("id").GetString()));
        Assert.Equal(1, await CapturesOf(second, sessionId));
        Assert.Equal(["admin|127.0.0.1|session.open|ops@yourco.com"], AuditOf(data.Path, sessionId));

        // The resumed inspection is still the container's, and its door's close ends it.
        await second.WaitForOutputAsync("MQTT connected");
        await broker.PublishAsync("containers/ctr-001/door", "closed");
        await Eventually.UntilAsync(async () => (await second.GetDataAsync($"/api/v1/sessions/{sessionId}")).GetProperty("status").GetString() == "complete",
            TimeSpan.FromSeconds(30), "the door's close to end the resumed inspection");
        Assert.Equal("complete", (await second.GetDataAsync($"/api/v1/sessions/{sessionId}")).GetProperty("pair_status").GetString());
    }
}
