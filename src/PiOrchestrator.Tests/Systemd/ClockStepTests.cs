using Microsoft.Extensions.Logging;
using PiOrchestrator.Hosting;
using PiOrchestrator.Systemd;
using PiOrchestrator.Tests.Fixtures;
using Polly;
using Polly.CircuitBreaker;

namespace PiOrchestrator.Tests.Systemd;

/// <summary>
/// Heartbeats, the watchdog gate and the step detector on a fake clock whose wall time is stepped on its own, as NTP
/// does on a Pi without RTC.
/// </summary>
public class ClockStepTests
{
    private static readonly TimeSpan Year = TimeSpan.FromDays(365);
    private static readonly TimeSpan Day = TimeSpan.FromDays(1);

    [Fact]
    public void A_wall_clock_step_forward_by_a_year_or_back_by_a_day_stalls_no_loop()
    {
        var time = new ManualTimeProvider();
        var heartbeats = new LoopHeartbeats(time);
        heartbeats.Beat("retention", TimeSpan.FromMinutes(20));
        time.StepWallClock(Year);
        Assert.Empty(heartbeats.Stalled());
        time.StepWallClock(-Day);
        time.Advance(TimeSpan.FromMinutes(20));
        Assert.Empty(heartbeats.Stalled());
        // A real stall is still one, wherever the wall clock points.
        time.Advance(LoopHeartbeats.Grace + TimeSpan.FromSeconds(1));
        Assert.Equal(["retention"], heartbeats.Stalled());
    }

    [Fact]
    public void A_wall_clock_step_back_does_not_hide_a_stall()
    {
        var time = new ManualTimeProvider();
        var heartbeats = new LoopHeartbeats(time);
        heartbeats.Beat("uploader", TimeSpan.FromSeconds(5));
        time.Advance(TimeSpan.FromSeconds(5) + LoopHeartbeats.Grace + TimeSpan.FromSeconds(1));
        time.StepWallClock(-Day);
        Assert.Equal(["uploader"], heartbeats.Stalled());
    }

    [Fact]
    public void Watchdog_pings_stay_due_every_interval_through_clock_steps()
    {
        var time = new ManualTimeProvider();
        var every = TimeSpan.FromSeconds(15);
        var gate = new WatchdogGate(time, every);
        Assert.True(gate.Due());
        gate.Pinged();
        // A step forward does not make the next ping due early, nor a step back postpone it.
        time.StepWallClock(Year);
        Assert.False(gate.Due());
        time.Advance(every);
        Assert.True(gate.Due());
        gate.Pinged();
        time.StepWallClock(-Day);
        time.Advance(every);
        Assert.True(gate.Due());
    }

    [Fact]
    public void A_step_is_warned_once_with_its_size_and_drift_is_not()
    {
        var time = new ManualTimeProvider();
        var logs = new CapturingLoggerProvider();
        var watch = new WallClockWatch(time, logs.CreateLogger("clock"));
        time.Advance(TimeSpan.FromSeconds(5));
        time.StepWallClock(TimeSpan.FromSeconds(1));
        Assert.Null(watch.Check());

        time.Advance(TimeSpan.FromSeconds(5));
        time.StepWallClock(Year);
        Assert.Equal(Year, watch.Check());
        time.Advance(TimeSpan.FromSeconds(5));
        Assert.Null(watch.Check());
        time.StepWallClock(-Day);
        Assert.Equal(-Day, watch.Check());

        var warnings = logs.At(LogLevel.Warning).ToList();
        Assert.Equal(2, warnings.Count);
        Assert.Contains("stepped forward by 365.00:00:00", warnings[0]);
        Assert.Contains("stepped back by 1.00:00:00", warnings[1]);
    }

    [Fact]
    public void A_breaker_on_the_monotonic_clock_closes_after_its_pause_though_the_wall_clock_went_back_a_day()
    {
        var time = new ManualTimeProvider();
        static ResiliencePipeline Breaker(TimeProvider clock) => new ResiliencePipelineBuilder { TimeProvider = clock }
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                FailureRatio = 1.0, MinimumThroughput = 2, SamplingDuration = TimeSpan.FromSeconds(30), BreakDuration = TimeSpan.FromSeconds(5),
            })
            .Build();
        // The uploader's breaker, and the same on the wall clock to show what a step back does to it.
        var monotonic = Breaker(new MonotonicTimeProvider(time));
        var wall = Breaker(time);
        foreach (var breaker in new[] { monotonic, wall })
            for (var i = 0; i < 2; i++)
                Assert.Throws<IOException>(() => breaker.Execute(() => throw new IOException("S3 down")));
        Assert.Throws<BrokenCircuitException>(() => monotonic.Execute(() => { }));

        time.StepWallClock(-Day);
        time.Advance(TimeSpan.FromSeconds(6));
        monotonic.Execute(() => { });
        Assert.Throws<BrokenCircuitException>(() => wall.Execute(() => { }));
    }
}
