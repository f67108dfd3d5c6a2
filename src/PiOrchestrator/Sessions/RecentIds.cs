namespace PiOrchestrator.Sessions;

/// <summary>
/// Ids seen in the last <c>window</c> of monotonic time, at most <c>capacity</c> of them, forgotten in the order they
/// came: memory follows the door traffic of one window, and a flood of made-up ids costs a fixed amount. Beyond the
/// window, or while a flood has pushed out ids still inside it (<see cref="Complete"/> false), the store answers.
/// </summary>
public sealed class RecentIds<T>(TimeProvider time, TimeSpan window, int capacity, IEqualityComparer<T>? comparer = null) where T : notnull
{
    private readonly HashSet<T> _ids = new(comparer);
    private readonly Queue<(T Id, long At)> _order = new();
    // When the newest id that had to make room was seen: until it is a window old, a miss here proves nothing.
    private long? _forgottenSeenAt;

    public int Count => _ids.Count;

    public int Capacity => capacity;

    /// <summary>True when every id of the window is remembered, so that an id not here was not seen in the window.</summary>
    public bool Complete => _forgottenSeenAt is not { } at || time.GetElapsedTime(at) > window;

    public bool Contains(T id) => _ids.Contains(id);

    /// <summary>False when the id was already remembered. At capacity the oldest id makes room.</summary>
    public bool Add(T id)
    {
        if (_ids.Contains(id)) return false;
        if (_order.Count >= capacity && _order.TryDequeue(out var oldest))
        {
            _ids.Remove(oldest.Id);
            _forgottenSeenAt = oldest.At;
        }
        _ids.Add(id);
        _order.Enqueue((id, time.GetTimestamp()));
        return true;
    }

    /// <summary>Says that ids of the window exist that were never added here (a restart that loaded only the newest).</summary>
    public void MarkIncomplete() => _forgottenSeenAt = time.GetTimestamp();

    /// <summary>Forgets the ids older than the window; cheap when there are none.</summary>
    public void Prune()
    {
        var now = time.GetTimestamp();
        while (_order.TryPeek(out var oldest) && time.GetElapsedTime(oldest.At, now) > window)
        {
            _order.Dequeue();
            _ids.Remove(oldest.Id);
        }
        if (_order.Count > 0) return;
        _order.TrimExcess();
        _ids.TrimExcess();
    }
}
