using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using PiOrchestrator.Doors;
using PiOrchestrator.Jpeg;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Api;

/// <summary>The v1 evidence endpoints as the dashboard uses them, field for field (seed 001).</summary>
public class EvidenceApiTests : AgentWithCameraTests
{
    private static readonly string[] ContractCaptureFields =
        ["evidence_id", "capture_tag", "status", "device_id", "container_id", "session_id", "created_at", "content_type", "image_size_bytes", "object_key", "upload_status"];

    [Fact]
    public async Task Evidence_list_has_the_contract_shape_and_image_data_while_held()
    {
        var sessionId = await App.DoorCycleAsync();
        using var response = await Http.GetAsync($"/api/v1/sessions/{sessionId}/evidence");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await AgentApplication.Json(response);

        Assert.True(body.GetProperty("success").GetBoolean());
        Assert.Equal("success", body.GetProperty("status").GetString());
        Assert.EndsWith("Z", body.GetProperty("timestamp").GetString());
        var data = body.GetProperty("data");
        Assert.Equal(sessionId, data.GetProperty("session_id").GetString());
        Assert.Equal("ctr-001", data.GetProperty("container_id").GetString());
        var captures = data.GetProperty("captures").EnumerateArray().ToList();
        Assert.Equal(["BEFORE_OPEN", "AFTER_CLOSE"], captures.Select(c => c.GetProperty("capture_tag").GetString()));
        foreach (var capture in captures)
        {
            foreach (var field in ContractCaptureFields) Assert.True(capture.TryGetProperty(field, out _), $"capture lacks {field}");
            Assert.Equal("captured", capture.GetProperty("status").GetString());
            Assert.Equal("espcam-a1b2c3", capture.GetProperty("device_id").GetString());
            Assert.Equal("image/jpeg", capture.GetProperty("content_type").GetString());
            Assert.Equal("pending", capture.GetProperty("upload_status").GetString());
            Assert.EndsWith("Z", capture.GetProperty("created_at").GetString());
            var image = Convert.FromBase64String(capture.GetProperty("image_data").GetString()!);
            Assert.Equal(capture.GetProperty("image_size_bytes").GetInt64(), image.Length);
            Assert.Equal(capture.GetProperty("sha256").GetString(), Convert.ToHexStringLower(SHA256.HashData(image)));
        }
        var summary = data.GetProperty("summary");
        Assert.Equal(2, summary.GetProperty("total_captures").GetInt32());
        Assert.Equal(2, summary.GetProperty("successful_captures").GetInt32());
        Assert.Equal(0, summary.GetProperty("failed_captures").GetInt32());
        Assert.True(summary.GetProperty("has_before_open").GetBoolean());
        Assert.True(summary.GetProperty("has_after_close").GetBoolean());
        Assert.True(summary.GetProperty("pair_complete").GetBoolean());
    }

    [Fact]
    public async Task Include_image_false_omits_image_data()
    {
        var sessionId = await App.DoorCycleAsync();
        var data = (await AgentApplication.Json(await Http.GetAsync($"/api/v1/sessions/{sessionId}/evidence?include_image=false"))).GetProperty("data");
        Assert.All(data.GetProperty("captures").EnumerateArray(), c => Assert.False(c.TryGetProperty("image_data", out _)));
    }

    [Fact]
    public async Task Pollers_get_304_until_the_session_changes()
    {
        var settings = new Dictionary<string, string?> { ["Capture:AfterCloseDelayMs"] = "60000" };
        await using var app = new AgentApplication(Camera.Url, settings);
        using var http = app.CreateClient();
        app.Post("ctr-001", DoorEventKind.Opened);
        var session = await Eventually.UntilAsync(() => Task.FromResult(app.Store.ListSessions("ctr-001", null, false, null, 1).Sessions.FirstOrDefault(s => s.HasBefore)),
            TimeSpan.FromSeconds(20), "BEFORE_OPEN");
        var url = $"/api/v1/sessions/{session.SessionId}/evidence?include_image=false";

        using var first = await http.GetAsync(url);
        var etag = first.Headers.ETag!;
        using var again = new HttpRequestMessage(HttpMethod.Get, url);
        again.Headers.IfNoneMatch.Add(etag);
        using var notModified = await http.SendAsync(again);
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
        Assert.Equal(etag, notModified.Headers.ETag);

        app.Post("ctr-001", DoorEventKind.Closed);
        await Eventually.UntilAsync(() => app.Store.GetSession(session.SessionId)!.Revision > session.Revision, TimeSpan.FromSeconds(10), "a change");
        using var changed = new HttpRequestMessage(HttpMethod.Get, url);
        changed.Headers.IfNoneMatch.Add(etag);
        using var fresh = await http.SendAsync(changed);
        Assert.Equal(HttpStatusCode.OK, fresh.StatusCode);
        Assert.NotEqual(etag, fresh.Headers.ETag);
    }

    [Fact]
    public async Task Two_containers_on_one_camera_never_have_their_captures_overlap()
    {
        Camera.Mode = CameraMode.Slow;
        Camera.SlowDelay = TimeSpan.FromMilliseconds(200);
        App.Post("ctr-001", DoorEventKind.Opened);
        App.Post("ctr-002", DoorEventKind.Opened);
        await Eventually.UntilAsync(() => App.Store.ListSessions(null, null, false, null, 10).Sessions.Count(s => s.HasBefore) == 2,
            TimeSpan.FromSeconds(20), "both BEFORE_OPEN captures");
        Assert.Equal(2, Camera.CaptureRequests);
        Assert.Equal(1, Camera.MaxConcurrent);
    }

    [Fact]
    public async Task Pair_of_a_complete_session_has_both_sides()
    {
        var sessionId = await App.DoorCycleAsync();
        var data = (await AgentApplication.Json(await Http.GetAsync($"/api/v1/sessions/{sessionId}/evidence/pair"))).GetProperty("data");
        Assert.Equal("v1", data.GetProperty("contract_version").GetString());
        Assert.Equal("complete", data.GetProperty("pair_status").GetString());
        Assert.Equal("BEFORE_OPEN", data.GetProperty("before").GetProperty("capture_tag").GetString());
        Assert.Equal("AFTER_CLOSE", data.GetProperty("after").GetProperty("capture_tag").GetString());
        Assert.EndsWith("Z", data.GetProperty("before").GetProperty("captured_at").GetString());
        Assert.EndsWith("Z", data.GetProperty("queried_at").GetString());
        Assert.False(data.TryGetProperty("retry_after_seconds", out _));
    }

    [Fact]
    public async Task Pair_in_progress_says_SESSION_IN_PROGRESS_and_when_to_retry()
    {
        App.Post("ctr-002", DoorEventKind.Opened);
        var session = await Eventually.UntilAsync(() => Task.FromResult(App.Store.ListSessions("ctr-002", null, false, null, 1).Sessions.FirstOrDefault(s => s.HasBefore)),
            TimeSpan.FromSeconds(20), "BEFORE_OPEN");
        var data = (await AgentApplication.Json(await Http.GetAsync($"/api/v1/sessions/{session.SessionId}/evidence/pair"))).GetProperty("data");
        Assert.Equal("incomplete", data.GetProperty("pair_status").GetString());
        Assert.Equal("captured", data.GetProperty("before").GetProperty("status").GetString());
        var after = data.GetProperty("after");
        Assert.Equal("pending", after.GetProperty("status").GetString());
        Assert.Equal("SESSION_IN_PROGRESS", after.GetProperty("missing_reason").GetString());
        Assert.True(data.GetProperty("retry_after_seconds").GetInt32() > 0);
    }

    [Fact]
    public async Task Pair_of_a_close_without_open_says_NO_OPEN_EVENT()
    {
        App.Post("ctr-002", DoorEventKind.Closed);
        var session = await Eventually.UntilAsync(() => Task.FromResult(App.Store.ListSessions("ctr-002", PiOrchestrator.Store.SessionPhase.Complete, false, null, 1).Sessions.FirstOrDefault()),
            TimeSpan.FromSeconds(20), "the session");
        var data = (await AgentApplication.Json(await Http.GetAsync($"/api/v1/sessions/{session.SessionId}/evidence/pair"))).GetProperty("data");
        Assert.Equal("incomplete", data.GetProperty("pair_status").GetString());
        Assert.Equal("NO_OPEN_EVENT", data.GetProperty("before").GetProperty("missing_reason").GetString());
        Assert.Equal("missing", data.GetProperty("before").GetProperty("status").GetString());
        Assert.Equal("captured", data.GetProperty("after").GetProperty("status").GetString());
    }

    [Fact]
    public async Task Pair_with_a_failed_capture_says_CAPTURE_FAILED_and_why()
    {
        Camera.Mode = CameraMode.Http500;
        var sessionId = await App.DoorCycleAsync("ctr-002");
        var data = (await AgentApplication.Json(await Http.GetAsync($"/api/v1/sessions/{sessionId}/evidence/pair"))).GetProperty("data");
        Assert.Equal("failed", data.GetProperty("before").GetProperty("status").GetString());
        Assert.Equal("CAPTURE_FAILED", data.GetProperty("before").GetProperty("missing_reason").GetString());
        Assert.Equal("grab_failed", data.GetProperty("before").GetProperty("failure_reason").GetString());
    }

    [Fact]
    public async Task An_offline_camera_is_CAMERA_OFFLINE_in_the_pair_and_offline_in_status()
    {
        await using var app = new AgentApplication($"http://127.0.0.1:{TestPorts.Free()}");
        using var http = app.CreateClient();
        var sessionId = await app.DoorCycleAsync();

        var pair = (await AgentApplication.Json(await http.GetAsync($"/api/v1/sessions/{sessionId}/evidence/pair"))).GetProperty("data");
        foreach (var side in new[] { "before", "after" })
        {
            Assert.Equal("failed", pair.GetProperty(side).GetProperty("status").GetString());
            Assert.Equal("CAMERA_OFFLINE", pair.GetProperty(side).GetProperty("missing_reason").GetString());
            Assert.Equal("offline", pair.GetProperty(side).GetProperty("failure_reason").GetString());
        }
        var camera = (await AgentApplication.Json(await http.GetAsync("/api/v1/status"))).GetProperty("data").GetProperty("containers")[0].GetProperty("camera");
        Assert.False(camera.GetProperty("online").GetBoolean());
        Assert.Equal("offline", camera.GetProperty("last_error").GetString());
        Assert.EndsWith("Z", camera.GetProperty("since").GetString());
    }

    [Fact]
    public async Task Image_proxy_serves_the_stored_bytes_with_the_sha256_as_etag()
    {
        var sessionId = await App.DoorCycleAsync();
        var capture = App.Store.GetEvidenceForSession(sessionId)[0];
        var url = $"/api/v1/evidence/image?key={Uri.EscapeDataString(capture.ObjectKey!)}";
        using var response = await Http.GetAsync(url);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("image/jpeg", response.Content.Headers.ContentType!.MediaType);
        var bytes = await response.Content.ReadAsByteArrayAsync();
        Assert.Equal(capture.Sha256, Convert.ToHexStringLower(SHA256.HashData(bytes)));
        Assert.Equal($"\"{capture.Sha256}\"", response.Headers.ETag!.Tag);
        Assert.Contains("private", response.Headers.CacheControl!.ToString());

        using var conditional = new HttpRequestMessage(HttpMethod.Get, url);
        conditional.Headers.IfNoneMatch.Add(response.Headers.ETag);
        Assert.Equal(HttpStatusCode.NotModified, (await Http.SendAsync(conditional)).StatusCode);
    }

    [Fact]
    public async Task Image_proxy_thumbnail_is_a_one_eighth_jpeg()
    {
        var sessionId = await App.DoorCycleAsync();
        var capture = App.Store.GetEvidenceForSession(sessionId)[0];
        var bytes = await Http.GetByteArrayAsync($"/api/v1/evidence/image?key={Uri.EscapeDataString(capture.ObjectKey!)}&size=thumb");
        var check = JpegCodec.Check(bytes, out _);
        Assert.True(check.Ok);
        Assert.Equal((40, 30), (check.Width, check.Height));
    }

    [Theory]
    [InlineData("/api/v1/evidence/image?key=evidence/ctr-001/nope/BEFORE_OPEN_20260101T000000_00000000.jpg", 404)]
    [InlineData("/api/v1/evidence/image?key=../../etc/passwd", 400)]
    [InlineData("/api/v1/evidence/image?key=%2Fetc%2Fpasswd", 400)]
    [InlineData("/api/v1/evidence/image?key=evidence%2F..%2F..%2Fevidence.db", 400)]
    [InlineData("/api/v1/evidence/image?key=evidence/x%00.jpg", 400)]
    [InlineData("/api/v1/evidence/image?key=evidence/x%0A.jpg", 400)]
    [InlineData("/api/v1/evidence/image", 400)]
    [InlineData("/api/v1/evidence/image?key=", 400)]
    [InlineData("/api/v1/evidence/image?key=evidence/a.jpg&size=huge", 400)]
    [InlineData("/api/v1/sessions/..%2F..%2Fetc/evidence", 400)]
    [InlineData("/api/v1/sessions/sess%2F1/evidence", 400)]
    [InlineData("/api/v1/sessions/sess%0A1/evidence", 400)]
    [InlineData("/api/v1/sessions/%E2%80%AEsess/evidence", 400)]
    [InlineData("/api/v1/sessions/no-such-session/evidence", 404)]
    [InlineData("/api/v1/sessions/no-such-session/evidence/pair", 404)]
    [InlineData("/api/v1/sessions/no-such-session", 404)]
    [InlineData("/api/v1/sessions/x/evidence?include_image=maybe", 400)]
    [InlineData("/api/v1/sessions?limit=0", 400)]
    [InlineData("/api/v1/sessions?limit=101", 400)]
    [InlineData("/api/v1/sessions?limit=ten", 400)]
    [InlineData("/api/v1/sessions?status=open", 400)]
    [InlineData("/api/v1/sessions?cursor=not-a-cursor!", 400)]
    [InlineData("/api/v1/sessions?cursor=MTIzOi4uLy4uL2V0Yw", 400)]
    [InlineData("/api/v1/sessions?container_id=a/b", 400)]
    [InlineData("/api/v1/nothing-here", 404)]
    [InlineData("/etc/passwd", 404)]
    public async Task Hostile_and_bad_requests_get_an_error_envelope(string url, int status)
    {
        using var response = await Http.GetAsync(url);
        Assert.Equal(status, (int)response.StatusCode);
        var body = await AgentApplication.Json(response);
        Assert.False(body.GetProperty("success").GetBoolean());
        Assert.Equal("error", body.GetProperty("status").GetString());
        var code = body.GetProperty("error").GetProperty("code").GetString();
        Assert.Equal(status == 404 ? "not_found" : "invalid_request", code);
        Assert.False(string.IsNullOrEmpty(body.GetProperty("error").GetProperty("message").GetString()));
    }

    [Fact]
    public async Task Overlong_ids_and_keys_are_refused_naming_the_field()
    {
        using var id = await Http.GetAsync($"/api/v1/sessions/{new string('a', 129)}/evidence");
        Assert.Equal(HttpStatusCode.BadRequest, id.StatusCode);
        Assert.Equal("session_id", (await AgentApplication.Json(id)).GetProperty("error").GetProperty("field").GetString());
        using var key = await Http.GetAsync($"/api/v1/evidence/image?key={new string('k', 513)}");
        Assert.Equal(HttpStatusCode.BadRequest, key.StatusCode);
        Assert.Equal("key", (await AgentApplication.Json(key)).GetProperty("error").GetProperty("field").GetString());
    }

    [Fact]
    public async Task A_wrong_method_is_405_in_the_envelope()
    {
        using var response = await Http.PostAsync("/api/v1/sessions/x/evidence", new StringContent("{}"));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Equal("method_not_allowed", (await AgentApplication.Json(response)).GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task OpenApi_document_lists_the_endpoints()
    {
        var doc = await Http.GetFromJsonAsync<JsonElement>("/openapi/v1.json");
        var paths = doc.GetProperty("paths");
        foreach (var path in new[] { "/api/v1/sessions/{sessionId}/evidence", "/api/v1/sessions/{sessionId}/evidence/pair", "/api/v1/evidence/image", "/api/v1/sessions" })
            Assert.True(paths.TryGetProperty(path, out _), $"OpenAPI lacks {path}");
    }
}
