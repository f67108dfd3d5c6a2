namespace PiOrchestrator.Tests.Fixtures;

/// <summary>
/// A clock that moves only when the test says so; its timers fire inside <see cref="Advance"/>. Like the real
/// clocks it has two: the wall clock (<see cref="GetUtcNow"/>) and a monotonic one (<see cref="GetTimestamp"/>),
/// which timers follow. <see cref="StepWallClock"/> moves the first alone, as NTP or a technician setting the date does.
/// </summary>
public sealed class ManualTimeProvider(DateTimeOffset start) : TimeProvider
{
    private readonly Lock _lock = new();
    private readonly List<ManualTimer> _timers = [];
    private DateTimeOffset _now = start;
    // Monotonic time since construction; timers fall due on it.
    private TimeSpan _elapsed;

    public ManualTimeProvider() : this(new DateTimeOffset(2026, 11, 22, 12, 0, 0, TimeSpan.Zero)) { }

    public override DateTimeOffset GetUtcNow()
    {
        lock (_lock) return _now;
    }

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp()
    {
        lock (_lock) return _elapsed.Ticks;
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new ManualTimer(this, callback, state);
        lock (_lock) _timers.Add(timer);
        timer.Change(dueTime, period);
        return timer;
    }

    /// <summary>True once the code under test has set a timer to fire <paramref name="after"/> from now (its wait has begun).</summary>
    public bool HasTimerDueIn(TimeSpan after)
    {
        lock (_lock) return _timers.Any(t => t.Due == _elapsed + after);
    }

    /// <summary>Sets the wall clock forward or back without any time passing: no timer fires, the monotonic clock stays.</summary>
    public void StepWallClock(TimeSpan by)
    {
        lock (_lock) _now += by;
    }

    /// <summary>Lets time pass (both clocks), firing every timer that falls due on the way, in order.</summary>
    public void Advance(TimeSpan by)
    {
        TimeSpan target;
        lock (_lock) target = _elapsed + by;
        while (true)
        {
            ManualTimer? next;
            lock (_lock)
            {
                next = _timers.Where(t => t.Due is { } d && d <= target).MinBy(t => t.Due);
                if (next is null)
                {
                    _now += target - _elapsed;
                    _elapsed = target;
                    return;
                }
                _now += next.Due!.Value - _elapsed;
                _elapsed = next.Due!.Value;
                next.Due = next.Period is { } p && p > TimeSpan.Zero ? _elapsed + p : null;
            }
            next.Fire();
        }
    }

    private sealed class ManualTimer(ManualTimeProvider owner, TimerCallback callback, object? state) : ITimer
    {
        public TimeSpan? Due { get; set; }
        public TimeSpan? Period { get; private set; }

        public void Fire() => callback(state);

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (owner._lock)
            {
                Due = dueTime == Timeout.InfiniteTimeSpan ? null : owner._elapsed + dueTime;
                Period = period == Timeout.InfiniteTimeSpan ? null : period;
            }
            return true;
        }

        public void Dispose()
        {
            lock (owner._lock)
            {
                Due = null;
                owner._timers.Remove(this);
            }
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
