namespace PiOrchestrator.Tests.Fixtures;

/// <summary>
/// System time plus offsets the test moves: <see cref="Advance"/> steps the wall clock alone (as NTP does, or to age
/// captures past 24 h without waiting); <see cref="Elapse"/> moves the monotonic clock with it, as time passing does.
/// Timers still run on real time.
/// </summary>
public sealed class OffsetTimeProvider : TimeProvider
{
    private long _offsetTicks;
    private long _elapsedTicks;

    public void Advance(TimeSpan by) => Interlocked.Add(ref _offsetTicks, by.Ticks);

    /// <summary>Both clocks move on by <paramref name="by"/>: durations measured across it include it.</summary>
    public void Elapse(TimeSpan by)
    {
        Interlocked.Add(ref _offsetTicks, by.Ticks);
        Interlocked.Add(ref _elapsedTicks, by.Ticks);
    }

    public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + TimeSpan.FromTicks(Interlocked.Read(ref _offsetTicks));

    public override long GetTimestamp() =>
        base.GetTimestamp() + (long)(Interlocked.Read(ref _elapsedTicks) / (double)TimeSpan.TicksPerSecond * TimestampFrequency);
}
