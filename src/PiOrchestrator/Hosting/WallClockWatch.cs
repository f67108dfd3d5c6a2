namespace PiOrchestrator.Hosting;

/// <summary>
/// Notices the wall clock being stepped (a Pi has no RTC: it boots with fake-hwclock's saved time or 1970, then NTP
/// steps it, often by hours) by comparing, at each check, the wall time that passed with the monotonic time that
/// did. Durations in the agent run on the monotonic clock and ignore a step; this says once, with its size, that
/// dates (image TTL, retention, session times) now follow the new time.
/// </summary>
public sealed class WallClockWatch(TimeProvider time, ILogger log)
{
    /// <summary>Below this a difference is drift or NTP slewing, not a step.</summary>
    public static readonly TimeSpan Threshold = TimeSpan.FromSeconds(2);

    private long _lastTimestamp = time.GetTimestamp();
    private DateTimeOffset _lastWall = time.GetUtcNow();

    /// <summary>The step since the last check (forward positive), or null when the clocks agree.</summary>
    public TimeSpan? Check()
    {
        var timestamp = time.GetTimestamp();
        var wall = time.GetUtcNow();
        var step = wall - _lastWall - time.GetElapsedTime(_lastTimestamp, timestamp);
        _lastTimestamp = timestamp;
        _lastWall = wall;
        if (step.Duration() < Threshold) return null;
        log.LogWarning("The wall clock was stepped {Direction} by {Step} (to {Now:u}): timers and the door-left-open limit are unaffected; image TTL and retention follow the new time, and captures not yet uploaded are kept whatever it says",
            step > TimeSpan.Zero ? "forward" : "back", TimeSpan.FromSeconds(Math.Round(step.Duration().TotalSeconds)), wall);
        return step;
    }
}
