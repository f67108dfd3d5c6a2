using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace PiOrchestrator.Bench;

/// <summary>
/// Start → ready and idle RSS. Agent: process start until READY=1 on a notify socket the bench owns (and /readyz
/// answering), RSS 5 s later. Baseline in the same run: a bare Kestrel app (this bench's `bare-server` mode,
/// slim builder, one endpoint) started the same way, until its first 200.
/// </summary>
internal static class Startup
{
    public static async Task<int> RunAsync(string[] args)
    {
        var rounds = args.Length > 0 ? int.Parse(args[0]) : 5;
        var agentTimes = new List<double>();
        var bareTimes = new List<double>();
        var agentRss = new List<double>();
        var bareRss = new List<double>();
        for (var i = 0; i < rounds; i++)
        {
            var (bareReady, bareMb) = await MeasureAsync(bare: true);
            var (agentReady, agentMb) = await MeasureAsync(bare: false);
            bareTimes.Add(bareReady);
            agentTimes.Add(agentReady);
            bareRss.Add(bareMb);
            agentRss.Add(agentMb);
        }
        Console.WriteLine($"rounds: {rounds}");
        Console.WriteLine($"bare Kestrel app: start → first 200 median {Median(bareTimes):F0} ms; idle RSS median {Median(bareRss):F1} MB");
        Console.WriteLine($"agent ({BenchTools.AgentBuild}):{new string(' ', 10 - BenchTools.AgentBuild.Length)}start → READY=1 median {Median(agentTimes):F0} ms; idle RSS median {Median(agentRss):F1} MB");
        Console.WriteLine($"ratio start {Median(agentTimes) / Median(bareTimes):F2}, RSS {Median(agentRss) / Median(bareRss):F2}");
        return 0;
    }

    /// <summary>The baseline server: the smallest Kestrel app, for comparison.</summary>
    /// <summary>
    /// The smallest Kestrel app; with <paramref name="files"/>, it also serves that directory's evidence.json (with
    /// an ETag and 304) and image.jpg from memory: the framework's floor for the http bench.
    /// </summary>
    public static async Task<int> BareServerAsync(string url, string? files = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls(url);
        var app = builder.Build();
        app.MapGet("/readyz", () => Results.Text("ok"));
        if (files is not null)
        {
            var json = await File.ReadAllBytesAsync(Path.Combine(files, "evidence.json"));
            var image = await File.ReadAllBytesAsync(Path.Combine(files, "image.jpg"));
            const string etag = "\"bare-1\"";
            app.MapGet("/evidence.json", (HttpContext context) =>
            {
                context.Response.Headers.ETag = etag;
                return context.Request.Headers.IfNoneMatch == etag ? Results.StatusCode(304) : Results.Bytes(json, "application/json");
            });
            app.MapGet("/image.jpg", () => Results.Bytes(image, "image/jpeg"));
        }
        await app.RunAsync();
        return 0;
    }

    private static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);

    private static async Task<(double ReadyMs, double RssMb)> MeasureAsync(bool bare)
    {
        var port = BenchTools.FreePort();
        var url = $"http://127.0.0.1:{port}";
        var data = Directory.CreateTempSubdirectory("piorch-startup-");
        var socketPath = Path.Combine(data.FullName, "notify.sock");
        using var notify = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        notify.Bind(new UnixDomainSocketEndPoint(socketPath));
        var start = bare
            ? new ProcessStartInfo("dotnet", [typeof(Startup).Assembly.Location, "bare-server", url])
            : BenchTools.AgentStartInfo(url);
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;
        start.Environment["PIORCH_CONFIG_FILE"] = "/nonexistent.json";
        start.Environment["PIORCH_Storage__DataDirectory"] = data.FullName;
        start.Environment["PIORCH_Mqtt__Enabled"] = "false";
        start.Environment["NOTIFY_SOCKET"] = socketPath;
        var watch = Stopwatch.StartNew();
        using var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            double ready;
            if (bare)
            {
                using var http = new HttpClient();
                while (true)
                {
                    try
                    {
                        if ((await http.GetAsync(url + "/readyz")).IsSuccessStatusCode) break;
                    }
                    catch (HttpRequestException) { }
                    await Task.Delay(5);
                }
                ready = watch.Elapsed.TotalMilliseconds;
            }
            else
            {
                var buffer = new byte[4096];
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                while (true)
                {
                    var n = await notify.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
                    if (Encoding.UTF8.GetString(buffer, 0, n).Split('\n').Contains("READY=1")) break;
                }
                ready = watch.Elapsed.TotalMilliseconds;
            }
            await Task.Delay(TimeSpan.FromSeconds(5));
            var rss = File.ReadLines($"/proc/{process.Id}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            return (ready, double.Parse(rss.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024);
        }
        finally
        {
            process.Kill();
            await process.WaitForExitAsync();
            data.Delete(recursive: true);
        }
    }
}
