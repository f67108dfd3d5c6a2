using System.Diagnostics;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace PiOrchestrator.Tests.Fixtures;

/// <summary>Debian's Prometheus on a free loopback port, scraping one target every second as job "piorchestrator".</summary>
public sealed class PrometheusServer : IAsyncDisposable
{
    public const string Executable = "/usr/bin/prometheus";

    private readonly TempDirectory _dir = new();
    private readonly StringBuilder _log = new();
    private readonly Process _process;

    public int Port { get; } = TestPorts.Free();
    public HttpClient Http { get; }
    public string Log { get { lock (_log) return _log.ToString(); } }

    private PrometheusServer(string target)
    {
        var config = Path.Combine(_dir.Path, "prometheus.yml");
        File.WriteAllText(config, $"""
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
            scrape_configs:
              - job_name: piorchestrator
                static_configs:
                  - targets: ['{target}']
            """);
        var start = new ProcessStartInfo(Executable,
        [
            "--config.file=" + config, "--storage.tsdb.path=" + Path.Combine(_dir.Path, "data"),
            $"--web.listen-address=127.0.0.1:{Port}",
        ]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        _process = Process.Start(start) ?? throw new InvalidOperationException("prometheus did not start");
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{Port}") };
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_log) _log.AppendLine(line);
    }

    public static async Task<PrometheusServer> StartAsync(string target)
    {
        var server = new PrometheusServer(target);
        await Eventually.UntilAsync(async () =>
        {
            if (server._process.HasExited) throw new InvalidOperationException("prometheus exited:\n" + server.Log);
            try
            {
                using var response = await server.Http.GetAsync("/-/ready");
                return response.IsSuccessStatusCode;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(30), "prometheus to be ready");
        return server;
    }

    /// <summary>An instant query through the HTTP API: each result's labels and value.</summary>
    public async Task<List<(Dictionary<string, string> Labels, double Value)>> QueryAsync(string promql)
    {
        var body = await Http.GetFromJsonAsync<JsonElement>("/api/v1/query?query=" + Uri.EscapeDataString(promql));
        if (body.GetProperty("status").GetString() != "success") throw new InvalidOperationException(body.ToString());
        var results = new List<(Dictionary<string, string>, double)>();
        foreach (var r in body.GetProperty("data").GetProperty("result").EnumerateArray())
        {
            var labels = r.GetProperty("metric").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
            results.Add((labels, double.Parse(r.GetProperty("value")[1].GetString()!, System.Globalization.CultureInfo.InvariantCulture)));
        }
        return results;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
        Http.Dispose();
        _dir.Dispose();
    }
}
