using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using PiOrchestrator.Doors;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Api;

/// <summary>Sessions people open (an inspection) and end (a door stuck open), with the API key and stored Idempotency-Keys.</summary>
public class SessionWritesApiTests
{
    private const string Key = "site-key-7c1";

    private static AgentApplication App(FakeCamera camera, string? dataDirectory = null)
    {
        var settings = new Dictionary<string, string?> { ["Api:Key"] = Key };
        if (dataDirectory is not null) settings["Storage:DataDirectory"] = dataDirectory;
        return new AgentApplication(camera.Url, settings);
    }

    private static async Task<HttpResponseMessage> PostAsync(HttpClient http, string path, string? json, string? idempotencyKey = null, bool withKey = true)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path);
        if (withKey) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Key);
        if (idempotencyKey is not null) request.Headers.Add("Idempotency-Key", idempotencyKey);
        if (json is not null) request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        return await http.SendAsync(request);
    }

    private static Task<HttpResponseMessage> OpenAsync(HttpClient http, object body, string? idempotencyKey = null, string container = "ctr-001") =>
        PostAsync(http, $"/api/v1/containers/{container}/sessions", JsonSerializer.Serialize(body), idempotencyKey);

    private static async Task<JsonElement> Data(HttpResponseMessage response, HttpStatusCode expected)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(expected == response.StatusCode, $"{(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.GetProperty("data");
    }

    private static async Task<(string Code, string? Field)> Error(HttpResponseMessage response, HttpStatusCode expected)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(expected == response.StatusCode, $"{(int)response.StatusCode} {body}");
        var error = JsonDocument.Parse(body).RootElement.GetProperty("error");
        return (error.GetProperty("code").GetString()!, error.TryGetProperty("field", out var f) ? f.GetString() : null);
    }

    private static async Task<JsonElement> Pair(HttpClient http, string sessionId) =>
        await Data(await http.GetAsync($"/api/v1/sessions/{sessionId}/evidence/pair"), HttpStatusCode.OK);

    [Fact]
    public async Task An_inspection_opens_with_notes_and_a_name_takes_BEFORE_OPEN_and_its_key_answers_a_repeat_with_200()
    {
        await using var camera = await FakeCamera.StartAsync();
        await using var app = App(camera);
        using var http = app.CreateClient();
        var body = new { notes = "Vehicle damage — claim CL-2026-0042", opened_by = "ops@yourco.com" };

        using (var anonymous = await PostAsync(http, "/api/v1/containers/ctr-001/sessions", JsonSerializer.Serialize(body), withKey: false))
            Assert.Equal("unauthorized", (await Error(anonymous, HttpStatusCode.Unauthorized)).Code);

        using var first = await OpenAsync(http, body, "insp-1");
        var session = await Data(first, HttpStatusCode.Created);
        var id = session.GetProperty("id").GetString()!;
        Assert.Equal($"/api/v1/sessions/{id}", first.Headers.Location!.ToString());
        Assert.Equal("in_progress", session.GetProperty("status").GetString());
        Assert.Equal("Vehicle damage — claim CL-2026-0042", session.GetProperty("notes").GetString());
        Assert.Equal("ops@yourco.com", session.GetProperty("opened_by").GetString());
        Assert.Equal(JsonValueKind.Null, session.GetProperty("ended_by").ValueKind);
        Assert.EndsWith("Z", session.GetProperty("created_at").GetString());
        Assert.EndsWith("Z", session.GetProperty("updated_at").GetString());
        await Eventually.UntilAsync(async () => (await Pair(http, id)).GetProperty("before").GetProperty("status").GetString() == "captured",
            TimeSpan.FromSeconds(20), "BEFORE_OPEN of the inspection");

        using (var again = await OpenAsync(http, body, "insp-1"))
            Assert.Equal(id, (await Data(again, HttpStatusCode.OK)).GetProperty("id").GetString());
        using (var otherBody = await OpenAsync(http, new { notes = "another", opened_by = "ops@yourco.com" }, "insp-1"))
            Assert.Equal(("idempotency_key_reused", "Idempotency-Key"), await Error(otherBody, HttpStatusCode.UnprocessableEntity));
        using (var busy = await OpenAsync(http, body, "insp-2"))
            Assert.Equal("session_in_progress", (await Error(busy, HttpStatusCode.Conflict)).Code);
        Assert.Equal(1, camera.CaptureRequests);
        Assert.Single(app.Store.ListSessions("ctr-001", null, false, null, 100).Sessions);
        // One audit row for the one change; the repeat and the refusals changed nothing.
        var audit = Assert.Single(app.Store.ListAudit());
        Assert.Equal(("admin", "session.open", "ctr-001", id, "ops@yourco.com"), (audit.Actor, audit.Action, audit.ContainerId, audit.SessionId, audit.Detail));
    }

    [Fact]
    public async Task An_inspection_follows_the_door_whose_close_ends_it_with_AFTER_CLOSE()
    {
        await using var camera = await FakeCamera.StartAsync();
        await using var app = App(camera);
        using var http = app.CreateClient();
        var id = (await Data(await OpenAsync(http, new { opened_by = "Alex Garcia", session_id = "audit-2026-17" }), HttpStatusCode.Created)).GetProperty("id").GetString();
        Assert.Equal("audit-2026-17", id);

        app.Post("ctr-001", DoorEventKind.Opened);
        app.Post("ctr-001", DoorEventKind.Closed);
        var done = await Eventually.UntilAsync(async () =>
        {
            var s = await Data(await http.GetAsync($"/api/v1/sessions/{id}"), HttpStatusCode.OK);
            return s.GetProperty("status").GetString() == "complete" ? (JsonElement?)s : null;
        }, TimeSpan.FromSeconds(20), "the door's close to complete the inspection");
        Assert.Equal("complete", done.Value.GetProperty("pair_status").GetString());
        Assert.Equal(JsonValueKind.Null, done.Value.GetProperty("ended_by").ValueKind);
        Assert.Equal(2, camera.CaptureRequests);
        // The door's opened was inside the inspection: no second session.
        Assert.Single(app.Store.ListSessions("ctr-001", null, false, null, 100).Sessions);

        using var taken = await OpenAsync(http, new { opened_by = "Alex Garcia", session_id = "audit-2026-17" });
        Assert.Equal("session_exists", (await Error(taken, HttpStatusCode.Conflict)).Code);
    }

    [Fact]
    public async Task A_door_session_stuck_open_ends_with_a_reason_AFTER_CLOSE_and_its_chain_head_and_a_second_end_changes_nothing()
    {
        await using var camera = await FakeCamera.StartAsync();
        await using var app = App(camera);
        using var http = app.CreateClient();
        app.Post("ctr-001", DoorEventKind.Opened, "sess-stuck-1");
        await Eventually.UntilAsync(() => Task.FromResult(app.Store.GetSession("sess-stuck-1")?.HasBefore == true), TimeSpan.FromSeconds(20), "BEFORE_OPEN");

        using (var anonymous = await PostAsync(http, "/api/v1/sessions/sess-stuck-1/end", null, withKey: false))
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        var ended = await Data(await PostAsync(http, "/api/v1/sessions/sess-stuck-1/end", """{"reason":"door sensor stuck open"}"""), HttpStatusCode.OK);
        Assert.Equal("complete", ended.GetProperty("status").GetString());
        Assert.Equal("complete", ended.GetProperty("pair_status").GetString());
        Assert.Matches("^[0-9a-f]{64}$", ended.GetProperty("chain_head").GetString());
        Assert.Equal("admin", ended.GetProperty("ended_by").GetString());
        Assert.Equal("door sensor stuck open", ended.GetProperty("end_reason").GetString());
        // A door's session has no notes nor opener, and says so with nulls (the fields are always sent).
        Assert.Equal(JsonValueKind.Null, ended.GetProperty("notes").ValueKind);
        Assert.Equal(JsonValueKind.Null, ended.GetProperty("opened_by").ValueKind);
        Assert.Equal(2, camera.CaptureRequests);

        var again = await Data(await PostAsync(http, "/api/v1/sessions/sess-stuck-1/end", """{"reason":"another reason","after_close":false}"""), HttpStatusCode.OK);
        Assert.Equal(ended.GetRawText(), again.GetRawText());
        Assert.Equal(2, camera.CaptureRequests);
        var end = Assert.Single(app.Store.ListAudit("sess-stuck-1"));
        Assert.Equal(("admin", "session.end", "door sensor stuck open"), (end.Actor, end.Action, end.Detail));
        Assert.Equal("not_found", (await Error(await PostAsync(http, "/api/v1/sessions/sess-none/end", null), HttpStatusCode.NotFound)).Code);

        // The door's late close is a new cycle of its own, not this session again.
        app.Post("ctr-001", DoorEventKind.Closed);
        await Eventually.UntilAsync(() => Task.FromResult(app.Store.ListSessions("ctr-001", null, false, null, 100).Sessions.Count == 2),
            TimeSpan.FromSeconds(20), "the late close's own session");
        Assert.Equal("admin", app.Store.GetSession("sess-stuck-1")!.EndedBy);
    }

    [Fact]
    public async Task An_end_without_AFTER_CLOSE_says_so_on_the_pair_and_a_test_capture_pair_says_it_had_no_door()
    {
        await using var camera = await FakeCamera.StartAsync();
        await using var app = App(camera);
        using var http = app.CreateClient();
        var id = (await Data(await OpenAsync(http, new { opened_by = "José O'Brien" }), HttpStatusCode.Created)).GetProperty("id").GetString()!;
        var ended = await Data(await PostAsync(http, $"/api/v1/sessions/{id}/end", """{"after_close":false}"""), HttpStatusCode.OK);
        Assert.Equal("complete", ended.GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.Null, ended.GetProperty("end_reason").ValueKind);
        Assert.Equal("ENDED_WITHOUT_CAPTURE", ended.GetProperty("after_missing_reason").GetString());
        var pair = await Pair(http, id);
        Assert.Equal("captured", pair.GetProperty("before").GetProperty("status").GetString());
        Assert.Equal("missing", pair.GetProperty("after").GetProperty("status").GetString());
        Assert.Equal("ENDED_WITHOUT_CAPTURE", pair.GetProperty("after").GetProperty("missing_reason").GetString());
        Assert.Equal(1, camera.CaptureRequests);

        var capture = await Data(await PostAsync(http, "/api/v1/containers/ctr-001/captures", null), HttpStatusCode.Created);
        Assert.Equal("capture", Assert.Single(app.Store.ListAudit(capture.GetProperty("session_id").GetString())).Action);
        Assert.Equal(["session.open", "session.end"], app.Store.ListAudit(id).Select(a => a.Action));
        var manual = await Pair(http, capture.GetProperty("session_id").GetString()!);
        foreach (var side in new[] { "before", "after" })
        {
            Assert.Equal("missing", manual.GetProperty(side).GetProperty("status").GetString());
            Assert.Equal("NO_DOOR_CYCLE", manual.GetProperty(side).GetProperty("missing_reason").GetString());
        }
    }

    [Fact]
    public async Task Idempotency_keys_of_inspections_and_test_captures_survive_a_restart()
    {
        using var data = new TempDirectory();
        await using var camera = await FakeCamera.StartAsync();
        var body = new { notes = "claim CL-7", opened_by = "ops@yourco.com" };
        string sessionId, evidenceId;
        await using (var first = App(camera, data.Path))
        {
            using var http = first.CreateClient();
            sessionId = (await Data(await OpenAsync(http, body, "insp-restart"), HttpStatusCode.Created)).GetProperty("id").GetString()!;
            // Both containers share the one test camera: the test capture waits until the inspection's photo is stored.
            await Eventually.UntilAsync(async () => (await Pair(http, sessionId)).GetProperty("before").GetProperty("status").GetString() == "captured",
                TimeSpan.FromSeconds(20), "BEFORE_OPEN of the inspection");
            evidenceId = (await Data(await PostAsync(http, "/api/v1/containers/ctr-002/captures", null, "cap-restart"), HttpStatusCode.Created))
                .GetProperty("evidence_id").GetString()!;
            await Eventually.UntilAsync(() => Task.FromResult(camera.CaptureRequests == 2), TimeSpan.FromSeconds(20), "both photos");
        }
        await using var second = App(camera, data.Path);
        using var again = second.CreateClient();
        Assert.Equal(sessionId, (await Data(await OpenAsync(again, body, "insp-restart"), HttpStatusCode.OK)).GetProperty("id").GetString());
        Assert.Equal(evidenceId, (await Data(await PostAsync(again, "/api/v1/containers/ctr-002/captures", null, "cap-restart"), HttpStatusCode.OK))
            .GetProperty("evidence_id").GetString());
        Assert.Equal(("idempotency_key_reused", "Idempotency-Key"),
            await Error(await OpenAsync(again, new { notes = "claim CL-8", opened_by = "ops@yourco.com" }, "insp-restart"), HttpStatusCode.UnprocessableEntity));
        Assert.Equal(2, camera.CaptureRequests);
        Assert.Single(second.Store.ListSessions("ctr-001", null, false, null, 100).Sessions);
    }

    [Theory]
    [InlineData("""{"opened_by":""}""", "opened_by")]
    [InlineData("""{"notes":"no name"}""", "opened_by")]
    [InlineData("""{"opened_by":"a<script>"}""", "opened_by")]
    [InlineData("""{"opened_by":"two  spaces"}""", "opened_by")]
    [InlineData("""{"opened_by":"ops@yourco.com","notes":"bell\u0007"}""", "notes")]
    [InlineData("""{"opened_by":"ops@yourco.com","notes":"half \ud800"}""", "request")]
    [InlineData("""{"opened_by":"ops@yourco.com","session_id":"../x"}""", "session_id")]
    [InlineData("""{"opened_by":"ops@yourco.com","session_id":".hidden"}""", "session_id")]
    [InlineData("""{"opened_by":"ops@yourco.com","scheduled_for":"2026-05-23T10:00:00Z"}""", "request")]
    [InlineData("""not json""", "request")]
    public async Task Bad_input_to_open_is_a_400_naming_the_field(string json, string field)
    {
        await using var camera = await FakeCamera.StartAsync();
        await using var app = App(camera);
        using var http = app.CreateClient();
        var (code, named) = await Error(await PostAsync(http, "/api/v1/containers/ctr-001/sessions", json), HttpStatusCode.BadRequest);
        Assert.Equal("invalid_request", code);
        Assert.Equal(field, named);
        Assert.Equal(0, camera.CaptureRequests);
    }

    [Fact]
    public async Task Lengths_keys_and_containers_are_checked()
    {
        await using var camera = await FakeCamera.StartAsync();
        await using var app = App(camera);
        using var http = app.CreateClient();
        Assert.Equal("notes", (await Error(await OpenAsync(http, new { opened_by = "a", notes = new string('n', 1001) }), HttpStatusCode.BadRequest)).Field);
        Assert.Equal("opened_by", (await Error(await OpenAsync(http, new { opened_by = new string('a', 255) }), HttpStatusCode.BadRequest)).Field);
        Assert.Equal("Idempotency-Key", (await Error(await OpenAsync(http, new { opened_by = "a" }, "bad key!"), HttpStatusCode.BadRequest)).Field);
        Assert.Equal("Idempotency-Key", (await Error(await OpenAsync(http, new { opened_by = "a" }, new string('k', 513)), HttpStatusCode.BadRequest)).Field);
        Assert.Equal("not_found", (await Error(await OpenAsync(http, new { opened_by = "a" }, container: "ctr-999"), HttpStatusCode.NotFound)).Code);
        Assert.Equal("container_id", (await Error(await OpenAsync(http, new { opened_by = "a" }, container: "ctr.001."), HttpStatusCode.BadRequest)).Field);
        Assert.Equal("reason", (await Error(await PostAsync(http, "/api/v1/sessions/sess-x/end", JsonSerializer.Serialize(new { reason = new string('r', 501) })),
            HttpStatusCode.BadRequest)).Field);
        Assert.Equal("session_id", (await Error(await PostAsync(http, "/api/v1/sessions/bad%20id/end", null), HttpStatusCode.BadRequest)).Field);
        Assert.Equal(0, camera.CaptureRequests);
    }
}
