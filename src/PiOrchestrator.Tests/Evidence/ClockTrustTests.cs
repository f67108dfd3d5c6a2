using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using PiOrchestrator.Native;
using PiOrchestrator.Store;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Evidence;

/// <summary>
/// Clock trust on captures. Tests cannot set the host's clock state, so the agent runs with a stand-in for each state;
/// one test reads the real kernel state and checks it against adjtimex's own return code.
/// </summary>
public class ClockTrustTests
{
    /// <summary>A stand-in clock state: the only way a test can have an unsynchronised clock on demand.</summary>
    private sealed class FixedClock(bool synchronized) : IClockSynchronization
    {
        public ClockReading Read() => new(synchronized, "test");
    }

    [Fact]
    public unsafe void The_kernel_state_is_read_with_adjtimex_and_matches_its_return_code()
    {
        var reading = new KernelClock().Read();
        Assert.Equal("adjtimex", reading.Source);
        var timex = stackalloc byte[LibC.TimexBufferSize];
        new Span<byte>(timex, LibC.TimexBufferSize).Clear();
        var state = LibC.AdjTimex(timex);
        const int TIME_ERROR = 5, STA_CLOCKERR = 0x1000;
        var status = *(int*)(timex + LibC.TimexStatusOffset);
        // The kernel answers TIME_ERROR exactly when STA_UNSYNC or STA_CLOCKERR is set: a wrong status offset shows here.
        Assert.Equal(state == TIME_ERROR, (status & (LibC.STA_UNSYNC | STA_CLOCKERR)) != 0);
        Assert.Equal((status & LibC.STA_UNSYNC) == 0, reading.Synchronized);
    }

    [Fact]
    public void Under_a_sandbox_refusing_adjtimex_the_timesyncd_flag_decides()
    {
        using var dir = new TempDirectory();
        var flag = Path.Combine(dir.Path, "synchronized");
        var refused = new KernelClock(flag, () => (false, 0, 1));
        Assert.Equal(new ClockReading(false, "adjtimex refused by the sandbox; timesyncd has not synchronised"), refused.Read());
        File.WriteAllText(flag, "");
        Assert.Equal(new ClockReading(true, "timesyncd"), refused.Read());
        Assert.False(new KernelClock(flag, () => (false, 0, 22)).Read().Synchronized);
        Assert.Equal(new ClockReading(false, "adjtimex"), new KernelClock(flag, () => (true, LibC.STA_UNSYNC, 0)).Read());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Captures_and_status_carry_the_clock_state(bool synchronized)
    {
        await using var camera = await FakeCamera.StartAsync();
        await using var app = new AgentApplication(camera.Url) { TestServices = services => services.AddSingleton<IClockSynchronization>(new FixedClock(synchronized)) };
        using var http = app.CreateClient();
        var sessionId = await app.DoorCycleAsync();
        var captures = (await AgentApplication.Json(await http.GetAsync($"/api/v1/sessions/{sessionId}/evidence?include_image=false")))
            .GetProperty("data").GetProperty("captures").EnumerateArray().ToList();
        Assert.Equal(2, captures.Count);
        Assert.All(captures, c => Assert.Equal(synchronized, c.GetProperty("clock_synchronized").GetBoolean()));
        var pair = (await AgentApplication.Json(await http.GetAsync($"/api/v1/sessions/{sessionId}/evidence/pair?include_image=false"))).GetProperty("data");
        Assert.Equal(synchronized, pair.GetProperty("before").GetProperty("clock_synchronized").GetBoolean());
        var clock = (await AgentApplication.Json(await http.GetAsync("/api/v1/status"))).GetProperty("data").GetProperty("clock");
        Assert.Equal(synchronized, clock.GetProperty("synchronized").GetBoolean());

        await app.DoorCycleAsync();
        var warnings = app.Logs.At(LogLevel.Warning).Count(m => m.Contains("System clock is not synchronised"));
        Assert.Equal(synchronized ? 0 : 1, warnings);
    }

    [Fact]
    public void The_unsynchronised_warning_comes_once_per_boot_across_restarts()
    {
        using var dir = new TempDirectory();
        var options = Options.Create(new StorageOptions { DataDirectory = dir.Path });
        var first = new CapturingLoggerProvider();
        new ClockTrust(new FixedClock(false), options, LoggerInto(first)).Read();
        var second = new CapturingLoggerProvider();
        new ClockTrust(new FixedClock(false), options, LoggerInto(second)).Read();
        Assert.Single(first.At(LogLevel.Warning));
        Assert.Empty(second.At(LogLevel.Warning));
        // A marker from another boot does not silence this one.
        File.WriteAllText(Path.Combine(dir.Path, "clock-unsync-warned"), "another-boot");
        var third = new CapturingLoggerProvider();
        new ClockTrust(new FixedClock(false), options, LoggerInto(third)).Read();
        Assert.Single(third.At(LogLevel.Warning));
    }

    private static ILogger<ClockTrust> LoggerInto(CapturingLoggerProvider provider) =>
        LoggerFactory.Create(logging => logging.AddProvider(provider)).CreateLogger<ClockTrust>();
}
