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
    /// <summary>
    /// Completed by the session engine once the event is recorded (the commit that stores its id with the session
    /// change it caused) or deliberately dropped. MQTT events carry one (their PUBACK); GPIO and demo events none.
    /// </summary>
    public IDoorEventAck? Ack { get; init; }

    public bool IsOpening => Kind is DoorEventKind.OpenRequested or DoorEventKind.Opened;

    public static string Word(DoorEventKind kind) => kind switch
    {
        DoorEventKind.OpenRequested => "open_requested",
        DoorEventKind.Opened => "opened",
        _ => "closed",
    };
}

/// <summary>Tells the event's source that the agent is done with it: the source may now forget it.</summary>
public interface IDoorEventAck
{
    /// <summary>Must not block (the session engine's loop calls it).</summary>
    void Acknowledge();
}

/// <summary>Where door sources hand their events; the session engine implements it.</summary>
public interface IDoorEventSink
{
    bool Post(DoorEvent doorEvent);
}
