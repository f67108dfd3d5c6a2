using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using PiOrchestrator.Hosting;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Api;

/// <summary>
/// /healthz and /readyz answer from the health checks registered with the tag of their probe: the envelope with the
/// probe's status and each check's findings, 200 or 503, as plain JSON with no caching headers of their own.
/// </summary>
public sealed class HealthProbeTests : IAsyncLifetime
{
    private FakeCamera _camera = null!;
    private AgentApplication _app = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        _camera = await FakeCamera.StartAsync();
        _app = new AgentApplication(_camera.Url)
        {
            TestServices = services => services.AddHealthChecks()
                .AddCheck("door-sensor", () => _failing ? HealthCheckResult.Unhealthy(data: new Dictionary<string, object> { ["door-sensor"] = "stalled" })
                                                       : HealthCheckResult.Healthy(data: new Dictionary<string, object> { ["door-sensor"] = "ok" }), [Probes.Live])
                .AddCheck("disk", () => _failing ? HealthCheckResult.Unhealthy(data: new Dictionary<string, object> { ["disk"] = "full" })
                                                : HealthCheckResult.Healthy(data: new Dictionary<string, object> { ["disk"] = "ok" }), [Probes.Ready])
                .AddCheck("broken", () => throw new InvalidOperationException("the check itself failed"), ["other"]),
        };
        _http = _app.CreateClient();
    }

    private volatile bool _failing;

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _app.DisposeAsync();
        await _camera.DisposeAsync();
    }

    private async Task<(HttpStatusCode Status, JsonElement Data, HttpResponseMessage Response)> Probe(string path)
    {
        var response = await _http.GetAsync(path);
        Assert.Equal("application/json; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        Assert.False(response.Headers.Contains("Cache-Control"));
        Assert.False(response.Headers.Contains("Pragma"));
        var body = await AgentApplication.Json(response);
        Assert.Equal(["success", "status", "data", "timestamp"], body.EnumerateObject().Select(p => p.Name));
        Assert.True(body.GetProperty("success").GetBoolean());
        Assert.Equal(["status", "checks"], body.GetProperty("data").EnumerateObject().Select(p => p.Name));
        return (response.StatusCode, body.GetProperty("data"), response);
    }

    private static Dictionary<string, string?> Checks(JsonElement data) =>
        data.GetProperty("checks").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString());

    [Fact]
    public async Task Healthz_lists_every_loop_and_each_live_check()
    {
        var (status, data, _) = await Probe("/healthz");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("ok", data.GetProperty("status").GetString());
        var loops = _app.Services.GetRequiredService<LoopHeartbeats>().Loops;
        Assert.NotEmpty(loops);
        Assert.Equal([.. loops.Select(l => (l, "ok")), ("door-sensor", "ok")], Checks(data).Select(c => (c.Key, c.Value!)).OrderBy(c => c.Key == "door-sensor"));
    }

    [Fact]
    public async Task A_stalled_loop_makes_healthz_503_naming_it()
    {
        _app.Services.GetRequiredService<LoopHeartbeats>().Beat("test-loop", -LoopHeartbeats.Grace - TimeSpan.FromMinutes(1));
        var (status, data, _) = await Probe("/healthz");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Equal("unhealthy", data.GetProperty("status").GetString());
        Assert.Equal("stalled", Checks(data)["test-loop"]);
        Assert.Equal("ok", Checks(data)["door-sensor"]);
    }

    [Fact]
    public async Task A_failing_live_check_makes_healthz_503_and_leaves_readyz_alone()
    {
        _failing = true;
        var (live, liveData, _) = await Probe("/healthz");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, live);
        Assert.Equal("unhealthy", liveData.GetProperty("status").GetString());
        Assert.Equal("stalled", Checks(liveData)["door-sensor"]);
        Assert.DoesNotContain("disk", Checks(liveData).Keys);

        var (ready, readyData, _) = await Probe("/readyz");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready);
        Assert.Equal("not_ready", readyData.GetProperty("status").GetString());
        Assert.Equal(new Dictionary<string, string?> { ["store"] = "ok", ["mqtt"] = "disabled", ["disk"] = "full" }, Checks(readyData));
    }

    [Fact]
    public async Task Readyz_is_the_store_with_mqtt_reported()
    {
        var (status, data, _) = await Probe("/readyz");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("ready", data.GetProperty("status").GetString());
        Assert.Equal(["store", "mqtt", "disk"], Checks(data).Keys);
        Assert.Equal("disabled", Checks(data)["mqtt"]);
    }

    [Fact]
    public async Task Probes_answer_get_only()
    {
        foreach (var path in new[] { "/healthz", "/readyz" })
        {
            using var post = await _http.PostAsync(path, null);
            Assert.Equal(HttpStatusCode.MethodNotAllowed, post.StatusCode);
            Assert.Equal("GET", string.Join(",", post.Content.Headers.Allow));
        }
    }
}
