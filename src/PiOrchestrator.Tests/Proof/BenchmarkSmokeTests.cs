using System.Diagnostics;
using PiOrchestrator.Tests.Fixtures;
using Xunit.Abstractions;

namespace PiOrchestrator.Tests.Proof;

/// <summary>
/// Benchmarks run small, so CI proves they still work end to end; their figures are for bench/RESULTS.md, not here.
/// </summary>
public sealed class BenchmarkSmokeTests(ITestOutputHelper output)
{
    /// <summary>The dashboard benchmark (agent vs nginx vs bare Kestrel, with wrk) for one second a path: every agent answer under load is a success.</summary>
    [Fact]
    public async Task The_http_benchmark_runs_against_nginx_and_the_agent_answers_every_request()
    {
        var text = await RunBenchAsync("http", "1", "8");
        Assert.Contains("| evidence list, 200 |", text);
        Assert.Contains("| evidence list, If-None-Match → 304 |", text);
        Assert.Contains("| image proxy, ", text);
        Assert.Contains("agent non-2xx/3xx or socket errors: 0", text);
    }

    /// <summary>The JPEG library comparison: its exit code says the agent caught every damaged frame.</summary>
    [Fact]
    public async Task The_jpeg_library_benchmark_finds_every_cut_frame_caught_by_the_agent()
    {
        var text = await RunBenchAsync("jpeg-libraries", "20");
        Assert.Contains("agent (marker check + TurboJPEG decode): 18/18", text);
        Assert.Contains("Ratio ImageSharp / libjpeg-turbo", text);
    }

    /// <summary>The signing cost benchmark: its exit code says the signed rows it stored verify.</summary>
    [Fact]
    public async Task The_store_signing_benchmark_stores_rows_that_verify()
    {
        var text = await RunBenchAsync("store-signing", "20");
        Assert.Contains("with signing + clock check: p50", text);
        Assert.Contains("last signed row read back: signature ok", text);
    }

    private async Task<string> RunBenchAsync(params string[] args)
    {
        var bench = Path.Combine(RepoPaths.Root, "bench", "PiOrchestrator.Bench", "bin", "Release", "net10.0", "PiOrchestrator.Bench.dll");
        Assert.True(File.Exists(bench), $"build the solution in Release first ({bench})");
        var start = new ProcessStartInfo("dotnet", [bench, .. args]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(3));
        var text = await stdout;
        output.WriteLine(text);
        Assert.True(process.ExitCode == 0, $"bench {args[0]} exited {process.ExitCode}: {text}{await stderr}");
        return text;
    }
}
