using System.Collections.Concurrent;

namespace PiOrchestrator.Doors;

public sealed record DoorSensorStatus(string State, string? Error, DateTimeOffset Since);

/// <summary>Each GPIO door sensor's state (ok / failed with the reason) for status.</summary>
public sealed class DoorSensorRegistry
{
    private readonly ConcurrentDictionary<string, DoorSensorStatus> _sensors = new(StringComparer.Ordinal);

    public DoorSensorStatus? Get(string containerId) => _sensors.GetValueOrDefault(containerId);

    public void Set(string containerId, DoorSensorStatus status) => _sensors[containerId] = status;
}
