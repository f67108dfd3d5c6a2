namespace PiOrchestrator.Doors;

public enum DoorEventKind { OpenRequested, Opened, Closed }

public enum DoorEventSource { Mqtt, Gpio, Demo }

/// <summary>A door report from any source, as the session engine sees it.</summary>
public sealed record DoorEvent(
    string ContainerId,
    DoorEventKind Kind,
    DoorEventSource Source,
    DateTimeOffset ReceivedAt,
    string? EventId = null,
    string? SessionId = null,
    DateTimeOffset? Timestamp = null)
{
    public bool IsOpening => Kind is DoorEventKind.OpenRequested or DoorEventKind.Opened;

    public static string Word(DoorEventKind kind) => kind switch
    {
        DoorEventKind.OpenRequested => "open_requested",
        DoorEventKind.Opened => "opened",
        _ => "closed",
    };
}

/// <summary>Where door sources hand their events; the session engine implements it.</summary>
public interface IDoorEventSink
{
    bool Post(DoorEvent doorEvent);
}
