using System.Diagnostics.Metrics;
using PiOrchestrator.Doors;
using PiOrchestrator.Evidence;

namespace PiOrchestrator.Metrics;

/// <summary>
/// The agent's event counters, recorded where things happen (one call each). Static, so a recording point needs no
/// new constructor parameter; the Prometheus exporter reads them from the "PiOrchestrator" meter (<c>/metrics</c>).
/// Names become <c>piorchestrator_*</c> series: dots turn to underscores, counters gain <c>_total</c>, units a suffix.
/// </summary>
public static class AgentMetrics
{
    public const string MeterName = "PiOrchestrator";

    private static readonly Meter Meter = new(MeterName, Api.StatusApi.Version);

    private static readonly Counter<long> DoorEvents = Meter.CreateCounter<long>("piorchestrator.door.events",
        description: "Door events heard, by source (mqtt, gpio, demo) and what became of them");

    private static readonly Counter<long> DoorEventFloods = Meter.CreateCounter<long>("piorchestrator.door.event.floods",
        description: "Times a container's door events began to arrive faster than Doors:FloodEventsPerMinute, by container");

    private static readonly Counter<long> Captures = Meter.CreateCounter<long>("piorchestrator.captures",
        description: "Captures, by container, tag (BEFORE_OPEN, AFTER_CLOSE, MANUAL), status (captured, failed) and a failure's reason");

    // Buckets around an ESP32-CAM's answer time: ~0.1-0.5 s when well, the 5 s default deadline when not.
    private static readonly Histogram<double> CaptureLatency = Meter.CreateHistogram("piorchestrator.capture.latency", unit: "s",
        description: "Time the camera took to answer a capture (failures included), by container",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 3, 5, 10] });

    private static readonly Counter<long> Uploads = Meter.CreateCounter<long>("piorchestrator.uploads",
        description: "Upload attempts to S3 by result: uploaded, retry (a transient failure, tried again), failed (refused for good)");

    /// <summary>A door event: <paramref name="result"/> is accepted, dropped (late or merged), duplicate, unknown_container, retained or invalid.</summary>
    public static void DoorEvent(DoorEventSource source, string result) =>
        DoorEvents.Add(1, new KeyValuePair<string, object?>("source", SourceName(source)), new KeyValuePair<string, object?>("result", result));

    public static void DoorEventFlood(string containerId) => DoorEventFloods.Add(1, new KeyValuePair<string, object?>("container", containerId));

    public static void Capture(EvidenceRecord record, TimeSpan cameraLatency)
    {
        var container = new KeyValuePair<string, object?>("container", record.ContainerId);
        Captures.Add(1, container, new KeyValuePair<string, object?>("tag", EvidenceNames.Of(record.Tag)),
            new KeyValuePair<string, object?>("status", record.IsCaptured ? "captured" : "failed"),
            new KeyValuePair<string, object?>("reason", ReasonLabel(record.FailureReason)));
        // A capture that never reached the camera (busy, agent stopping) says nothing about its latency.
        if (cameraLatency > TimeSpan.Zero) CaptureLatency.Record(cameraLatency.TotalSeconds, container);
    }

    /// <summary>A failure's reason as a label: the fixed words, with every HTTP status as "http" and every storage error as "storage_failed".</summary>
    private static string ReasonLabel(string? reason) => reason switch
    {
        null => "",
        _ when reason.StartsWith("http_", StringComparison.Ordinal) && reason != PiOrchestrator.Capture.CaptureFailure.HttpError => "http",
        _ when reason.StartsWith(PiOrchestrator.Capture.CaptureFailure.StorageFailed, StringComparison.Ordinal) => PiOrchestrator.Capture.CaptureFailure.StorageFailed,
        _ => reason,
    };

    public static void Upload(string result) => Uploads.Add(1, new KeyValuePair<string, object?>("result", result));

    private static string SourceName(DoorEventSource source) => source switch
    {
        DoorEventSource.Mqtt => "mqtt",
        DoorEventSource.Gpio => "gpio",
        _ => "demo",
    };
}
