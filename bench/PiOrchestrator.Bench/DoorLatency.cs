using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using PiOrchestrator.Capture;
using MQTTnet;
using MQTTnet.Protocol;

namespace PiOrchestrator.Bench;

/// <summary>
/// Door event → camera request: the time from publishing <c>opened</c> (QoS 1) to the camera receiving its first
/// request, over N door cycles of the real agent process. Baseline in the same run: the same publish reaching a
/// bare MQTTnet subscriber (reading through the agent's transport) that makes one HTTP GET to the same camera.
/// </summary>
internal static class DoorLatency
{
    public static async Task<int> RunAsync(string[] args)
    {
        var cycles = args.Length > 0 ? int.Parse(args[0]) : 500;
        var work = Directory.CreateTempSubdirectory("piorch-latency-");
        var brokerPort = BenchTools.FreePort();
        await File.WriteAllTextAsync(Path.Combine(work.FullName, "mosquitto.conf"), $"listener {brokerPort} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n");
        using var broker = Process.Start(new ProcessStartInfo("/usr/sbin/mosquitto", ["-c", Path.Combine(work.FullName, "mosquitto.conf")])
            { RedirectStandardError = true, UseShellExecute = false })!;
        await using var camera = await Camera.StartAsync();
        Process? agent = null;
        try
        {
            await Task.Delay(300);
            using var publisher = await BenchTools.ConnectMqttAsync(brokerPort, "bench-pub-" + Environment.ProcessId);

            var baseline = await BaselineAsync(brokerPort, publisher, camera, cycles);
            agent = StartAgent(work.FullName, brokerPort, camera.Url);
            var measured = await AgentAsync(agent, publisher, camera, cycles);

            Console.WriteLine($"door cycles: {cycles}");
            Console.WriteLine($"baseline (publish → plain subscriber → HTTP GET): p50 {P(baseline, 50):F2} ms, p99 {P(baseline, 99):F2} ms");
            Console.WriteLine($"agent, {BenchTools.AgentBuild} (publish → agent → camera request): p50 {P(measured, 50):F2} ms, p99 {P(measured, 99):F2} ms");
            Console.WriteLine($"ratio p50 {P(measured, 50) / P(baseline, 50):F2}, p99 {P(measured, 99) / P(baseline, 99):F2} (goal p99 ≤ 1.5)");
            return 0;
        }
        finally
        {
            if (agent is { HasExited: false }) agent.Kill();
            broker.Kill();
            work.Delete(recursive: true);
        }
    }

    private static double P(List<double> values, double p)
    {
        var sorted = values.Order().ToList();
        return BenchTools.Percentile(sorted, p);
    }

    private static async Task<List<double>> BaselineAsync(int port, IMqttClient publisher, Camera camera, int cycles)
    {
        using var subscriber = await BenchTools.ConnectMqttAsync(port, "bench-sub-" + Environment.ProcessId);
        using var http = new HttpClient();
        using var stop = new CancellationTokenSource();
        // The subscriber's handler gets each message as the agent's MqttConnection does, then makes one GET.
        subscriber.ApplicationMessageReceivedAsync += async e =>
        {
            using var response = await http.GetAsync(camera.Url + "/capture", stop.Token);
            await response.Content.ReadAsByteArrayAsync(stop.Token);
        };
        await subscriber.SubscribeAsync("bench/door", MqttQualityOfServiceLevel.AtLeastOnce);
        await Task.Delay(200);
        var latencies = new List<double>();
        for (var i = 0; i < cycles + 20; i++)
        {
            camera.Drain();
            var start = Stopwatch.GetTimestamp();
            var published = BenchTools.PublishAsync(publisher, "bench/door", "opened");
            var arrival = await camera.NextArrivalAsync();
            await published;
            if (i >= 20) latencies.Add(Stopwatch.GetElapsedTime(start, arrival).TotalMilliseconds);
            await Task.Delay(5);
        }
        stop.Cancel();
        return latencies;
    }

    private static Process StartAgent(string work, int brokerPort, string cameraUrl)
    {
        var port = BenchTools.FreePort();
        AgentUrl = $"http://127.0.0.1:{port}";
        return BenchTools.StartAgent(work, port, brokerPort, cameraUrl, new Dictionary<string, string>
        {
            ["PIORCH_Mqtt__ClientId"] = "bench-agent",
            ["PIORCH_Capture__HealthIntervalSeconds"] = "0",
            // The bench polls the session list as fast as it can, far above a dashboard's rate limit.
            ["PIORCH_Api__RateLimitPerSecond"] = "0",
        });
    }

    private static string AgentUrl = "";

    private static async Task<List<double>> AgentAsync(Process agent, IMqttClient publisher, Camera camera, int cycles)
    {
        using var http = new HttpClient { BaseAddress = new Uri(AgentUrl) };
        for (var i = 0; ; i++)
        {
            if (agent.HasExited) throw new InvalidOperationException("agent exited");
            try
            {
                var status = await http.GetFromJsonAsync<JsonElement>("/api/v1/status");
                if (status.GetProperty("data").GetProperty("mqtt").GetProperty("connected").GetBoolean()) break;
            }
            catch (HttpRequestException) { }
            await Task.Delay(100);
        }
        var latencies = new List<double>();
        for (var i = 0; i < cycles + 20; i++)
        {
            camera.Drain();
            var start = Stopwatch.GetTimestamp();
            var published = BenchTools.PublishAsync(publisher, "containers/ctr-bench/door", "opened");
            var arrival = await camera.NextArrivalAsync();
            await published;
            if (i >= 20) latencies.Add(Stopwatch.GetElapsedTime(start, arrival).TotalMilliseconds);
            await BenchTools.PublishAsync(publisher, "containers/ctr-bench/door", "closed");
            // Next cycle once this session is complete, so the camera is free again.
            while (true)
            {
                var sessions = await http.GetFromJsonAsync<JsonElement>("/api/v1/sessions?status=complete&limit=1&container_id=ctr-bench");
                var list = sessions.GetProperty("data").GetProperty("sessions");
                if (list.GetArrayLength() > 0 && CompleteCount(list[0]) == i + 1) break;
                await Task.Delay(2);
            }
        }
        return latencies;
    }

    private static int _completed;
    private static readonly HashSet<string> Seen = [];

    private static int CompleteCount(JsonElement newest)
    {
        if (Seen.Add(newest.GetProperty("id").GetString()!)) _completed++;
        return _completed;
    }

    /// <summary>A camera that notes when each /capture request arrives.</summary>
    private sealed class Camera : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly Channel<long> _arrivals = Channel.CreateUnbounded<long>();
        private readonly byte[] _jpeg;

        private Camera(WebApplication app, byte[] jpeg)
        {
            _app = app;
            _jpeg = jpeg;
        }

        public string Url { get; private set; } = "";

        public static async Task<Camera> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseUrls($"http://127.0.0.1:{BenchTools.FreePort()}");
            var app = builder.Build();
            var rgb = new byte[640 * 480 * 3];
            new Random(1).NextBytes(rgb);
            var camera = new Camera(app, JpegCodec.Encode(rgb, 640, 480, 60));
            app.MapGet("/capture", (HttpContext context) =>
            {
                camera._arrivals.Writer.TryWrite(Stopwatch.GetTimestamp());
                return Results.Bytes(camera._jpeg, "image/jpeg");
            });
            app.MapGet("/status", () => Results.Ok());
            await app.StartAsync();
            camera.Url = app.Urls.First();
            return camera;
        }

        public void Drain()
        {
            while (_arrivals.Reader.TryRead(out _)) { }
        }

        public async Task<long> NextArrivalAsync()
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            return await _arrivals.Reader.ReadAsync(timeout.Token);
        }

        public async ValueTask DisposeAsync() => await _app.DisposeAsync();
    }
}
