using System.Collections.Concurrent;

namespace PiOrchestrator.Hosting;

/// <summary>
/// Lets a class of repeated problems through once per interval, counting what it held back. On the monotonic clock:
/// a wall-clock step back would otherwise silence a class for as long as the step.
/// </summary>
public sealed class LogThrottle(TimeProvider time, TimeSpan interval)
{
    private readonly ConcurrentDictionary<string, (long Last, int Suppressed)> _entries = new();

    /// <summary>True when this key may be logged now; <paramref name="suppressed"/> is how many were held back since.</summary>
    public bool ShouldLog(string key, out int suppressed)
    {
        var now = time.GetTimestamp();
        suppressed = 0;
        if (_entries.TryGetValue(key, out var entry) && time.GetElapsedTime(entry.Last, now) < interval)
        {
            _entries[key] = entry with { Suppressed = entry.Suppressed + 1 };
            return false;
        }
        suppressed = entry.Suppressed;
        if (_entries.Count > 1000) _entries.Clear();
        _entries[key] = (now, 0);
        return true;
    }
}
