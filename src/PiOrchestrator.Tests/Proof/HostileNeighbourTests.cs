using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using PiOrchestrator.Jpeg;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Proof;

/// <summary>
/// A broken or hostile camera and hostile web clients against the agent as a process: each attack is refused or
/// bounded, and the agent's memory (peak RSS from /proc) and CPU time stay those of a Pi's agent.
/// </summary>
[Trait("Agent", "Process")]
public sealed class HostileNeighbourTests
{
    private static Dictionary<string, string> Environment(string data, string cameraUrl, params (string Key, string Value)[] settings)
    {
        var environment = new Dictionary<string, string>
        {
            ["PIORCH_Storage__DataDirectory"] = data,
            ["PIORCH_Mqtt__Enabled"] = "false",
            ["PIORCH_Capture__FlushFrames"] = "0",
            ["PIORCH_Capture__Attempts"] = "1",
            ["PIORCH_Containers__0__Id"] = "ctr-001",
            ["PIORCH_Containers__0__CameraId"] = "espcam-a1b2c3",
            ["PIORCH_Containers__0__CameraUrl"] = cameraUrl,
        };
        foreach (var (key, value) in settings) environment[key] = value;
        return environment;
    }

    private static async Task<JsonElement> ManualCaptureAsync(AgentProcess agent)
    {
        using var response = await agent.Http.PostAsync("/api/v1/containers/ctr-001/captures", null);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("data");
    }

    [Fact]
    public async Task Jpeg_decode_bombs_from_the_camera_are_refused_from_their_header_in_bounded_memory_and_cpu()
    {
        using var data = new TempDirectory();
        await using var camera = await FakeCamera.StartAsync();
        await using var agent = AgentProcess.Start(Environment(data.Path, camera.Url));
        await agent.WaitReadyAsync();
        var cpuBefore = ProcFs.CpuTime(agent.ProcessId);

        // A valid progressive JPEG declaring 32768x32768: libjpeg-turbo would allocate gigabytes of coefficients.
        camera.Mode = CameraMode.Custom;
        camera.CustomFrame = TestJpegs.DeclaringSize(TestJpegs.MakeProgressive(1), 32768, 32768);
        var progressive = await ManualCaptureAsync(agent);
        Assert.Equal("failed", progressive.GetProperty("status").GetString());
        Assert.Equal(CaptureFailure.UnsupportedJpeg, progressive.GetProperty("failure_reason").GetString());

        // A baseline frame declaring more than the largest ESP32-CAM frame size.
        camera.CustomFrame = TestJpegs.DeclaringSize(TestJpegs.Make(2), 32768, 32768);
        var huge = await ManualCaptureAsync(agent);
        Assert.Equal(CaptureFailure.TooLarge, huge.GetProperty("failure_reason").GetString());

        // A real progressive frame of an allowed size is still not what a camera sends.
        camera.CustomFrame = TestJpegs.MakeProgressive(3, 1600, 1200);
        Assert.Equal(CaptureFailure.UnsupportedJpeg, (await ManualCaptureAsync(agent)).GetProperty("failure_reason").GetString());

        // And the camera's real frames still go through.
        camera.Mode = CameraMode.Healthy;
        Assert.Equal("captured", (await ManualCaptureAsync(agent)).GetProperty("status").GetString());

        var peak = ProcFs.PeakRssBytes(agent.ProcessId);
        Assert.True(peak < ProcFs.PeakRssLimitBytes, $"peak RSS {peak / 1024 / 1024} MB");
        // Before the header check the 8192x8192 progressive bomb cost 23-26 s of CPU; four refusals cost next to nothing.
        var cpu = ProcFs.CpuTime(agent.ProcessId) - cpuBefore;
        Assert.True(cpu < TimeSpan.FromSeconds(5), $"CPU time {cpu.TotalSeconds:F1} s for four captures");
    }

    [Fact]
    public async Task A_camera_status_body_that_never_ends_is_read_only_to_a_few_kilobytes()
    {
        using var data = new TempDirectory();
        await using var camera = await FakeCamera.StartAsync();
        camera.EndlessStatus = true;
        await using var agent = AgentProcess.Start(Environment(data.Path, camera.Url, ("PIORCH_Capture__HealthIntervalSeconds", "1")));
        await agent.WaitReadyAsync();
        await Eventually.UntilAsync(async () =>
        {
            var cameraStatus = (await agent.GetDataAsync("/api/v1/status")).GetProperty("containers")[0].GetProperty("camera");
            return cameraStatus.GetProperty("last_error").GetString() == CaptureFailure.StatusTooLarge;
        }, TimeSpan.FromSeconds(30), "the camera's endless status to be reported");
        var peak = ProcFs.PeakRssBytes(agent.ProcessId);
        Assert.True(peak < ProcFs.PeakRssLimitBytes, $"peak RSS {peak / 1024 / 1024} MB");
    }

    [Fact]
    public async Task A_camera_redirect_is_not_followed_and_no_other_host_is_fetched()
    {
        using var data = new TempDirectory();
        await using var camera = await FakeCamera.StartAsync(seed: 1);
        await using var elsewhere = await FakeCamera.StartAsync(seed: 2);
        camera.Mode = CameraMode.Redirect;
        camera.RedirectTo = elsewhere.Url + "/capture";
        await using var agent = AgentProcess.Start(Environment(data.Path, camera.Url));
        await agent.WaitReadyAsync();

        var capture = await ManualCaptureAsync(agent);
        Assert.Equal("failed", capture.GetProperty("status").GetString());
        Assert.Equal("http_302", capture.GetProperty("failure_reason").GetString());
        Assert.Equal(0, elsewhere.CaptureRequests);
        Assert.DoesNotContain(elsewhere.Url, agent.Output);
    }

    [Fact]
    public async Task A_cross_site_post_is_refused_and_the_same_origin_page_may_still_capture()
    {
        using var data = new TempDirectory();
        await using var camera = await FakeCamera.StartAsync();
        await using var agent = AgentProcess.Start(Environment(data.Path, camera.Url));
        await agent.WaitReadyAsync();
        const string path = "/api/v1/containers/ctr-001/captures";

        using (var form = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent("a=1", Encoding.UTF8, "application/x-www-form-urlencoded") })
        {
            form.Headers.Add("Origin", "http://evil.example");
            using var refused = await agent.Http.SendAsync(form);
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        }
        using (var fetched = new HttpRequestMessage(HttpMethod.Post, path))
        {
            fetched.Headers.Add("Sec-Fetch-Site", "cross-site");
            using var refused = await agent.Http.SendAsync(fetched);
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        }
        using (var rebound = new HttpRequestMessage(HttpMethod.Post, path))
        {
            // Same scheme and port, another host: a page of another site.
            rebound.Headers.Add("Origin", $"http://localhost.evil.example:{agent.Port}");
            using var refused = await agent.Http.SendAsync(rebound);
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        }
        Assert.Equal(0, camera.CaptureRequests);

        // The status page's own fetch: same origin.
        using var own = new HttpRequestMessage(HttpMethod.Post, path);
        own.Headers.Add("Origin", $"http://127.0.0.1:{agent.Port}");
        own.Headers.Add("Sec-Fetch-Site", "same-origin");
        using var accepted = await agent.Http.SendAsync(own);
        Assert.Equal(HttpStatusCode.Created, accepted.StatusCode);
        Assert.Equal(1, camera.CaptureRequests);
    }

    [Fact]
    public async Task A_host_name_the_agent_does_not_own_is_refused_so_dns_rebinding_reads_nothing()
    {
        using var data = new TempDirectory();
        await using var camera = await FakeCamera.StartAsync();
        await using var agent = AgentProcess.Start(Environment(data.Path, camera.Url, ("PIORCH_Api__AllowedHosts__0", "pi-site-7.lan")));
        await agent.WaitReadyAsync();

        foreach (var (host, served) in new[]
                 {
                     ("attacker.example", false), ("127.0.0.1.attacker.example", false), ("127.0.0.1", true), ("localhost", true),
                     ("[::1]", true), ("PI-SITE-7.lan", true), (System.Environment.MachineName, true),
                 })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/status");
            request.Headers.Host = $"{host}:{agent.Port}";
            using var response = await agent.Http.SendAsync(request);
            Assert.True(served == response.IsSuccessStatusCode, $"Host {host}: {(int)response.StatusCode}");
            if (!served) Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        }

        // The document's server is a fixed relative "/", never built from the request's Host.
        using var documentRequest = new HttpRequestMessage(HttpMethod.Get, "/openapi/v1.json");
        documentRequest.Headers.Host = $"PI-SITE-7.lan:{agent.Port}";
        using var document = await agent.Http.SendAsync(documentRequest);
        var openApi = await document.Content.ReadAsStringAsync();
        Assert.DoesNotContain("PI-SITE-7", openApi, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("/", (string?)System.Text.Json.Nodes.JsonNode.Parse(openApi)!["servers"]!.AsArray().Single()!["url"]);
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task The_data_directory_and_database_are_private_to_the_agent_even_started_by_hand()
    {
        using var parent = new TempDirectory();
        var data = Path.Combine(parent.Path, "state");
        await using var camera = await FakeCamera.StartAsync();
        await using var agent = AgentProcess.Start(Environment(data, camera.Url));
        await agent.WaitReadyAsync();
        Assert.Equal("captured", (await ManualCaptureAsync(agent)).GetProperty("status").GetString());

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(data));
        foreach (var file in new[] { "evidence.db", "evidence.db-wal", "evidence.db-shm" })
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(data, file)));
    }

    [Fact]
    public async Task Test_captures_never_delay_a_door_capture_and_are_capped_per_container()
    {
        using var data = new TempDirectory();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        var environment = Environment(data.Path, camera.Url,
            ("PIORCH_Capture__TimeoutMs", "60000"), ("PIORCH_Capture__AttemptTimeoutMs", "60000"), ("PIORCH_Capture__AfterCloseDelayMs", "100"),
            ("PIORCH_Capture__ManualCapturesPerHour", "1"));
        environment["PIORCH_Mqtt__Enabled"] = "true";
        environment["PIORCH_Mqtt__Host"] = "127.0.0.1";
        environment["PIORCH_Mqtt__Port"] = broker.Port.ToString(CultureInfo.InvariantCulture);
        await using var agent = AgentProcess.Start(environment);
        await agent.WaitReadyAsync();
        await agent.WaitForOutputAsync("MQTT connected");

        // A test capture holds the camera (it answers only after a minute)...
        camera.Mode = CameraMode.Slow;
        camera.SlowDelay = TimeSpan.FromMinutes(1);
        var manual = agent.Http.PostAsync("/api/v1/containers/ctr-001/captures", null);
        await Eventually.UntilAsync(() => camera.CaptureRequests == 1, TimeSpan.FromSeconds(20), "the test capture to reach the camera");
        // ...when the door opens: the door's BEFORE_OPEN takes the camera at once.
        camera.Mode = CameraMode.Healthy;
        await broker.PublishAsync("containers/ctr-001/door", """{"event":"opened","event_id":"ev-door-1","session_id":"sess-door-1"}""");
        using (var manualAnswer = await manual)
        {
            var test = (await manualAnswer.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("data");
            Assert.Equal("failed", test.GetProperty("status").GetString());
            Assert.Equal(CaptureFailure.Preempted, test.GetProperty("failure_reason").GetString());
        }
        var before = await Eventually.UntilAsync(async () =>
        {
            var pair = await agent.GetDataAsync("/api/v1/sessions/sess-door-1/evidence/pair");
            return pair.GetProperty("before").TryGetProperty("sha256", out _) ? (JsonElement?)pair.GetProperty("before") : null;
        }, TimeSpan.FromSeconds(20), "the BEFORE_OPEN");
        Assert.Contains(before!.Value.GetProperty("sha256").GetString(), camera.ServedSha256);

        // While a door capture has the camera, a test capture is refused at once rather than queued behind it.
        camera.Mode = CameraMode.Slow;
        var requests = camera.CaptureRequests;
        await broker.PublishAsync("containers/ctr-001/door", "closed");
        await Eventually.UntilAsync(() => camera.CaptureRequests > requests, TimeSpan.FromSeconds(20), "the AFTER_CLOSE to reach the camera");
        using (var busy = await agent.Http.PostAsync("/api/v1/containers/ctr-001/captures", null))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, busy.StatusCode);
            Assert.NotNull(busy.Headers.RetryAfter);
        }
        camera.Mode = CameraMode.Healthy;
        await Eventually.UntilAsync(async () =>
            (await agent.GetDataAsync("/api/v1/sessions/sess-door-1")).GetProperty("status").GetString() == "complete", TimeSpan.FromMinutes(2), "the session to complete");

        // A burst of test captures, then the hourly budget: the container's store does not fill with test photos.
        for (var i = 0; i < 4; i++)
            Assert.Equal("captured", (await ManualCaptureAsync(agent)).GetProperty("status").GetString());
        using var limited = await agent.Http.PostAsync("/api/v1/containers/ctr-001/captures", null);
        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        Assert.True(limited.Headers.RetryAfter?.Delta > TimeSpan.FromMinutes(10), $"Retry-After {limited.Headers.RetryAfter}");
    }
}
