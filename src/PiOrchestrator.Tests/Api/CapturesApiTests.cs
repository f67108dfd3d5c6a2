using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Api;

public class CapturesApiTests
{
    [Fact]
    public async Task A_test_capture_needs_the_key_honours_Idempotency_Key_and_answers_in_the_envelope()
    {
        await using var camera = await FakeCamera.StartAsync();
        await using var app = new AgentApplication(camera.Url, new Dictionary<string, string?> { ["Api:Key"] = "site-key-9f2" });
        using var http = app.CreateClient();

        using (var anonymous = await http.PostAsync("/api/v1/containers/ctr-001/captures", null))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
            Assert.Equal("unauthorized", (await anonymous.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetProperty("code").GetString());
        }
        using (var wrong = new HttpRequestMessage(HttpMethod.Post, "/api/v1/containers/ctr-001/captures"))
        {
            wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "site-key-9f3");
            Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(wrong)).StatusCode);
        }

        async Task<HttpResponseMessage> PostAsync(string container, string idempotencyKey)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, $"/api/v1/containers/{container}/captures");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "site-key-9f2");
            request.Headers.Add("Idempotency-Key", idempotencyKey);
            return await http.SendAsync(request);
        }

        using var first = await PostAsync("ctr-001", "tech-press-1");
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        var body = await first.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(body.GetProperty("success").GetBoolean());
        var capture = body.GetProperty("data");
        Assert.Equal("MANUAL", capture.GetProperty("capture_tag").GetString());
        Assert.Equal("captured", capture.GetProperty("status").GetString());
        Assert.True(capture.GetProperty("image_size_bytes").GetInt64() > 0);
        Assert.StartsWith("manual-", capture.GetProperty("session_id").GetString());
        Assert.Equal($"/api/v1/evidence/{capture.GetProperty("evidence_id").GetString()}", first.Headers.Location!.ToString());

        using var again = await PostAsync("ctr-001", "tech-press-1");
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal(capture.GetProperty("evidence_id").GetString(),
            (await again.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("data").GetProperty("evidence_id").GetString());
        Assert.Equal(1, camera.CaptureRequests);

        Assert.Equal(HttpStatusCode.NotFound, (await PostAsync("ctr-999", "k")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync("ctr-001", "bad key!")).StatusCode);
        // Reading stays key-free by contract.
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"/api/v1/evidence/{capture.GetProperty("evidence_id").GetString()}")).StatusCode);
    }
}
