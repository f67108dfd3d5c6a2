using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Protocol;
using PiOrchestrator.Jpeg;

namespace PiOrchestrator.Bench;

/// <summary>
/// Door event → camera request: the time from publishing <c>opened</c> (QoS 1) to the camera receiving its first
/// request, over N door cycles of the real agent process. Baseline in the same run: the same publish reaching a
/// bare MQTTnet subscriber in a process of its own (reading through the agent's transport) that makes one HTTP GET to
/// the same camera. Rounds alternate between the two, so a noisy moment of the machine falls on both.
/// </summary>
internal static class DoorLatency
{
    private const int WarmUpCycles = 20;
    // Between cycles, for both: a door event arrives at an agent that has finished the previous one.
    private static readonly TimeSpan Pause = TimeSpan.FromMilliseconds(5);

    public static async Task<int> RunAsync(string[] args)
    {
        var cycles = args.Length > 0 ? int.Parse(args[0]) : 500;
        var rounds = args.Length > 1 ? int.Parse(args[1]) : 4;
        var work = Directory.CreateTempSubdirectory("piorch-latency-");
        var (broker, brokerPort) = await BenchTools.StartMosquittoAsync(work.FullName);
        await using var camera = await Camera.StartAsync();
        Process? agent = null;
        Process? bare = null;
        try
        {
            using var publisher = await BenchTools.ConnectMqttAsync(brokerPort, "bench-pub-" + Environment.ProcessId);
            bare = await StartBareSubscriberAsync(brokerPort, camera.Url);
            agent = StartAgent(work.FullName, brokerPort, camera.Url);
            await WaitForAgentAsync(agent);

            await using var wire = await WireTimes.StartAsync(new Uri(camera.Url).Port);
            var baseline = new List<Cycle>();
            var measured = new List<Cycle>();
            var perCycle = Math.Max(1, cycles / rounds);
            Console.WriteLine($"door cycles: {perCycle * rounds} each, in {rounds} alternating rounds");
            Console.WriteLine("| round | baseline p50 / p99 | agent p50 / p99 | ratio p99 |");
            Console.WriteLine("|---|---|---|---|");
            for (var round = 0; round < rounds; round++)
            {
                var warmUp = round == 0 ? WarmUpCycles : 0;
                var b = await BaselineAsync(publisher, camera, perCycle, warmUp);
                var a = await AgentAsync(publisher, camera, perCycle, warmUp);
                baseline.AddRange(b);
                measured.AddRange(a);
                var (bMs, aMs) = (b.Select(c => c.CameraMs).ToList(), a.Select(c => c.CameraMs).ToList());
                Console.WriteLine($"| {round + 1} | {P(bMs, 50):F2} / {P(bMs, 99):F2} ms | {P(aMs, 50):F2} / {P(aMs, 99):F2} ms | {P(aMs, 99) / P(bMs, 99):F2} |");
            }
            Report("camera sees the request", baseline.Select(c => c.CameraMs).ToList(), measured.Select(c => c.CameraMs).ToList());
            if (wire is null)
            {
                Console.WriteLine("request on the wire: not measured (tcpdump missing or not allowed to capture)");
            }
            else
            {
                var wireBaseline = await wire.FirstAfterAsync(baseline.Select(c => c.PublishedAt).ToList());
                var wireAgent = await wire.FirstAfterAsync(measured.Select(c => c.PublishedAt).ToList());
                Report("request on the wire (tcpdump on lo)", wireBaseline, wireAgent);
            }
            return 0;
        }
        finally
        {
            if (agent is { HasExited: false }) agent.Kill();
            if (bare is { HasExited: false }) bare.Kill();
            broker.Kill();
            work.Delete(recursive: true);
        }
    }

    /// <summary>One door event: when it was published (wall clock, ns, as tcpdump stamps) and when the camera saw its request.</summary>
    private readonly record struct Cycle(long PublishedAt, double CameraMs);

    private static void Report(string what, List<double> baseline, List<double> agent)
    {
        Console.WriteLine($"{what}: baseline (publish → bare subscriber process → HTTP GET) p50 {P(baseline, 50):F2} ms, p99 {P(baseline, 99):F2} ms; " +
            $"agent, {BenchTools.AgentBuild} p50 {P(agent, 50):F2} ms, p99 {P(agent, 99):F2} ms; " +
            $"ratio p50 {P(agent, 50) / P(baseline, 50):F2}, p99 {P(agent, 99) / P(baseline, 99):F2} (goal p99 ≤ 1.5)");
    }

    private static double P(List<double> values, double p)
    {
        var sorted = values.Order().ToList();
        return BenchTools.Percentile(sorted, p);
    }

    private const string BareTopic = "bench/door";

    /// <summary>
    /// The baseline program (<c>bench bare-subscriber</c>): an MQTTnet subscriber that gets each message as the
    /// agent's MqttConnection does, then makes one GET to the camera. A process of its own, as the agent is: in the
    /// bench's process it would find the camera's threads already awake.
    /// </summary>
    public static async Task<int> BareSubscriberAsync(string[] args)
    {
        var (brokerPort, cameraUrl) = (int.Parse(args[0]), args[1]);
        using var subscriber = await BenchTools.ConnectMqttAsync(brokerPort, "bench-sub-" + Environment.ProcessId);
        using var http = new HttpClient();
        subscriber.ApplicationMessageReceivedAsync += async e =>
        {
            using var response = await http.GetAsync(cameraUrl + "/capture");
            await response.Content.ReadAsByteArrayAsync();
        };
        await subscriber.SubscribeAsync(BareTopic, MqttQualityOfServiceLevel.AtLeastOnce);
        Console.WriteLine("subscribed");
        // Until the bench kills it, or its stdin closes with the bench.
        await Console.In.ReadToEndAsync();
        return 0;
    }

    private static async Task<Process> StartBareSubscriberAsync(int brokerPort, string cameraUrl)
    {
        var bench = typeof(DoorLatency).Assembly.Location;
        var process = Process.Start(new ProcessStartInfo("dotnet", [bench, "bare-subscriber", brokerPort.ToString(), cameraUrl])
        {
            RedirectStandardOutput = true, RedirectStandardInput = true, UseShellExecute = false,
        })!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
            if (line == "subscribed") return process;
        throw new InvalidOperationException("the bare subscriber did not start");
    }

    private static async Task<List<Cycle>> BaselineAsync(IMqttClient publisher, Camera camera, int cycles, int warmUp)
    {
        var latencies = new List<Cycle>();
        for (var i = 0; i < cycles + warmUp; i++)
        {
            camera.Drain();
            var publishedAt = WireTimes.Now();
            var start = Stopwatch.GetTimestamp();
            var published = BenchTools.PublishAsync(publisher, BareTopic, "opened");
            var arrival = await camera.NextArrivalAsync();
            await published;
            if (i >= warmUp) latencies.Add(new Cycle(publishedAt, Stopwatch.GetElapsedTime(start, arrival).TotalMilliseconds));
            await Task.Delay(Pause);
        }
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

    private static async Task WaitForAgentAsync(Process agent)
    {
        using var http = new HttpClient { BaseAddress = new Uri(AgentUrl) };
        while (true)
        {
            if (agent.HasExited) throw new InvalidOperationException("agent exited");
            try
            {
                var status = await http.GetFromJsonAsync<JsonElement>("/api/v1/status");
                if (status.GetProperty("data").GetProperty("mqtt").GetProperty("connected").GetBoolean()) return;
            }
            catch (HttpRequestException) { }
            await Task.Delay(100);
        }
    }

    private static int _agentCycles;

    private static async Task<List<Cycle>> AgentAsync(IMqttClient publisher, Camera camera, int cycles, int warmUp)
    {
        using var http = new HttpClient { BaseAddress = new Uri(AgentUrl) };
        var latencies = new List<Cycle>();
        for (var i = 0; i < cycles + warmUp; i++)
        {
            camera.Drain();
            var publishedAt = WireTimes.Now();
            var start = Stopwatch.GetTimestamp();
            var published = BenchTools.PublishAsync(publisher, "containers/ctr-bench/door", "opened");
            var arrival = await camera.NextArrivalAsync();
            await published;
            if (i >= warmUp) latencies.Add(new Cycle(publishedAt, Stopwatch.GetElapsedTime(start, arrival).TotalMilliseconds));
            await BenchTools.PublishAsync(publisher, "containers/ctr-bench/door", "closed");
            _agentCycles++;
            // Next cycle once this session is complete, so the camera is free again.
            while (true)
            {
                var sessions = await http.GetFromJsonAsync<JsonElement>("/api/v1/sessions?status=complete&limit=1&container_id=ctr-bench");
                var list = sessions.GetProperty("data").GetProperty("sessions");
                if (list.GetArrayLength() > 0 && CompleteCount(list[0]) == _agentCycles) break;
                await Task.Delay(2);
            }
            await Task.Delay(Pause);
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
