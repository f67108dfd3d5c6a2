using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using System.Threading.Channels;
using MQTTnet;
using MQTTnet.Protocol;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Bench;

/// <summary>
/// Door event → BEFORE_OPEN stored, against the test camera that behaves as CameraWebServer does (LED wait, one
/// request at a time, a failed grab answered 500 after esp32-camera's 4 s, frames paced over an 8 Mbit/s link): from
/// publishing <c>opened</c> to the agent publishing the stored BEFORE_OPEN on <c>containers/ctr-bench/evidence</c>.
/// Baseline in the same run: a bare HTTP client taking the same photo from the same camera (one GET, or after a failed
/// grab the 500 and a second GET) — the least time the camera allows. The agent runs with the product's settings
/// (derived deadlines, stale frames told from X-Timestamp, the camera a PSRAM board).
/// </summary>
internal static class CaptureLatency
{
    private static readonly FrameSize[] Sizes = [FrameSize.QVGA, FrameSize.UXGA];

    public static async Task<int> RunAsync(string[] args)
    {
        var cycles = args.Length > 0 ? int.Parse(args[0]) : 20;
        var failedCycles = args.Length > 1 ? int.Parse(args[1]) : 8;
        Console.WriteLine($"door event → BEFORE_OPEN stored, {cycles} cycles healthy and {failedCycles} with one failed grab per size, agent {BenchTools.AgentBuild}");
        Console.WriteLine("| frame size | grabs | baseline p50 / p99 | agent p50 / p99 | ratio p50 / p99 |");
        Console.WriteLine("|---|---|---|---|---|");
        foreach (var size in Sizes)
        {
            var work = Directory.CreateTempSubdirectory("piorch-capture-latency-");
            var (broker, brokerPort) = await BenchTools.StartMosquittoAsync(work.FullName);
            await using var camera = await FakeCamera.StartAsync();
            camera.FrameSize = size;
            camera.LinkBitsPerSecond = 8_000_000;
            var port = BenchTools.FreePort();
            var agent = BenchTools.StartAgent(work.FullName, port, brokerPort, camera.Url, new Dictionary<string, string>
            {
                ["PIORCH_Containers__0__FrameSize"] = size.ToString(),
                ["PIORCH_Capture__AfterCloseDelayMs"] = "100",
            });
            try
            {
                await WaitForAgentAsync(agent, port);
                using var publisher = await BenchTools.ConnectMqttAsync(brokerPort, "bench-pub-" + Environment.ProcessId);
                using var subscriber = await BenchTools.ConnectMqttAsync(brokerPort, "bench-evidence-" + Environment.ProcessId);
                var stored = Channel.CreateUnbounded<(string Tag, string Status, long At)>();
                subscriber.ApplicationMessageReceivedAsync += e =>
                {
                    var at = Stopwatch.GetTimestamp();
                    var json = JsonDocument.Parse(e.ApplicationMessage.Payload).RootElement;
                    stored.Writer.TryWrite((json.GetProperty("capture_tag").GetString()!, json.GetProperty("status").GetString()!, at));
                    return Task.CompletedTask;
                };
                await subscriber.SubscribeAsync("containers/ctr-bench/evidence", MqttQualityOfServiceLevel.AtLeastOnce);
                using var bare = new HttpClient();

                // Warm-up: the agent learns the camera (its first capture grabs twice) and JITs its paths.
                for (var i = 0; i < 3; i++) await DoorCycleAsync(publisher, stored.Reader, camera, failFirst: false);
                foreach (var failFirst in new[] { false, true })
                {
                    var n = failFirst ? failedCycles : cycles;
                    var baseline = new List<double>();
                    var measured = new List<double>();
                    for (var i = 0; i < n; i++)
                    {
                        baseline.Add(await BareGrabAsync(bare, camera, failFirst));
                        measured.Add(await DoorCycleAsync(publisher, stored.Reader, camera, failFirst));
                    }
                    var (b50, b99, a50, a99) = (P(baseline, 50), P(baseline, 99), P(measured, 50), P(measured, 99));
                    Console.WriteLine($"| {size} {FrameSizes.Of(size).Width}x{FrameSizes.Of(size).Height} | {(failFirst ? "one failed, then good" : "good")} | " +
                        $"{b50:F0} / {b99:F0} ms | {a50:F0} / {a99:F0} ms | {a50 / b50:F2} / {a99 / b99:F2} |");
                }
            }
            finally
            {
                if (!agent.HasExited) agent.Kill();
                broker.Kill();
                work.Delete(recursive: true);
            }
        }
        return 0;
    }

    /// <summary>One door cycle; the milliseconds from publishing <c>opened</c> to the stored BEFORE_OPEN's message.</summary>
    private static async Task<double> DoorCycleAsync(IMqttClient publisher, ChannelReader<(string Tag, string Status, long At)> stored, FakeCamera camera, bool failFirst)
    {
        if (failFirst) camera.FailNextGrabs = 1;
        var published = Stopwatch.GetTimestamp();
        await BenchTools.PublishAsync(publisher, "containers/ctr-bench/door", "opened");
        var before = await NextAsync(stored, "BEFORE_OPEN");
        await BenchTools.PublishAsync(publisher, "containers/ctr-bench/door", "closed");
        await NextAsync(stored, "AFTER_CLOSE");
        if (before.Status != "captured") throw new InvalidOperationException($"BEFORE_OPEN {before.Status}");
        return Stopwatch.GetElapsedTime(published, before.At).TotalMilliseconds;
    }

    private static async Task<(string Tag, string Status, long At)> NextAsync(ChannelReader<(string Tag, string Status, long At)> stored, string tag)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (true)
        {
            var message = await stored.ReadAsync(timeout.Token);
            if (message.Tag == tag) return message;
        }
    }

    /// <summary>The same photo taken by hand: GET /capture (after a failed grab's 500, again) and the whole body read.</summary>
    private static async Task<double> BareGrabAsync(HttpClient http, FakeCamera camera, bool failFirst)
    {
        if (failFirst) camera.FailNextGrabs = 1;
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            using var response = await http.GetAsync(camera.Url + "/capture");
            await response.Content.ReadAsByteArrayAsync();
            if (response.IsSuccessStatusCode) return Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        }
    }

    internal static async Task WaitForAgentAsync(Process agent, int port)
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (agent.HasExited) throw new InvalidOperationException("agent exited");
            if (deadline.Elapsed > TimeSpan.FromMinutes(2)) throw new TimeoutException("agent not ready");
            try
            {
                var status = await http.GetFromJsonAsync<JsonElement>("/api/v1/status");
                if (status.GetProperty("data").GetProperty("mqtt").GetProperty("connected").GetBoolean()) return;
            }
            catch (HttpRequestException) { }
            await Task.Delay(100);
        }
    }

    private static double P(List<double> values, double p) => BenchTools.Percentile(values.Order().ToList(), p);
}
