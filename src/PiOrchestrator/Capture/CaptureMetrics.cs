using System.Diagnostics.Metrics;
using PiOrchestrator.Hosting;
using PiOrchestrator.Jpeg;
using PiOrchestrator.Store;

namespace PiOrchestrator.Capture;

/// <summary>Captures and the camera's answer time, on the agent's meter.</summary>
public static class CaptureMetrics
{
    private static readonly Counter<long> Captures = AgentMeter.Meter.CreateCounter<long>("piorchestrator.captures",
        description: "Captures, by container, tag (BEFORE_OPEN, AFTER_CLOSE, MANUAL), status (captured, failed) and a failure's reason");

    // Buckets around an ESP32-CAM's answer time: ~0.1-0.5 s when well, the 5 s default deadline when not.
    private static readonly Histogram<double> CaptureLatency = AgentMeter.Meter.CreateHistogram("piorchestrator.capture.latency", unit: "s",
        description: "Time the camera took to answer a capture (failures included), by container",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 3, 5, 10] });

    private static readonly Counter<long> Frames = AgentMeter.Meter.CreateCounter<long>("piorchestrator.frames",
        description: "Timelapse (DURING_OPEN) frames, by container, outcome (captured, skipped: the camera was wanted for a door's photo or the door closed, failed) and reason");

    public static void Frame(string containerId, string outcome, string? reason) =>
        Frames.Add(1, new KeyValuePair<string, object?>("container", containerId), new KeyValuePair<string, object?>("outcome", outcome),
            new KeyValuePair<string, object?>("reason", ReasonLabel(reason)));

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
        _ when reason.StartsWith("http_", StringComparison.Ordinal) && reason != CaptureFailure.HttpError => "http",
        _ when reason.StartsWith(CaptureFailure.StorageFailed, StringComparison.Ordinal) => CaptureFailure.StorageFailed,
        _ => reason,
    };
}
