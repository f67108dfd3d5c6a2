using System.Diagnostics.Metrics;
using PiOrchestrator.Hosting;
using PiOrchestrator.Sessions;

namespace PiOrchestrator.Doors;

/// <summary>Door events and floods, counted on the agent's meter.</summary>
public static class DoorMetrics
{
    private static readonly Counter<long> DoorEvents = AgentMeter.Meter.CreateCounter<long>("piorchestrator.door.events",
        description: "Door events heard, by source (mqtt, gpio, demo) and what became of them");

    private static readonly Counter<long> DoorEventFloods = AgentMeter.Meter.CreateCounter<long>("piorchestrator.door.event.floods",
        description: "Times a container's door events began to arrive faster than Doors:FloodEventsPerMinute, by container");

    /// <summary>A door event: <paramref name="result"/> is accepted, dropped (late or merged), duplicate, unknown_container, retained or invalid.</summary>
    public static void DoorEvent(DoorEventSource source, string result) =>
        DoorEvents.Add(1, new KeyValuePair<string, object?>("source", SourceName(source)), new KeyValuePair<string, object?>("result", result));

    public static void DoorEventFlood(string containerId) => DoorEventFloods.Add(1, new KeyValuePair<string, object?>("container", containerId));

    private static string SourceName(DoorEventSource source) => source switch
    {
        DoorEventSource.Mqtt => "mqtt",
        DoorEventSource.Gpio => "gpio",
        _ => "demo",
    };
}
