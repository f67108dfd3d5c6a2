using System.Globalization;
using System.Text.RegularExpressions;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.EndToEnd;

/// <summary>
/// <see cref="FakeWallClock"/> must step only the wall clock, as NTP does, and leave a process's threads working as on a
/// Pi: otherwise <see cref="ClockStepProcessTests"/> tests libfaketime, not the agent. A small C probe
/// (faketime-probe.c, built here with clang) runs under the clock's environment.
/// </summary>
public sealed partial class FakeWallClockTests
{
    private static readonly TimeSpan YearBehind = -TimeSpan.FromDays(365);

    [Fact]
    public async Task The_wall_clock_is_offset_and_a_timed_wait_on_the_monotonic_clock_still_waits_its_time()
    {
        using var clock = new FakeWallClock(YearBehind);
        var output = await RunProbeAsync(clock, "wait");

        var match = WaitLine().Match(output);
        Assert.True(match.Success, output);
        var offset = long.Parse(match.Groups["offset"].Value, CultureInfo.InvariantCulture);
        Assert.InRange(offset, (long)YearBehind.TotalSeconds - 1, (long)YearBehind.TotalSeconds + 1);
        Assert.Equal("110", match.Groups["rc"].Value); // ETIMEDOUT: the deadline passed, nothing failed
        // A timed wait cannot end before its deadline on a sound system; libfaketime's "forced monotonic fix" made this
        // one end at once (waited_ms=0), so every wait in the runtime spun.
        Assert.True(long.Parse(match.Groups["waited"].Value, CultureInfo.InvariantCulture) >= 1000, output);
    }

    [Fact]
    public async Task Threads_reading_the_clock_while_it_is_stepped_see_only_the_old_or_the_new_time()
    {
        using var clock = new FakeWallClock(YearBehind);
        var output = await RunProbeAsync(clock, "race", ((long)YearBehind.TotalSeconds).ToString(CultureInfo.InvariantCulture), "0");

        var match = RaceLine().Match(output);
        Assert.True(match.Success, output);
        Assert.True(long.Parse(match.Groups["reads"].Value, CultureInfo.InvariantCulture) > 0, output);
        Assert.True(match.Groups["foreign"].Value == "0", $"reads of neither the old nor the new time: {output}");
    }

    private static async Task<string> RunProbeAsync(FakeWallClock clock, params string[] args)
    {
        using var build = new TempDirectory();
        var probe = Path.Combine(build.Path, "faketime-probe");
        var source = Path.Combine(RepoPaths.Root, "src", "PiOrchestrator.Tests", "EndToEnd", "faketime-probe.c");
        var (compiled, compilerOutput) = await Shell.RunAsync("clang", ["-O1", "-Wall", "-Wextra", "-Werror", "-o", probe, source, "-lpthread"],
            TimeSpan.FromMinutes(2));
        Assert.True(compiled == 0, $"clang exited {compiled}:\n{compilerOutput}");

        var (exitCode, output) = await Shell.RunAsync(probe, args, TimeSpan.FromMinutes(2), environment: new Dictionary<string, string>(clock.Environment));
        Assert.True(exitCode == 0, $"the probe exited {exitCode}:\n{output}");
        return output;
    }

    [GeneratedRegex(@"offset=(?<offset>-?\d+) rc=(?<rc>\d+) waited_ms=(?<waited>\d+)")]
    private static partial Regex WaitLine();

    [GeneratedRegex(@"reads=(?<reads>\d+) foreign=(?<foreign>\d+)")]
    private static partial Regex RaceLine();
}
