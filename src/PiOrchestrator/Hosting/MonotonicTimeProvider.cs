namespace PiOrchestrator.Hosting;

/// <summary>
/// A clock for libraries that measure durations as differences of <see cref="TimeProvider.GetUtcNow"/> (Polly's
/// circuit breaker keeps "blocked until" as a date): its "now" is the start time plus monotonic time elapsed, so a
/// wall-clock step back by a day cannot hold a breaker open for a day. Never use it for a date that is stored.
/// </summary>
public sealed class MonotonicTimeProvider(TimeProvider inner) : TimeProvider
{
    private readonly DateTimeOffset _start = inner.GetUtcNow();
    private readonly long _startTimestamp = inner.GetTimestamp();

    public override DateTimeOffset GetUtcNow() => _start + inner.GetElapsedTime(_startTimestamp);

    public override long GetTimestamp() => inner.GetTimestamp();

    public override long TimestampFrequency => inner.TimestampFrequency;

    public override TimeZoneInfo LocalTimeZone => inner.LocalTimeZone;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
        inner.CreateTimer(callback, state, dueTime, period);
}
