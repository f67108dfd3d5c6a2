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

    /// <summary>
    /// The soak at 2,000 door events: every capture stored and uploaded, retention ran (the first session and most S3
    /// objects aged out), and the CSV is written. Flatness is judged by the full run (scripts/proof.sh --long): at this
    /// scale the agent is still warming up, so the exit code may say "not flat" (3) but never "lost" (1).
    /// </summary>
    [Fact]
    public async Task The_soak_benchmark_loses_no_capture_and_ages_data_out()
    {
        using var dir = new TempDirectory();
        var csv = Path.Combine(dir.Path, "soak.csv");
        var text = await RunBenchAsync(["soak", "2000", "4", csv], acceptExitCodes: [0, 3]);
        Assert.Contains("captures 2000 captured, 0 failed; uploads 2000 done, 0 failed, backlog 0; unfinished sessions 0; first session aged out: yes", text);
        Assert.Contains("nothing lost", text);
        Assert.DoesNotContain("LOST/FAILED", text);
        var lines = File.ReadAllLines(csv);
        Assert.Equal("events,seconds,rss_mb,db_mb,wal_mb,fds,threads,upload_backlog,gc_heap_mb,cache_mb", lines[0]);
        Assert.True(lines.Length > 20, $"{lines.Length - 1} samples");
        Assert.StartsWith("2000,", lines[^1]);
    }

    private Task<string> RunBenchAsync(params string[] args) => RunBenchAsync(args, acceptExitCodes: [0]);

    private async Task<string> RunBenchAsync(string[] args, int[] acceptExitCodes)
    {
        var bench = Path.Combine(RepoPaths.Root, "bench", "PiOrchestrator.Bench", "bin", "Release", "net10.0", "PiOrchestrator.Bench.dll");
        Assert.True(File.Exists(bench), $"build the solution in Release first ({bench})");
        // The smoke runs are short on an idle machine (under a minute each); the deadline only catches a hang.
        var (exit, text) = await Shell.RunAsync("dotnet", [bench, .. args], TimeSpan.FromMinutes(15));
        output.WriteLine(text);
        Assert.True(acceptExitCodes.Contains(exit), $"bench {args[0]} exited {exit}: {text}");
        return text;
    }
}
