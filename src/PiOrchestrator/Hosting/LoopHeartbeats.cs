using System.Collections.Concurrent;

namespace PiOrchestrator.Hosting;

/// <summary>
/// Each long-running loop beats and says when it will beat next (a loop waiting on purpose says how long). A loop
/// past its promise has stalled: health answers 503 and the systemd watchdog stops being fed, so systemd restarts
/// the agent instead of leaving a hung Pi. Measured on the monotonic clock: NTP stepping the wall clock (a Pi has no
/// RTC) is no stall, and a step back does not hide one.
/// </summary>
public sealed class LoopHeartbeats(TimeProvider time)
{
    private readonly ConcurrentDictionary<string, (long At, TimeSpan Within)> _beats = new(StringComparer.Ordinal);

    /// <summary>Margin for scheduling jitter on a busy Pi.</summary>
    public static readonly TimeSpan Grace = TimeSpan.FromSeconds(10);

    public void Beat(string loop, TimeSpan nextWithin) => _beats[loop] = (time.GetTimestamp(), nextWithin + Grace);

    /// <summary>A loop that ended on purpose (a disabled feature) is no longer watched.</summary>
    public void Retire(string loop) => _beats.TryRemove(loop, out _);

    public IReadOnlyList<string> Stalled() =>
        _beats.Where(kv => time.GetElapsedTime(kv.Value.At) > kv.Value.Within).Select(kv => kv.Key).Order().ToList();

    public IReadOnlyCollection<string> Loops => _beats.Keys.Order().ToList();
}
