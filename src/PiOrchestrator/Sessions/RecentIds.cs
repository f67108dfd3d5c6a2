namespace PiOrchestrator.Sessions;

/// <summary>
/// Ids seen in the last <c>window</c> of monotonic time, forgotten in the order they came: memory follows the door
/// traffic of one window, not of the agent's whole life. Beyond the window the store answers.
/// </summary>
public sealed class RecentIds<T>(TimeProvider time, TimeSpan window, IEqualityComparer<T>? comparer = null) where T : notnull
{
    private readonly HashSet<T> _ids = new(comparer);
    private readonly Queue<(T Id, long At)> _order = new();

    public int Count => _ids.Count;

    public bool Contains(T id) => _ids.Contains(id);

    /// <summary>False when the id was already remembered.</summary>
    public bool Add(T id)
    {
        if (!_ids.Add(id)) return false;
        _order.Enqueue((id, time.GetTimestamp()));
        return true;
    }

    /// <summary>Forgets the ids older than the window; cheap when there are none.</summary>
    public void Prune()
    {
        var now = time.GetTimestamp();
        while (_order.TryPeek(out var oldest) && time.GetElapsedTime(oldest.At, now) > window)
        {
            _order.Dequeue();
            _ids.Remove(oldest.Id);
        }
        if (_order.Count == 0) _order.TrimExcess();
    }
}
