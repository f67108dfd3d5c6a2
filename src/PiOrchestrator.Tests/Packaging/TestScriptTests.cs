using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Packaging;

/// <summary>
/// scripts/test.sh runs under <c>set -euo pipefail</c>, so a pipe whose reader stops early (<c>| head</c>) ends the
/// whole run with the writer's SIGPIPE (exit 141) before its <c>tests: N passed, N failed</c> line: CI then lands
/// nothing however green the tests were. Its summary of the closest waits is checked here as the script runs it.
/// </summary>
public sealed class TestScriptTests
{
    [Fact]
    public async Task The_closest_waits_summary_of_a_wait_log_larger_than_a_pipe_prints_eight_lines_and_exits_zero()
    {
        using var directory = new TempDirectory();
        var log = Path.Combine(directory.Path, "waits.tsv");
        // A full run's log: tens of thousands of waits, megabytes, far past the 64 KiB a pipe holds.
        await File.WriteAllLinesAsync(log, Enumerable.Range(0, 100_000)
            .Select(i => $"0.{i % 1000:000}\t{i % 60}.0 s of 60 s\tcondition number {i} awaited by some test"));

        var (exitCode, output) = await Shell.RunAsync("bash",
            ["-c", "set -euo pipefail; source scripts/lib.sh; closest_waits \"$1\"; echo done", "summary", log],
            TimeSpan.FromSeconds(60), RepoPaths.Root);

        Assert.True(exitCode == 0, $"exit {exitCode}:\n{output}");
        var lines = output.TrimEnd('\n').Split('\n');
        Assert.Equal("the waits that came closest to their deadline (share used, time, what was awaited):", lines[0]);
        Assert.Equal(8, lines.Count(line => line.StartsWith("  0.999\t", StringComparison.Ordinal)));
        Assert.Equal("done", lines[^1]);
        Assert.Equal(10, lines.Length);
    }

    [Fact]
    public async Task An_empty_or_missing_wait_log_prints_no_summary()
    {
        using var directory = new TempDirectory();
        var empty = Path.Combine(directory.Path, "empty.tsv");
        await File.WriteAllTextAsync(empty, "");
        foreach (var log in new[] { empty, Path.Combine(directory.Path, "missing.tsv") })
        {
            var (exitCode, output) = await Shell.RunAsync("bash",
                ["-c", "set -euo pipefail; source scripts/lib.sh; closest_waits \"$1\"; echo done", "summary", log],
                TimeSpan.FromSeconds(60), RepoPaths.Root);
            Assert.True(exitCode == 0, $"exit {exitCode}:\n{output}");
            Assert.Equal("done\n", output);
        }
    }
}
