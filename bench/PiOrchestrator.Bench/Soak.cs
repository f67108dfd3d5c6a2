using System.Diagnostics;
using System.Globalization;
using System.Net;
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
/// A compressed year: the built agent takes door cycles (opened, closed, each with an event id; the opening with a
/// session id) on 4 containers as fast as it sustains them, captures small real JPEGs from a fake camera, uploads
/// them to s3rver, and ages bytes, S3 objects, sessions and door event ids out many times over on short retention
/// settings. Every few hundred events it samples the agent's RSS, database and WAL size, open descriptors and
/// threads; after warm-up each must be flat (growth under 1 % per 10,000 events). Fails on any lost capture or upload.
/// </summary>
internal static class Soak
{
    // Short settings: bytes dropped 7 s after capture once uploaded, S3 objects deleted after 17 s, sessions and
    // door event ids after 26 s, a retention pass every 3 s. Many generations of data age out in any run.
    private static readonly Dictionary<string, string> Retention = new()
    {
        ["PIORCH_Storage__ImageTtlHours"] = "0.002",
        ["PIORCH_S3__RetentionDays"] = "0.0002",
        ["PIORCH_Storage__MetadataRetentionDays"] = "0.0003",
        ["PIORCH_Storage__RetentionIntervalMinutes"] = "0.05",
    };
    private const int Containers = 4;
    private const double WarmUpFraction = 0.3;
    private const double FlatLimitPercent = 1.0;
    // Door cycles wait while more captures than this wait for S3: the run measures a steady state, not a backlog.
    private const int MaxUploadBacklog = 300;

    public static async Task<int> RunAsync(string[] args)
    {
        var events = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 150_000;
        var containers = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : Containers;
        var csvPath = Path.GetFullPath(args.Length > 2 ? args[2] : Path.Combine("out", "soak.csv"));
        // Door events per second, 0 = as fast as the agent takes them. A steady pace keeps the data inside the
        // retention windows steady, so a size that grows is the agent's and not a machine that got faster.
        var pace = args.Length > 3 ? double.Parse(args[3], CultureInfo.InvariantCulture) : 0;
        var cycles = events / 2;
        var sampleEvery = Math.Max(20, events / 150 / 2 * 2);
        var work = Directory.CreateTempSubdirectory("piorch-soak-");
        var (broker, brokerPort) = await BenchTools.StartMosquittoAsync(work.FullName);
        var s3Port = BenchTools.FreePort();
        using var s3rver = await BenchTools.StartS3rverAsync(Path.Combine(work.FullName, "s3"), s3Port);
        await using var camera = await SoakCamera.StartAsync(containers);
        Process? agent = null;
        var watch = Stopwatch.StartNew();
        try
        {
            var port = BenchTools.FreePort();
            var settings = new Dictionary<string, string>(Retention)
            {
                ["PIORCH_Mqtt__ClientId"] = "soak-agent",
                ["PIORCH_Capture__HealthIntervalSeconds"] = "0",
                ["PIORCH_Api__RateLimitPerSecond"] = "0",
                ["PIORCH_S3__Endpoint"] = $"http://127.0.0.1:{s3Port}",
                ["PIORCH_S3__Bucket"] = "evidence",
                ["PIORCH_S3__AccessKey"] = "S3RVER",
                ["PIORCH_S3__SecretKey"] = "S3RVER",
            };
            for (var c = 0; c < containers; c++)
            {
                settings[$"PIORCH_Containers__{c}__Id"] = $"ctr-{c}";
                settings[$"PIORCH_Containers__{c}__CameraId"] = $"espcam-{c}";
                settings[$"PIORCH_Containers__{c}__CameraUrl"] = $"{camera.Url}/c{c}/";
                settings[$"PIORCH_Containers__{c}__FlushFrames"] = "0";
            }
            agent = BenchTools.StartAgent(work.FullName, port, brokerPort, camera.Url, settings);
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };
            await WaitConnectedAsync(agent, http);

            using var mqtt = await BenchTools.ConnectMqttAsync(brokerPort, "soak-driver-" + Environment.ProcessId);
            var evidence = Enumerable.Range(0, containers).Select(_ => Channel.CreateUnbounded<Stored>()).ToArray();
            mqtt.ApplicationMessageReceivedAsync += e =>
            {
                var json = JsonDocument.Parse(e.ApplicationMessage.Payload).RootElement;
                var container = int.Parse(json.GetProperty("container_id").GetString()!["ctr-".Length..], CultureInfo.InvariantCulture);
                evidence[container].Writer.TryWrite(new Stored(json.GetProperty("session_id").GetString()!,
                    json.GetProperty("capture_tag").GetString()!, json.GetProperty("status").GetString()!));
                return Task.CompletedTask;
            };
            await mqtt.SubscribeAsync("containers/+/evidence", MqttQualityOfServiceLevel.AtLeastOnce);

            var dataDirectory = Path.Combine(work.FullName, "data");
            var sampler = new Sampler(agent.Id, dataDirectory, http);
            Console.WriteLine($"soak: {events} door events ({cycles} cycles) over {containers} containers, agent {BenchTools.AgentBuild}, " +
                $"{(pace > 0 ? $"{pace} events/s" : "as fast as it goes")}, sample every {sampleEvery} events, retention {string.Join(", ", Retention.Select(r => $"{r.Key["PIORCH_".Length..].Replace("__", ":")}={r.Value}"))}");

            using var stop = new CancellationTokenSource();
            var done = 0;
            var failures = new List<string>();
            var backlog = sampler.WatchBacklogAsync(stop.Token);
            var next = 0;
            // The session of cycle 0, whichever container took it: its absence at the end says retention ran.
            string? firstSession = null;
            var driving = Stopwatch.StartNew();
            var drivers = Enumerable.Range(0, containers).Select(c => Task.Run(async () =>
            {
                while (true)
                {
                    var n = Interlocked.Increment(ref next) - 1;
                    if (n >= cycles || stop.IsCancellationRequested) return;
                    if (pace > 0 && TimeSpan.FromSeconds(n * 2 / pace) - driving.Elapsed is { Ticks: > 0 } early) await Task.Delay(early);
                    while (sampler.Backlog > MaxUploadBacklog) await Task.Delay(20);
                    var session = $"soak-{c}-{n}";
                    if (n == 0) firstSession = session;
                    await BenchTools.PublishAsync(mqtt, $"containers/ctr-{c}/door", $$"""{"event":"opened","event_id":"o-{{n}}","session_id":"{{session}}"}""");
                    var before = await NextAsync(evidence[c], session);
                    await BenchTools.PublishAsync(mqtt, $"containers/ctr-{c}/door", $$"""{"event":"closed","event_id":"c-{{n}}"}""");
                    var after = await NextAsync(evidence[c], session);
                    if (before is not { Tag: "BEFORE_OPEN", Status: "captured" } || after is not { Tag: "AFTER_CLOSE", Status: "captured" })
                    {
                        lock (failures) failures.Add($"{session}: {before} {after}");
                        stop.Cancel();
                        return;
                    }
                    Interlocked.Add(ref done, 2);
                }
            })).ToList();

            // Written as it goes: a long run can be watched, and one that dies leaves its samples.
            Directory.CreateDirectory(Path.GetDirectoryName(csvPath)!);
            await using var csv = new StreamWriter(csvPath) { AutoFlush = true };
            await csv.WriteLineAsync(Sample.CsvHeader);
            var samples = new List<Sample>();
            async Task TakeSampleAsync()
            {
                samples.Add(await sampler.TakeAsync(Volatile.Read(ref done), watch.Elapsed));
                await csv.WriteLineAsync(samples[^1].ToCsv());
            }
            var nextSample = 0;
            while (drivers.Any(d => !d.IsCompleted))
            {
                if (Volatile.Read(ref done) >= nextSample)
                {
                    await TakeSampleAsync();
                    nextSample = samples[^1].Events + sampleEvery;
                }
                if (agent.HasExited) { failures.Add($"agent exited with {agent.ExitCode}"); break; }
                await Task.Delay(50);
            }
            await Task.WhenAll(drivers);
            await TakeSampleAsync();
            var drivenFor = watch.Elapsed;
            var end = await sampler.SettleAsync(agent, Path.Combine(work.FullName, "s3"), firstSession ?? "none");
            stop.Cancel();
            await backlog;

            Console.WriteLine($"samples: {samples.Count} → {csvPath}");
            Console.WriteLine($"door events: {done} in {drivenFor.TotalSeconds:F0} s ({done / drivenFor.TotalSeconds:F0}/s), then {(watch.Elapsed - drivenFor).TotalSeconds:F0} s to settle");
            Console.WriteLine(end.Describe());
            var verdict = SoakReport.Print(samples, WarmUpFraction, FlatLimitPercent);
            failures.AddRange(end.Problems(done));
            foreach (var f in failures) Console.WriteLine($"LOST/FAILED: {f}");
            Console.WriteLine($"verdict: {(verdict ? "flat" : "NOT FLAT")}, {(failures.Count == 0 ? "nothing lost" : $"{failures.Count} problem(s)")}");
            return failures.Count > 0 ? 1 : verdict ? 0 : 3;
        }
        finally
        {
            if (agent is { HasExited: false }) agent.Kill();
            s3rver.Kill(entireProcessTree: true);
            broker.Kill();
            work.Delete(recursive: true);
        }
    }

    private sealed record Stored(string Session, string Tag, string Status);

    /// <summary>The container's next stored capture; any other session's capture on the way is a problem.</summary>
    private static async Task<Stored?> NextAsync(Channel<Stored> evidence, string session)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            var stored = await evidence.Reader.ReadAsync(timeout.Token);
            return stored.Session == session ? stored : stored with { Status = "of another session" };
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    private static async Task WaitConnectedAsync(Process agent, HttpClient http)
    {
        for (var i = 0; i < 600; i++)
        {
            if (agent.HasExited) throw new InvalidOperationException($"agent exited with {agent.ExitCode}");
            try
            {
                var status = await http.GetFromJsonAsync<JsonElement>("/api/v1/status");
                if (status.GetProperty("data").GetProperty("mqtt").GetProperty("connected").GetBoolean()) return;
            }
            catch (HttpRequestException) { }
            await Task.Delay(100);
        }
        throw new InvalidOperationException("the agent did not connect to MQTT");
    }

    /// <summary>One fake ESP32-CAM answering for every container at /c{n}/capture with the same small real JPEG.</summary>
    private sealed class SoakCamera : IAsyncDisposable
    {
        private readonly WebApplication _app;

        private SoakCamera(WebApplication app) => _app = app;

        public string Url { get; private set; } = "";

        public static async Task<SoakCamera> StartAsync(int containers)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseUrls($"http://127.0.0.1:{BenchTools.FreePort()}");
            var app = builder.Build();
            // 320x240 of noise at quality 60: about 25 KB, a real frame the agent validates and thumbnails.
            var rgb = new byte[320 * 240 * 3];
            new Random(7).NextBytes(rgb);
            var jpeg = JpegCodec.Encode(rgb, 320, 240, 60);
            app.MapGet("/{camera}/capture", () => Results.Bytes(jpeg, "image/jpeg"));
            app.MapGet("/{camera}/status", () => Results.Ok());
            await app.StartAsync();
            return new SoakCamera(app) { Url = app.Urls.First() };
        }

        public async ValueTask DisposeAsync() => await _app.DisposeAsync();
    }

    /// <summary>
    /// Objects in the bucket, counted in s3rver's directory (one <c>._S3rver_object</c> file each): after 150,000
    /// deletes, s3rver 5 answers a bucket listing with 500 InternalError every time, which says nothing about the agent.
    /// </summary>
    internal static int CountObjects(string s3Directory) =>
        Directory.Exists(Path.Combine(s3Directory, "evidence"))
            ? Directory.EnumerateFiles(Path.Combine(s3Directory, "evidence"), "*", SearchOption.AllDirectories)
                .Count(f => f.EndsWith("._S3rver_object", StringComparison.Ordinal))
            : 0;

    internal static bool IsNotFound(HttpResponseMessage response) => response.StatusCode == HttpStatusCode.NotFound;
}
