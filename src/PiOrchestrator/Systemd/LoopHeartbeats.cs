using System.Collections.Concurrent;

namespace PiOrchestrator.Systemd;

/// <summary>
/// Each long-running loop beats and says when it will beat next (a loop waiting on purpose says how long). A loop
/// past its promise has stalled: health answers 503 and the systemd watchdog stops being fed, so systemd restarts
/// the agent instead of leaving a hung Pi.
/// </summary>
public sealed class LoopHeartbeats(TimeProvider time)
{
    private readonly ConcurrentDictionary<string, DateTimeOffset> _due = new(StringComparer.Ordinal);

    /// <summary>Margin for scheduling jitter on a busy Pi.</summary>
    public static readonly TimeSpan Grace = TimeSpan.FromSeconds(10);

    public void Beat(string loop, TimeSpan nextWithin) => _due[loop] = time.GetUtcNow() + nextWithin + Grace;

    /// <summary>A loop that ended on purpose (a disabled feature) is no longer watched.</summary>
    public void Retire(string loop) => _due.TryRemove(loop, out _);

    public IReadOnlyList<string> Stalled()
    {
        var now = time.GetUtcNow();
        return _due.Where(kv => kv.Value < now).Select(kv => kv.Key).Order().ToList();
    }

    public IReadOnlyCollection<string> Loops => _due.Keys.Order().ToList();
}
