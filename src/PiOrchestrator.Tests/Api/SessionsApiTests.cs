using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Api;

public class SessionsApiTests : AgentWithCameraTests
{
    private async Task<JsonElement> Data(string url)
    {
        using var response = await Http.GetAsync(url);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("data");
    }

    [Fact]
    public async Task Sessions_page_newest_first_with_a_cursor_and_filters()
    {
        var ids = new List<string>();
        for (var i = 0; i < 3; i++) ids.Add(await App.DoorCycleAsync());
        var other = await App.DoorCycleAsync("ctr-002");

        var first = await Data("/api/v1/sessions?container_id=ctr-001&limit=2");
        Assert.Equal([ids[2], ids[1]], first.GetProperty("sessions").EnumerateArray().Select(s => s.GetProperty("id").GetString()));
        Assert.True(first.GetProperty("has_more").GetBoolean());
        var cursor = first.GetProperty("next_cursor").GetString();

        var second = await Data($"/api/v1/sessions?container_id=ctr-001&limit=2&cursor={cursor}");
        Assert.Equal([ids[0]], second.GetProperty("sessions").EnumerateArray().Select(s => s.GetProperty("id").GetString()));
        Assert.False(second.GetProperty("has_more").GetBoolean());
        Assert.Equal(JsonValueKind.Null, second.GetProperty("next_cursor").ValueKind);

        var all = await Data("/api/v1/sessions?status=complete");
        Assert.Equal(other, all.GetProperty("sessions")[0].GetProperty("id").GetString());
        Assert.Equal(4, all.GetProperty("sessions").GetArrayLength());
        Assert.Equal(0, (await Data("/api/v1/sessions?status=in_progress")).GetProperty("sessions").GetArrayLength());
    }

    [Fact]
    public async Task A_session_shows_its_status_times_pair_and_chain_head()
    {
        var id = await App.DoorCycleAsync(sessionId: "sess-abc123");
        var s = await Data($"/api/v1/sessions/{id}");
        Assert.Equal("sess-abc123", s.GetProperty("id").GetString());
        Assert.Equal("ctr-001", s.GetProperty("container_id").GetString());
        Assert.Equal("complete", s.GetProperty("status").GetString());
        Assert.Equal("complete", s.GetProperty("pair_status").GetString());
        Assert.Matches("^[0-9a-f]{64}$", s.GetProperty("chain_head").GetString());
        Assert.EndsWith("Z", s.GetProperty("opened_at").GetString());
        Assert.EndsWith("Z", s.GetProperty("closed_at").GetString());
    }

    [Fact]
    public async Task Health_readiness_and_status_answer()
    {
        Assert.Equal("ok", (await Data("/healthz")).GetProperty("status").GetString());
        var ready = await Data("/readyz");
        Assert.Equal("ready", ready.GetProperty("status").GetString());
        await App.DoorCycleAsync();
        var status = await Data("/api/v1/status");
        Assert.False(status.GetProperty("mqtt").GetProperty("connected").GetBoolean());
        Assert.Equal(2, status.GetProperty("upload").GetProperty("queue_depth").GetInt64());
        var container = status.GetProperty("containers")[0];
        Assert.Equal("ctr-001", container.GetProperty("id").GetString());
        Assert.Equal("closed", container.GetProperty("door").GetString());
        Assert.True(container.GetProperty("camera").GetProperty("online").GetBoolean());
        Assert.True(status.GetProperty("cache").GetProperty("bytes").GetInt64() > 0);
    }
}
