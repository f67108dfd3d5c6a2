using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace PiOrchestrator.Bench;

/// <summary>
/// The dashboard's hot paths against nginx serving the same bytes, with wrk, in the same run: the evidence list of
/// a 2-capture session (200 and If-None-Match/304) and the image proxy from the local cache; plus the agent's RSS
/// idle and under that load.
/// </summary>
internal static class HttpThroughput
{
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public static async Task<int> RunAsync(string[] args)
    {
        var seconds = args.Length > 0 ? int.Parse(args[0]) : 10;
        var connections = args.Length > 1 ? int.Parse(args[1]) : 64;
        var rounds = args.Length > 2 ? int.Parse(args[2]) : 1;
        // e.g. "304" or "list,image": the paths to measure (all by default).
        var only = args.Length > 3 ? args[3].Split(',') : null;
        var work = Directory.CreateTempSubdirectory("piorch-http-");
        // nginx workers run as nobody: they must be able to read the copies.
        File.SetUnixFileMode(work.FullName, (UnixFileMode)0b111_101_101);
        var (broker, brokerPort) = await BenchTools.StartMosquittoAsync(work.FullName);
        await using var camera = await StaticCamera.StartAsync(BenchTools.Jpeg(260));
        Process? agent = null;
        Process? nginx = null;
        Process? bare = null;
        try
        {
            var agentPort = BenchTools.FreePort();
            var agentProcess = agent = StartAgent(work.FullName, agentPort, brokerPort, camera.Url);
            var agentUrl = $"http://127.0.0.1:{agentPort}";
            using var http = new HttpClient { BaseAddress = new Uri(agentUrl) };
            await WaitReadyAsync(http, agent);
            var idleRss = BenchTools.RssMegabytes(agent.Id);

            var (sessionId, imageKey) = await DoorCycleAsync(http, brokerPort);
            var evidencePath = $"/api/v1/sessions/{sessionId}/evidence?include_image=false";
            using var evidence = await http.GetAsync(evidencePath);
            var etag = evidence.Headers.ETag!.Tag;
            var imagePath = $"/api/v1/evidence/image?key={Uri.EscapeDataString(imageKey)}";
            var image = await http.GetByteArrayAsync(imagePath);

            var root = Directory.CreateDirectory(Path.Combine(work.FullName, "www")).FullName;
            await File.WriteAllBytesAsync(Path.Combine(root, "evidence.json"), await evidence.Content.ReadAsByteArrayAsync());
            await File.WriteAllBytesAsync(Path.Combine(root, "image.jpg"), image);
            var nginxPort = BenchTools.FreePort();
            var nginxProcess = nginx = await StartNginxAsync(work.FullName, root, nginxPort);
            var nginxUrl = $"http://127.0.0.1:{nginxPort}";
            using var nginxHttp = new HttpClient();
            var nginxEtag = (await nginxHttp.GetAsync($"{nginxUrl}/evidence.json")).Headers.ETag!.Tag;
            // The framework's floor: the smallest Kestrel app serving the same bytes from memory.
            var barePort = BenchTools.FreePort();
            var bareProcess = bare = Process.Start(new ProcessStartInfo("dotnet", [typeof(HttpThroughput).Assembly.Location, "bare-server", $"http://127.0.0.1:{barePort}", root])
                { UseShellExecute = false, RedirectStandardOutput = true })!;
            await BenchTools.WaitListeningAsync(barePort);
            var bareUrl = $"http://127.0.0.1:{barePort}";

            var peakRss = idleRss;
            using var sampling = new CancellationTokenSource();
            var sampler = Task.Run(async () =>
            {
                while (!sampling.IsCancellationRequested)
                {
                    peakRss = Math.Max(peakRss, BenchTools.RssMegabytes(agent.Id));
                    try { await Task.Delay(200, sampling.Token); } catch (OperationCanceledException) { }
                }
            });

            // Rounds alternate the three servers path by path, so a drift of the machine (nginx's own figure moved
            // by 2x between runs here) falls on all three alike; the ratio reported is the median of the rounds'.
            var paths = new (string Key, string Name, Func<Task<Wrk>> Nginx, Func<Task<Wrk>> Bare, Func<Task<Wrk>> Agent)[]
            {
                ("list", "evidence list, 200", () => WrkAsync(nginxProcess, $"{nginxUrl}/evidence.json", seconds, connections),
                    () => WrkAsync(bareProcess, $"{bareUrl}/evidence.json", seconds, connections),
                    () => WrkAsync(agentProcess, agentUrl + evidencePath, seconds, connections)),
                ("304", "evidence list, If-None-Match → 304", () => WrkAsync(nginxProcess, $"{nginxUrl}/evidence.json", seconds, connections, nginxEtag),
                    () => WrkAsync(bareProcess, $"{bareUrl}/evidence.json", seconds, connections, "\"bare-1\""),
                    () => WrkAsync(agentProcess, agentUrl + evidencePath, seconds, connections, etag)),
                ("image", $"image proxy, {image.Length / 1024} KB JPEG", () => WrkAsync(nginxProcess, $"{nginxUrl}/image.jpg", seconds, connections),
                    () => WrkAsync(bareProcess, $"{bareUrl}/image.jpg", seconds, connections),
                    () => WrkAsync(agentProcess, agentUrl + imagePath, seconds, connections)),
            };
            var selected = paths.Where(p => only is null || only.Contains(p.Key)).ToList();
            var rows = selected.ToDictionary(p => p.Key, _ => new List<(Wrk Nginx, Wrk Bare, Wrk Agent)>());
            for (var round = 0; round < rounds; round++)
                foreach (var path in selected)
                    rows[path.Key].Add((await path.Nginx(), await path.Bare(), await path.Agent()));
            sampling.Cancel();
            await sampler;
            var afterRss = BenchTools.RssMegabytes(agent.Id);

            Console.WriteLine($"wrk -t2 -c{connections} -d{seconds}s --latency, agent ({BenchTools.AgentBuild} build) vs nginx 1.22 serving the same bytes, same run, {rounds} round(s), medians");
            Console.WriteLine("| path | nginx req/s | bare Kestrel req/s | agent req/s | agent/nginx req/s | bare/nginx | agent/bare | agent/nginx MB/s | nginx p99 | agent p99 |");
            Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|");
            foreach (var path in selected)
            {
                var r = rows[path.Key];
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {path.Name} | {Median(r, x => x.Nginx.RequestsPerSecond):F0} | {Median(r, x => x.Bare.RequestsPerSecond):F0} | {Median(r, x => x.Agent.RequestsPerSecond):F0} | **{Median(r, x => x.Agent.RequestsPerSecond / x.Nginx.RequestsPerSecond):F2}** | {Median(r, x => x.Bare.RequestsPerSecond / x.Nginx.RequestsPerSecond):F2} | {Median(r, x => x.Agent.RequestsPerSecond / x.Bare.RequestsPerSecond):F2} | {Median(r, x => x.Agent.MegabytesPerSecond / x.Nginx.MegabytesPerSecond):F2} | {Median(r, x => x.Nginx.P99Ms):F2} ms | {Median(r, x => x.Agent.P99Ms):F2} ms |"));
            }
            foreach (var path in selected)
            {
                var r = rows[path.Key];
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{path.Key} server CPU per request: nginx {Median(r, x => x.Nginx.ServerCpuUs):F1} µs, bare Kestrel {Median(r, x => x.Bare.ServerCpuUs):F1} µs, agent {Median(r, x => x.Agent.ServerCpuUs):F1} µs"));
            }
            if (rounds > 1)
                foreach (var path in selected)
                    Console.WriteLine($"{path.Key} agent/nginx by round: " + string.Join(" ", rows[path.Key].Select(x =>
                        (x.Agent.RequestsPerSecond / x.Nginx.RequestsPerSecond).ToString("F2", CultureInfo.InvariantCulture))));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"agent RSS: idle {idleRss:F1} MB, peak under load {peakRss:F1} MB, after {afterRss:F1} MB (cache limit 64 MB; goal idle ≤ 60, loaded ≤ 144)"));
            var non2xx = rows.Values.Sum(r => r.Sum(x => x.Agent.Errors));
            Console.WriteLine($"agent non-2xx/3xx or socket errors: {non2xx}");
            return non2xx == 0 ? 0 : 1;
        }
        finally
        {
            if (agent is { HasExited: false }) agent.Kill();
            if (nginx is { HasExited: false }) nginx.Kill(entireProcessTree: true);
            if (bare is { HasExited: false }) bare.Kill();
            broker.Kill();
            work.Delete(recursive: true);
        }
    }

    private static double Median<T>(List<T> items, Func<T, double> value)
    {
        var sorted = items.Select(value).Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

    // ServerCpuUs: CPU time the server used per request, its own cost apart from how wrk shares the cores with it.
    private sealed record Wrk(double RequestsPerSecond, double MegabytesPerSecond, double P99Ms, int Errors, double ServerCpuUs);

    private static async Task<Wrk> WrkAsync(Process server, string url, int seconds, int connections, string? ifNoneMatch = null)
    {
        var args = new List<string> { "-t2", $"-c{connections}", $"-d{seconds}s", "--latency" };
        if (ifNoneMatch is not null) args.AddRange(["-H", $"If-None-Match: {ifNoneMatch}"]);
        args.Add(url);
        var cpuBefore = BenchTools.CpuSeconds(server.Id);
        using var wrk = Process.Start(new ProcessStartInfo("wrk", args) { RedirectStandardOutput = true, UseShellExecute = false })
                        ?? throw new InvalidOperationException("wrk is not installed (apt-get install wrk)");
        var output = await wrk.StandardOutput.ReadToEndAsync();
        await wrk.WaitForExitAsync();
        var cpu = BenchTools.CpuSeconds(server.Id) - cpuBefore;
        double Number(string pattern) => double.Parse(Regex.Match(output, pattern).Groups[1].Value, CultureInfo.InvariantCulture);
        var transfer = Regex.Match(output, @"Transfer/sec:\s+([\d.]+)(\w+)");
        var megabytes = double.Parse(transfer.Groups[1].Value, CultureInfo.InvariantCulture) * transfer.Groups[2].Value switch
        {
            "GB" => 1024, "MB" => 1, "KB" => 1 / 1024.0, _ => 1 / 1048576.0,
        };
        var p99 = Regex.Match(output, @"99%\s+([\d.]+)(us|ms|s)\b");
        var p99Ms = double.Parse(p99.Groups[1].Value, CultureInfo.InvariantCulture) * p99.Groups[2].Value switch { "us" => 0.001, "ms" => 1, _ => 1000 };
        var errors = Regex.Match(output, @"Non-2xx or 3xx responses: (\d+)") is { Success: true } m ? int.Parse(m.Groups[1].Value) : 0;
        if (Regex.Match(output, @"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)") is { Success: true } socket)
            errors += Enumerable.Range(1, 4).Sum(i => int.Parse(socket.Groups[i].Value));
        return new Wrk(Number(@"Requests/sec:\s+([\d.]+)"), megabytes, p99Ms, errors, cpu * 1e6 / Number(@"(\d+) requests in"));
    }

    private static async Task<Process> StartNginxAsync(string work, string root, int port)
    {
        var config = Path.Combine(work, "nginx.conf");
        await File.WriteAllTextAsync(config, $$"""
            worker_processes auto;
            daemon off;
            pid {{work}}/nginx.pid;
            error_log {{work}}/nginx-error.log;
            events { worker_connections 1024; }
            http {
              access_log off;
              sendfile on;
              tcp_nopush on;
              keepalive_requests 100000;
              types { application/json json; image/jpeg jpg; }
              client_body_temp_path {{work}}/nginx-body;
              proxy_temp_path {{work}}/nginx-proxy;
              fastcgi_temp_path {{work}}/nginx-fastcgi;
              uwsgi_temp_path {{work}}/nginx-uwsgi;
              scgi_temp_path {{work}}/nginx-scgi;
              server { listen 127.0.0.1:{{port}}; root {{root}}; }
            }
            """);
        var nginx = Process.Start(new ProcessStartInfo("nginx", ["-c", config, "-p", work]) { UseShellExecute = false })
                    ?? throw new InvalidOperationException("nginx is not installed (apt-get install nginx)");
        await BenchTools.WaitListeningAsync(port);
        return nginx;
    }

    private static Process StartAgent(string work, int port, int brokerPort, string cameraUrl) =>
        BenchTools.StartAgent(work, port, brokerPort, cameraUrl, new Dictionary<string, string>
        {
            ["PIORCH_Mqtt__ClientId"] = "bench-http-agent",
            ["PIORCH_Storage__MemoryCacheMegabytes"] = "64",
            // One client (wrk) at far above a dashboard's rate: the limiter runs, but with room for the load.
            ["PIORCH_Api__RateLimitPerSecond"] = "1000000",
            ["PIORCH_Api__RateLimitBurst"] = "1000000",
            ["PIORCH_Api__MaxConnectionsPerClient"] = "1000",
        });

    private static async Task WaitReadyAsync(HttpClient http, Process agent)
    {
        for (var i = 0; i < 300; i++)
        {
            if (agent.HasExited) throw new InvalidOperationException($"agent exited with {agent.ExitCode}");
            try
            {
                if ((await http.GetAsync("/readyz")).IsSuccessStatusCode)
                {
                    // Let start-up work settle before the idle figure.
                    await Task.Delay(TimeSpan.FromSeconds(5));
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(100);
        }
        throw new InvalidOperationException("agent not ready");
    }

    private static async Task<(string SessionId, string ImageKey)> DoorCycleAsync(HttpClient http, int brokerPort)
    {
        using var publisher = await BenchTools.ConnectMqttAsync(brokerPort, "bench-http-pub-" + Environment.ProcessId);
        for (var i = 0; i < 100; i++)
        {
            var status = await http.GetFromJsonAsync<JsonElement>("/api/v1/status");
            if (status.GetProperty("data").GetProperty("mqtt").GetProperty("connected").GetBoolean()) break;
            await Task.Delay(100);
        }
        await BenchTools.PublishAsync(publisher, "containers/ctr-bench/door", "opened");
        await Task.Delay(200);
        await BenchTools.PublishAsync(publisher, "containers/ctr-bench/door", "closed");
        for (var i = 0; i < 200; i++)
        {
            var sessions = await http.GetFromJsonAsync<JsonElement>("/api/v1/sessions?limit=1");
            var list = sessions.GetProperty("data").GetProperty("sessions").EnumerateArray().ToList();
            if (list.Count == 1 && list[0].GetProperty("status").GetString() == "complete")
            {
                var id = list[0].GetProperty("id").GetString()!;
                var evidence = await http.GetFromJsonAsync<JsonElement>($"/api/v1/sessions/{id}/evidence?include_image=false");
                var items = evidence.GetProperty("data").GetProperty("captures").EnumerateArray().ToList();
                if (items.Count == 2) return (id, items[0].GetProperty("object_key").GetString()!);
            }
            await Task.Delay(100);
        }
        throw new InvalidOperationException("the door cycle did not complete");
    }

    /// <summary>A camera that always answers the same JPEG.</summary>
    private sealed class StaticCamera : IAsyncDisposable
    {
        private readonly WebApplication _app;

        private StaticCamera(WebApplication app) => _app = app;

        public string Url => _app.Urls.First();

        public static async Task<StaticCamera> StartAsync(byte[] jpeg)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseUrls($"http://127.0.0.1:{BenchTools.FreePort()}");
            var app = builder.Build();
            app.MapGet("/capture", () => Results.Bytes(jpeg, "image/jpeg"));
            app.MapGet("/status", () => Results.Ok());
            await app.StartAsync();
            return new StaticCamera(app);
        }

        public async ValueTask DisposeAsync() => await _app.DisposeAsync();
    }
}
