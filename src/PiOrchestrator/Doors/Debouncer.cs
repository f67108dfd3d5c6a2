namespace PiOrchestrator.Doors;

/// <summary>
/// A level counts once it has stayed unchanged for the debounce time; a contact that chatters faster than that
/// produces nothing, so a flapping sensor cannot start more than one change per window.
/// </summary>
public sealed class Debouncer : IDisposable
{
    private readonly TimeSpan _stableFor;
    private readonly TimeProvider _time;
    private readonly Action<bool, DateTimeOffset> _onChange;
    private readonly Lock _lock = new();
    private readonly ITimer _timer;
    private bool? _stable;
    private bool _pending;
    private DateTimeOffset _pendingSince;
    // Monotonic: after NTP steps the wall clock back, a wall-clock difference would drop a real door change.
    private long _lastEdge;
    private long _generation;

    public Debouncer(TimeSpan stableFor, TimeProvider time, Action<bool, DateTimeOffset> onChange)
    {
        _stableFor = stableFor;
        _time = time;
        _onChange = onChange;
        _timer = time.CreateTimer(_ => Settle(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    public bool? Stable
    {
        get { lock (_lock) return _stable; }
    }

    /// <summary>The level read at start: it becomes the stable state without being reported.</summary>
    public void Initialise(bool level)
    {
        lock (_lock)
        {
            _stable = level;
            _pending = level;
        }
    }

    /// <summary>A raw edge: the level must now hold for the debounce time before it counts.</summary>
    public void Feed(bool level, DateTimeOffset at)
    {
        lock (_lock)
        {
            if (level != _pending || _generation == 0) _pendingSince = at;
            _pending = level;
            _lastEdge = _time.GetTimestamp();
            _generation++;
            _timer.Change(_stableFor, Timeout.InfiniteTimeSpan);
        }
    }

    private void Settle()
    {
        bool level;
        DateTimeOffset since;
        lock (_lock)
        {
            // Too early: a callback already running when a new edge re-armed the timer, or a timer that fired early (its
            // clock is the coarse tick count, up to a few ms behind the timestamp clock): wait out the rest, or the
            // level would never be reported.
            var elapsed = _time.GetElapsedTime(_lastEdge);
            if (elapsed < _stableFor)
            {
                _timer.Change(_stableFor - elapsed, Timeout.InfiniteTimeSpan);
                return;
            }
            if (_stable == _pending) return;
            _stable = _pending;
            level = _pending;
            since = _pendingSince;
        }
        _onChange(level, since);
    }

    public void Dispose() => _timer.Dispose();
}
