namespace PiOrchestrator.Sessions;

/// <summary>
/// One container's door events per minute, on the monotonic clock. Above the limit the container is flooded (no
/// door moves that fast: a faulty or hostile publisher) until a whole minute has passed at or under it again.
/// </summary>
public sealed class DoorEventRate(TimeProvider time, int limitPerMinute)
{
    private static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);
    private long _minuteStart = time.GetTimestamp();
    private int _count;

    public bool Flooded { get; private set; }

    /// <summary>When the present (or last) flood began, on the wall clock.</summary>
    public DateTimeOffset? FloodedSince { get; private set; }

    /// <summary>Events counted since the present (or last) flood began.</summary>
    public long FloodEvents { get; private set; }

    public int LimitPerMinute => limitPerMinute;

    /// <summary>Counts one event; the flag may start (or, after a quiet minute, end) here.</summary>
    public void Count()
    {
        Roll();
        _count++;
        if (Flooded)
        {
            FloodEvents++;
        }
        else if (_count > limitPerMinute)
        {
            Flooded = true;
            FloodedSince = time.GetUtcNow();
            FloodEvents = _count;
        }
    }

    /// <summary>Starts a new minute once one has passed; a flood ends with a minute at or under the limit.</summary>
    public void Roll()
    {
        var elapsed = time.GetElapsedTime(_minuteStart);
        if (elapsed < Minute) return;
        // Two minutes since the last one began: a whole minute went by without a single event.
        var quiet = _count <= limitPerMinute || elapsed >= Minute + Minute;
        _minuteStart = time.GetTimestamp();
        _count = 0;
        if (quiet) Flooded = false;
    }
}
