using PiOrchestrator.Doors;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Doors;

/// <summary>Debounce logic on a fake clock: exact, no waiting.</summary>
public class DebouncerTests
{
    private static readonly TimeSpan Debounce = TimeSpan.FromMilliseconds(50);

    private static (Debouncer Debouncer, List<(bool Open, DateTimeOffset At)> Changes, ManualTimeProvider Time) Make(bool initiallyOpen = false)
    {
        var time = new ManualTimeProvider();
        var changes = new List<(bool, DateTimeOffset)>();
        var debouncer = new Debouncer(Debounce, time, (open, at) => changes.Add((open, at)));
        debouncer.Initialise(initiallyOpen);
        return (debouncer, changes, time);
    }

    [Fact]
    public void A_level_counts_once_it_has_been_stable_for_the_debounce_time()
    {
        var (debouncer, changes, time) = Make();
        var edgeAt = time.GetUtcNow();
        debouncer.Feed(true, edgeAt);
        time.Advance(TimeSpan.FromMilliseconds(49));
        Assert.Empty(changes);
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal([(true, edgeAt)], changes);
        Assert.True(debouncer.Stable);
    }

    [Fact]
    public void A_bounce_back_within_the_window_is_nothing()
    {
        var (debouncer, changes, time) = Make();
        debouncer.Feed(true, time.GetUtcNow());
        time.Advance(TimeSpan.FromMilliseconds(20));
        debouncer.Feed(false, time.GetUtcNow());
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Empty(changes);
        Assert.False(debouncer.Stable);
    }

    [Fact]
    public void A_flapping_contact_makes_no_change_until_it_settles_and_then_exactly_one()
    {
        var (debouncer, changes, time) = Make();
        var level = false;
        for (var i = 0; i < 200; i++)
        {
            level = !level;
            debouncer.Feed(level, time.GetUtcNow());
            time.Advance(TimeSpan.FromMilliseconds(10));
        }
        Assert.Empty(changes);
        debouncer.Feed(true, time.GetUtcNow());
        time.Advance(TimeSpan.FromSeconds(5));
        Assert.Single(changes);
    }

    [Fact]
    public void The_level_read_at_start_is_not_reported_but_a_later_change_is()
    {
        var (debouncer, changes, time) = Make(initiallyOpen: true);
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.Empty(changes);
        debouncer.Feed(false, time.GetUtcNow());
        time.Advance(Debounce);
        Assert.False(Assert.Single(changes).Open);
    }

    [Fact]
    public void A_wall_clock_step_back_between_edge_and_settling_does_not_drop_the_change()
    {
        var (debouncer, changes, time) = Make();
        var edgeAt = time.GetUtcNow();
        debouncer.Feed(true, edgeAt);
        // NTP sets the clock back a day while the level settles: the wait is a duration, not a date.
        time.StepWallClock(TimeSpan.FromDays(-1));
        time.Advance(Debounce);
        Assert.Equal([(true, edgeAt)], changes);
    }

    [Fact]
    public void A_wall_clock_step_forward_does_not_settle_a_level_early()
    {
        var (debouncer, changes, time) = Make();
        debouncer.Feed(true, time.GetUtcNow());
        time.StepWallClock(TimeSpan.FromDays(365));
        debouncer.Feed(false, time.GetUtcNow());
        debouncer.Feed(true, time.GetUtcNow());
        time.Advance(Debounce - TimeSpan.FromMilliseconds(1));
        Assert.Empty(changes);
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Single(changes);
    }

    /// <summary>
    /// .NET's timers run on the coarse tick count, which can be a few ms ahead of the timestamp clock the debouncer
    /// measures stability with: here every timer of 10 ms or more fires 3 ms early.
    /// </summary>
    private sealed class EarlyTimers : TimeProvider
    {
        private readonly List<(Action Fire, long Due)> _timers = [];
        private long _now;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;
        public override long GetTimestamp() => _now;
        public override DateTimeOffset GetUtcNow() => new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero).AddTicks(_now);

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) => new Timer(this, () => callback(state));

        public void Advance(TimeSpan by)
        {
            for (var end = _now + by.Ticks; _now < end;)
            {
                _now += TimeSpan.TicksPerMillisecond;
                foreach (var timer in _timers.Where(t => t.Due <= _now).ToList())
                {
                    _timers.Remove(timer);
                    timer.Fire();
                }
            }
        }

        private sealed class Timer(EarlyTimers time, Action fire) : ITimer
        {
            public bool Change(TimeSpan dueTime, TimeSpan period)
            {
                time._timers.RemoveAll(t => t.Fire == (Action)Fire);
                if (dueTime == Timeout.InfiniteTimeSpan) return true;
                var early = dueTime >= TimeSpan.FromMilliseconds(10) ? TimeSpan.FromMilliseconds(3) : TimeSpan.Zero;
                time._timers.Add((Fire, time._now + (dueTime - early).Ticks));
                return true;
            }

            private void Fire() => fire();
            public void Dispose() => time._timers.RemoveAll(t => t.Fire == (Action)Fire);
            public ValueTask DisposeAsync() => ValueTask.CompletedTask;
        }
    }

    [Fact]
    public void A_timer_that_fires_a_little_early_still_gets_the_change_reported()
    {
        var time = new EarlyTimers();
        var changes = new List<(bool, DateTimeOffset)>();
        using var debouncer = new Debouncer(Debounce, time, (open, at) => changes.Add((open, at)));
        debouncer.Initialise(false);
        var edgeAt = time.GetUtcNow();

        debouncer.Feed(true, edgeAt);
        time.Advance(TimeSpan.FromMilliseconds(49));
        Assert.Empty(changes);
        time.Advance(TimeSpan.FromMilliseconds(10));

        Assert.Equal([(true, edgeAt)], changes);
    }
}
