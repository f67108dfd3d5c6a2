using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Metrics;

/// <summary>
/// /metrics of the agent process scraped by a real Prometheus after a door cycle and an upload to s3rver; the alert
/// rules and the dashboard in deploy/ checked against the series the agent really exports.
/// </summary>
[Trait("Agent", "Process")]
public partial class MetricsTests
{
    private static string Deploy(params string[] parts) => Path.Combine([RepoPaths.Root, "deploy", .. parts]);

    [Fact]
    public async Task Prometheus_scrapes_the_agent_and_reads_the_capture_counter_after_a_door_cycle()
    {
        using var data = new TempDirectory();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var s3 = await S3Server.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        var environment = AgentProcess.OneContainerEnvironment(data.Path, broker, camera, s3, "piorch-metrics");
        environment["PIORCH_Capture__AfterCloseDelayMs"] = "50";
        // Prometheus scrapes from 127.0.0.1; any other address is another host, refused as for the API.
        environment["PIORCH_Api__AllowedNetworks__0"] = "127.0.0.1/32";
        await using var agent = AgentProcess.Start(environment);
        await agent.WaitReadyAsync();
        await agent.WaitForOutputAsync("MQTT connected");
        await using var prometheus = await PrometheusServer.StartAsync($"127.0.0.1:{agent.Port}");

        await broker.PublishAsync("containers/ctr-001/door", "opened");
        await broker.PublishAsync("containers/ctr-001/door", "closed");
        await Eventually.UntilAsync(async () =>
            (await agent.GetDataAsync("/api/v1/status")).GetProperty("upload").GetProperty("uploaded_since_start").GetInt64() == 2,
            TimeSpan.FromSeconds(30), "both photos uploaded");

        var captured = await Eventually.UntilAsync(async () =>
        {
            var results = await prometheus.QueryAsync("""piorchestrator_captures_total{job="piorchestrator",container="ctr-001",status="captured"}""");
            return results.Sum(r => r.Value) == 2 ? results : null;
        }, TimeSpan.FromSeconds(30), "Prometheus to read 2 captures");
        Assert.Equal(["AFTER_CLOSE", "BEFORE_OPEN"], captured.Select(r => r.Labels["tag"]).Order());
        var up = await prometheus.QueryAsync("""up{job="piorchestrator"}""");
        Assert.Equal(1, Assert.Single(up).Value);
        var doors = await prometheus.QueryAsync("""sum(piorchestrator_door_events_total{source="mqtt",result="accepted"})""");
        Assert.Equal(2, Assert.Single(doors).Value);
        var latency = await prometheus.QueryAsync("""piorchestrator_capture_latency_seconds_count{container="ctr-001"}""");
        Assert.Equal(2, Assert.Single(latency).Value);
        var online = await prometheus.QueryAsync("""piorchestrator_camera_online{container="ctr-001",camera="espcam-a1b2c3"}""");
        Assert.Equal(1, Assert.Single(online).Value);
        var uploads = await Eventually.UntilAsync(async () =>
            (await prometheus.QueryAsync("""piorchestrator_uploads_total{result="uploaded"}""")) is [var one] && one.Value == 2 ? (object)one : null,
            TimeSpan.FromSeconds(10), "Prometheus to read 2 uploads");
        Assert.NotNull(uploads);

        using var response = await agent.Http.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType!.MediaType);
        Assert.Contains(response.Content.Headers.ContentType.Parameters, p => p.Name == "version" && p.Value == "0.0.4");
        var exposition = await response.Content.ReadAsStringAsync();
        var exported = SeriesNames(exposition);
        foreach (var name in new[]
                 {
                     "piorchestrator_upload_queue_depth", "piorchestrator_upload_oldest_pending_age_seconds", "piorchestrator_mqtt_connected",
                     "piorchestrator_s3_connected", "piorchestrator_disk_full", "piorchestrator_build_info",
                     "piorchestrator_process_memory_working_set_bytes", "piorchestrator_process_cpu_time_seconds_total",
                     "piorchestrator_gc_collections_total", "piorchestrator_gc_heap_size_bytes",
                 })
            Assert.Contains(name, exported);
        Assert.Matches("""piorchestrator_mqtt_connected\{[^}]*\} 1\b""", exposition);
        Assert.Matches("""piorchestrator_s3_connected\{[^}]*bucket="evidence"[^}]*\} 1\b""", exposition);
        // The build that runs: the native one when the tests run against it (scripts/test.sh's second pass).
        var native = !string.IsNullOrEmpty(System.Environment.GetEnvironmentVariable("PIORCH_TEST_AGENT"));
        Assert.Matches($$"""piorchestrator_build_info\{[^}]*native="{{(native ? "true" : "false")}}"[^}]*\} 1\b""", exposition);

        // Every series the dashboard and the alert rules name is one the agent exports (or Prometheus's own "up").
        var dashboard = JsonDocument.Parse(File.ReadAllText(Deploy("grafana", "piorchestrator-dashboard.json")));
        var expressions = Expressions(dashboard.RootElement).ToList();
        Assert.True(expressions.Count >= 10, $"only {expressions.Count} expressions in the dashboard");
        expressions.AddRange(AlertExpression().Matches(File.ReadAllText(Deploy("prometheus", "piorchestrator-alerts.yml"))).Select(m => m.Groups[1].Value));
        foreach (var expression in expressions)
            foreach (Match series in SeriesName().Matches(expression))
                Assert.True(exported.Contains(series.Value), $"'{expression}' names {series.Value}, which the agent does not export");

        // Same allow-list as the API.
        using var outsider = agent.ClientFrom("127.0.0.2");
        using var refused = await outsider.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
    }

    [Fact]
    public void The_alert_rules_pass_promtool_check_and_their_unit_tests()
    {
        Assert.Equal(0, Run("promtool", "check", "rules", Deploy("prometheus", "piorchestrator-alerts.yml")));
        Assert.Equal(0, Run("promtool", "test", "rules", Deploy("prometheus", "piorchestrator-alerts.test.yml")));
    }

    private static int Run(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{file} {string.Join(' ', args)}:\n{output.Result}{error}");
        return process.ExitCode;
    }

    /// <summary>Names of the samples in a text exposition (histograms as their _bucket/_sum/_count series).</summary>
    private static HashSet<string> SeriesNames(string exposition) =>
        exposition.Split('\n').Where(l => l.Length > 0 && l[0] != '#').Select(l => l[..l.IndexOfAny(['{', ' '])]).ToHashSet(StringComparer.Ordinal);

    private static IEnumerable<string> Expressions(JsonElement element)
    {
        if (element.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in element.EnumerateObject())
                if (property.Name == "expr") yield return property.Value.GetString()!;
                else foreach (var e in Expressions(property.Value)) yield return e;
        }
        else if (element.ValueKind == JsonValueKind.Array)
            foreach (var item in element.EnumerateArray())
                foreach (var e in Expressions(item)) yield return e;
    }

    [GeneratedRegex(@"piorchestrator_[a-z0-9_]+")]
    private static partial Regex SeriesName();

    [GeneratedRegex(@"expr:\s*(.+)")]
    private static partial Regex AlertExpression();
}
