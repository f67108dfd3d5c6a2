using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using PiOrchestrator.Doors;
using PiOrchestrator.Http;
using PiOrchestrator.Sessions;
using PiOrchestrator.Store;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Api;

/// <summary>
/// /openapi/v1.json as a dashboard developer uses it: lint-clean, and every answer of every endpoint (successes and
/// errors) fits the schema the document declares for that operation and status. The client of AgentApplication checks
/// each answer it receives (OpenApiContractHandler); these tests make sure each endpoint's answers are received.
/// </summary>
public class OpenApiContractTests : IAsyncLifetime
{
    private const string Key = "contract-key-1";
    private FakeCamera _camera = null!;
    private AgentApplication _app = null!;
    private HttpClient _http = null!;
    private OpenApiContract _contract = null!;

    public async Task InitializeAsync()
    {
        _camera = await FakeCamera.StartAsync();
        _app = new AgentApplication(_camera.Url, new Dictionary<string, string?> { ["Api:Key"] = Key });
        _http = _app.CreateClient();
        using var raw = _app.Server.CreateClient();
        _contract = new OpenApiContract(await raw.GetStringAsync("/openapi/v1.json"));
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _app.DisposeAsync();
        await _camera.DisposeAsync();
    }

    private async Task<HttpResponseMessage> Get(string path, HttpStatusCode expected, string? ifNoneMatch = null, string? bearer = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (bearer is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        if (ifNoneMatch is not null) request.Headers.TryAddWithoutValidation("If-None-Match", ifNoneMatch);
        var response = await _http.SendAsync(request); // checked against the document by the client
        Assert.True(expected == response.StatusCode, $"GET {path}: {(int)response.StatusCode}, expected {(int)expected}: {await response.Content.ReadAsStringAsync()}");
        return response;
    }

    [Fact]
    public async Task Every_endpoint_answers_as_the_document_declares()
    {
        var sessionId = await _app.DoorCycleAsync();
        var evidence = _app.Store.GetEvidenceForSession(sessionId).First(e => e.IsCaptured);

        var list = await Get("/api/v1/sessions", HttpStatusCode.OK);
        await Get("/api/v1/sessions?limit=1&container_id=ctr-001&status=complete", HttpStatusCode.OK);
        await Get("/api/v1/sessions", HttpStatusCode.NotModified, list.Headers.ETag!.Tag);
        await Get("/api/v1/sessions?limit=0", HttpStatusCode.BadRequest);
        await Get("/api/v1/sessions?cursor=nope", HttpStatusCode.BadRequest);

        await Get($"/api/v1/sessions/{sessionId}", HttpStatusCode.OK);
        await Get("/api/v1/sessions/no-such-session", HttpStatusCode.NotFound);
        await Get("/api/v1/sessions/bad%20id", HttpStatusCode.BadRequest);

        var captures = await Get($"/api/v1/sessions/{sessionId}/evidence", HttpStatusCode.OK);
        await Get($"/api/v1/sessions/{sessionId}/evidence", HttpStatusCode.OK); // the cached bytes
        await Get($"/api/v1/sessions/{sessionId}/evidence?include_image=false", HttpStatusCode.OK);
        await Get($"/api/v1/sessions/{sessionId}/evidence", HttpStatusCode.NotModified, captures.Headers.ETag!.Tag);
        await Get($"/api/v1/sessions/{sessionId}/evidence?include_image=maybe", HttpStatusCode.BadRequest);
        await Get("/api/v1/sessions/no-such-session/evidence", HttpStatusCode.NotFound);

        await Get($"/api/v1/sessions/{sessionId}/evidence/pair", HttpStatusCode.OK);
        await Get($"/api/v1/sessions/{sessionId}/evidence/pair?include_image=false", HttpStatusCode.OK);
        await Get("/api/v1/sessions/no-such-session/evidence/pair", HttpStatusCode.NotFound);

        await Get($"/api/v1/sessions/{sessionId}/verify", HttpStatusCode.OK);
        await Get("/api/v1/sessions/no-such-session/verify", HttpStatusCode.NotFound);

        var image = await Get($"/api/v1/evidence/image?key={Uri.EscapeDataString(evidence.ObjectKey!)}", HttpStatusCode.OK);
        await Get($"/api/v1/evidence/image?key={Uri.EscapeDataString(evidence.ObjectKey!)}&size=thumb", HttpStatusCode.OK);
        await Get($"/api/v1/evidence/image?key={Uri.EscapeDataString(evidence.ObjectKey!)}", HttpStatusCode.NotModified, image.Headers.ETag!.Tag);
        await Get($"/api/v1/evidence/image?key={Uri.EscapeDataString(evidence.ObjectKey!)}&size=huge", HttpStatusCode.BadRequest);
        await Get("/api/v1/evidence/image?key=evidence/none.jpg", HttpStatusCode.NotFound);

        await Get($"/api/v1/evidence/{evidence.EvidenceId}", HttpStatusCode.OK);
        await Get("/api/v1/evidence/not-a-uuid", HttpStatusCode.BadRequest);
        await Get($"/api/v1/evidence/{Guid.CreateVersion7()}", HttpStatusCode.NotFound);
        await Get($"/api/v1/evidence/{evidence.EvidenceId}/download", HttpStatusCode.ServiceUnavailable); // no S3 here
        await Get($"/api/v1/evidence/{Guid.CreateVersion7()}/download", HttpStatusCode.NotFound);

        await Get("/api/v1/status", HttpStatusCode.OK);
        await Get("/healthz", HttpStatusCode.OK);
        await Get("/readyz", HttpStatusCode.OK);
        await Get("/api/v1/no-such-endpoint", HttpStatusCode.NotFound);

        async Task<HttpResponseMessage> Capture(string container, string? key, string? idempotencyKey, HttpStatusCode expected)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/v1/containers/{container}/captures");
            if (key is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
            if (idempotencyKey is not null) request.Headers.Add("Idempotency-Key", idempotencyKey);
            var response = await _http.SendAsync(request);
            Assert.True(expected == response.StatusCode, $"POST captures: {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
            return response;
        }
        await Capture("ctr-001", null, null, HttpStatusCode.Unauthorized);
        await Capture("ctr-001", Key, "press-1", HttpStatusCode.Created);
        await Capture("ctr-001", Key, "press-1", HttpStatusCode.OK);
        await Capture("ctr-009", Key, null, HttpStatusCode.NotFound);
        await Capture("ctr-001", Key, "bad key!", HttpStatusCode.BadRequest);

        await Get("/api/v1/audit", HttpStatusCode.Unauthorized);
        await Get("/api/v1/audit?limit=1&container_id=ctr-001&action=capture", HttpStatusCode.OK, bearer: Key);
        await Get("/api/v1/audit?action=delete", HttpStatusCode.BadRequest, bearer: Key);
    }

    [Fact]
    public async Task An_incomplete_pair_says_why_each_side_is_missing()
    {
        _app.Post("ctr-002", DoorEventKind.Opened);
        var session = await Eventually.UntilAsync(() => Task.FromResult(_app.Store.ListSessions("ctr-002", null, true, null, 10).Sessions.FirstOrDefault()),
            TimeSpan.FromSeconds(10), "a session in progress");
        using var pair = await Get($"/api/v1/sessions/{session.SessionId}/evidence/pair", HttpStatusCode.OK);
        var data = JsonNode.Parse(await pair.Content.ReadAsStringAsync())!["data"]!;
        Assert.Equal("incomplete", (string?)data["pair_status"]);
        Assert.Equal(MissingReason.SessionInProgress, (string?)data["after"]!["missing_reason"]);
        await Get($"/api/v1/sessions/{session.SessionId}", HttpStatusCode.OK);
        await Get("/api/v1/sessions?status=in_progress", HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_field_renamed_added_or_mistyped_fails_the_contract()
    {
        var sessionId = await _app.DoorCycleAsync();
        foreach (var path in new[] { $"/api/v1/sessions/{sessionId}/evidence/pair", $"/api/v1/sessions/{sessionId}/evidence", $"/api/v1/sessions/{sessionId}" })
        {
            using var response = await Get(path, HttpStatusCode.OK);
            var body = await response.Content.ReadAsStringAsync();
            Assert.Empty(_contract.Check("GET", path, 200, "application/json", body));
            var renamed = body.Replace("\"container_id\"", "\"containerId\"");
            Assert.NotEqual(body, renamed);
            Assert.NotEmpty(_contract.Check("GET", path, 200, "application/json", renamed));
            Assert.NotEmpty(_contract.Check("GET", path, 200, "application/json", body.Replace("\"container_id\":", "\"extra\":1,\"container_id\":")));
            Assert.NotEmpty(_contract.Check("GET", path, 200, "application/json", body.Replace("\"success\":true", "\"success\":\"true\"")));
            Assert.NotEmpty(_contract.Check("GET", path, 404, "application/json", body));
        }
        using var error = await Get("/api/v1/sessions/none", HttpStatusCode.NotFound);
        var errorBody = await error.Content.ReadAsStringAsync();
        Assert.NotEmpty(_contract.Check("GET", "/api/v1/sessions/none", 404, "application/json", errorBody.Replace("\"not_found\"", "\"no_such_thing\"")));
        Assert.NotEmpty(_contract.Check("GET", "/api/v1/sessions/none", 418, "application/json", errorBody));
    }

    [Fact]
    public void The_enums_hold_every_value_the_code_sends()
    {
        var schemas = _contract.Document["components"]!["schemas"]!;
        string[] Enum(string schema, string property) => schemas[schema]!["properties"]![property]!["enum"]!.AsArray().Select(v => (string)v!).ToArray();

        foreach (var tag in Enum<CaptureTag>()) Assert.Contains(EvidenceNames.Of(tag), Enum("CaptureDto", "capture_tag"));
        foreach (var status in Enum<CaptureStatus>()) Assert.Contains(EvidenceNames.Of(status), Enum("CaptureDto", "status"));
        foreach (var upload in Enum<UploadStatus>().Where(u => u != UploadStatus.None)) Assert.Contains(EvidenceNames.Of(upload), Enum("CaptureDto", "upload_status"));
        foreach (var state in Enum<PiOrchestrator.Mqtt.MqttState>()) Assert.Contains(state.ToString().ToLowerInvariant(), Enum("MqttStatusDto", "state"));
        foreach (var door in Enum<DoorState>()) Assert.Contains(door.ToString().ToLowerInvariant(), Enum("ContainerStatusDto", "door"));
        var reasons = typeof(MissingReason).GetFields().Select(f => (string)f.GetRawConstantValue()!).ToArray();
        Assert.Equal(reasons.Order(), Enum("CaptureDto", "missing_reason").Order());
        Assert.Equal(reasons.Order(), Enum("SessionDto", "before_missing_reason").Order());
        Assert.Equal(reasons.Order(), Enum("SessionDto", "after_missing_reason").Order());
        Assert.Equal(AuditActions.All.Order(), Enum("AuditEventDto", "action").Order());
        var codes = Enumerable.Range(400, 200).Select(s => ApiErrors.ForStatus(s).Error.Code)
            .Concat([ApiErrors.EvidenceNotReady("").Error.Code, ApiErrors.RetentionExpired("").Error.Code, ApiErrors.IntegrityMismatch("").Error.Code,
                ApiErrors.RateLimited(TimeSpan.Zero).Error.Code, ApiErrors.SessionInProgress("").Error.Code, ApiErrors.SessionExists("").Error.Code,
                ApiErrors.IdempotencyKeyReused("").Error.Code])
            .Distinct();
        foreach (var code in codes) Assert.Contains(code, Enum("ApiError", "code"));
    }

    private static T[] Enum<T>() where T : struct, System.Enum => System.Enum.GetValues<T>();

    [Fact]
    public void Every_operation_has_a_summary_description_tag_security_and_its_errors()
    {
        var operations = _contract.Document["paths"]!.AsObject().SelectMany(p => p.Value!.AsObject().Select(o => (Name: $"{o.Key} {p.Key}", Operation: o.Value!))).ToList();
        Assert.True(operations.Count >= 12, $"{operations.Count} operations");
        foreach (var (name, operation) in operations)
        {
            Assert.False(string.IsNullOrWhiteSpace((string?)operation["summary"]), $"{name} has no summary");
            Assert.False(string.IsNullOrWhiteSpace((string?)operation["description"]), $"{name} has no description");
            Assert.NotEmpty(operation["tags"]!.AsArray());
            var security = operation["security"]!.AsArray();
            // Every change needs a credential but the join, whose token and code are the credential; the admin's reads too.
            var needsBearer = (name.StartsWith("post", StringComparison.Ordinal) && name != "post /api/v1/join/{token}")
                              || name.StartsWith("delete", StringComparison.Ordinal) || name is "get /api/v1/audit" or "get /api/v1/invites";
            if (needsBearer) Assert.True(security.Count == 1 && security[0]![OpenApiDocument.BearerScheme] is not null, $"{name} needs the bearer scheme");
            else Assert.True(security.Count == 0, $"{name} needs no credential");
            var responses = operation["responses"]!.AsObject();
            Assert.Contains(responses, r => r.Key.StartsWith('2'));
            foreach (var common in new[] { "400", "429", "500" }) Assert.True(responses.ContainsKey(common), $"{name} lacks {common}");
        }
        Assert.Equal("/", (string?)_contract.Document["servers"]!.AsArray().Single()!["url"]);
    }

    [Fact]
    public async Task Redocly_lint_with_the_recommended_rules_reports_no_errors()
    {
        var cli = Path.Combine(RepoPaths.TestTools, "node_modules", "@redocly", "cli", "bin", "cli.js");
        Assert.True(File.Exists(cli), $"{cli} is missing: run npm install in test-tools (scripts/test.sh does)");
        var file = Path.Combine(Path.GetTempPath(), $"piorchestrator-openapi-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(file, _contract.Document.ToJsonString());
        try
        {
            var start = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = RepoPaths.Root };
            foreach (var a in new[] { cli, "lint", "--extends=recommended", file }) start.ArgumentList.Add(a);
            start.Environment["REDOCLY_TELEMETRY"] = "off";
            start.Environment["REDOCLY_SUPPRESS_UPDATE_NOTICE"] = "true";
            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEndAsync();
            var errors = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.True(process.ExitCode == 0, $"redocly lint failed ({process.ExitCode}):\n{await output}\n{await errors}");
            Assert.Contains("validated in", (await output) + (await errors), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
