using PiOrchestrator.Site;

namespace PiOrchestrator.Doors;

/// <summary>A raw door contact: the seam between the GPIO hardware and the debounce logic (tests simulate it).</summary>
public interface IDoorSensor : IDisposable
{
    bool TryOpen(out string error);

    /// <summary>True when the door is open now.</summary>
    bool ReadIsOpen();

    /// <summary>Waits for the next raw edge; null on timeout.</summary>
    DoorEdge? WaitForEdge(TimeSpan timeout);
}

public readonly record struct DoorEdge(bool IsOpen, DateTimeOffset At);

public interface IDoorSensorFactory
{
    IDoorSensor Create(ContainerOptions container);
}

/// <summary>A reed switch on a GPIO line: the line's active level means the door is closed (the switch is held by its magnet).</summary>
public sealed class GpiodDoorSensor(DoorSensorOptions options) : IDoorSensor
{
    private GpiodLine? _line;

    public bool TryOpen(out string error)
    {
        var ok = GpiodLine.TryOpen(options.Chip, options.Line, "piorchestrator", options.ActiveLow, options.Bias, out _line, out error);
        return ok;
    }

    public bool ReadIsOpen() =>
        _line!.TryReadValue(out var active, out var error) ? !active : throw new IOException(error);

    public DoorEdge? WaitForEdge(TimeSpan timeout) =>
        _line!.TryWaitEdge(timeout, out var rising, out var at) ? new DoorEdge(IsOpen: !rising, at) : null;

    public void Dispose() => _line?.Dispose();
}

public sealed class GpiodDoorSensorFactory : IDoorSensorFactory
{
    public IDoorSensor Create(ContainerOptions container) => new GpiodDoorSensor(container.Door!);
}
