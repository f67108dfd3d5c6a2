using System.Diagnostics;
using PiOrchestrator.Tests.Fixtures;
using Xunit.Abstractions;

namespace PiOrchestrator.Tests.Proof;

/// <summary>
/// The dashboard benchmark (agent vs nginx vs bare Kestrel, with wrk) run for one second a path, so CI proves it still
/// works end to end and every agent answer under load is a success; its figures are for bench/RESULTS.md, not here.
/// </summary>
public sealed class BenchmarkSmokeTests(ITestOutputHelper output)
{
    [Fact]
    public async Task The_http_benchmark_runs_against_nginx_and_the_agent_answers_every_request()
    {
        var bench = Path.Combine(RepoPaths.Root, "bench", "PiOrchestrator.Bench", "bin", "Release", "net10.0", "PiOrchestrator.Bench.dll");
        Assert.True(File.Exists(bench), $"build the solution in Release first ({bench})");
        var start = new ProcessStartInfo("dotnet", [bench, "http", "1", "8"]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(3));
        var text = await stdout;
        output.WriteLine(text);
        Assert.True(process.ExitCode == 0, $"bench http exited {process.ExitCode}: {text}{await stderr}");
        Assert.Contains("| evidence list, 200 |", text);
        Assert.Contains("| evidence list, If-None-Match → 304 |", text);
        Assert.Contains("| image proxy, ", text);
        Assert.Contains("agent non-2xx/3xx or socket errors: 0", text);
    }
}
