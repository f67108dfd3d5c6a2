using System.Diagnostics;
using System.Security.Cryptography;
using Microsoft.Data.Sqlite;
using PiOrchestrator.Jpeg;
using PiOrchestrator.Site;
using PiOrchestrator.Store;

namespace PiOrchestrator.Capture;

/// <summary>What became of one timelapse frame: stored (with its row), skipped (the camera was wanted elsewhere) or failed.</summary>
public sealed record FrameOutcome(EvidenceRecord? Record, string Outcome, string? Reason, string? Detail)
{
    public const string Captured = "captured";
    public const string Skipped = "skipped";
    public const string Failed = "failed";
}

/// <summary>
/// DURING_OPEN frames: each goes through the same grab, freshness and decode checks as a door's photo and is stored,
/// signed and chained like one, but it only ever takes a free camera and gives it up to a door capture at once. A
/// frame that cannot be taken leaves no row (a row per missed frame would flood a session with a camera away); it
/// is counted and logged instead.
/// </summary>
public sealed partial class CaptureService
{
    public async Task<FrameOutcome> CaptureFrameAsync(ContainerOptions container, string sessionId, int sequence, FrameRun run, CancellationToken stopping)
    {
        var asked = Stopwatch.GetTimestamp();
        var gate = _cameraGates.GetOrAdd(container.CameraUrl, _ => new CameraGate());
        var deadlines = DeadlinesFor(container);
        using var deadlineSource = CancellationTokenSource.CreateLinkedTokenSource(stopping, run.Stopping);
        deadlineSource.CancelAfter(deadlines.Capture);
        if (!gate.TryEnterPreemptible(deadlineSource.Token, out var lease, out var preempted))
            return new FrameOutcome(null, FrameOutcome.Skipped, CaptureFailure.Busy, "the camera was taking another photo");
        var trail = new List<string>();
        GrabResult grab;
        using (lease)
            grab = await GrabAsync(container, deadlines, trail, preempted);
        if (run.Stopped || stopping.IsCancellationRequested)
            return new FrameOutcome(null, FrameOutcome.Skipped, CaptureFailure.Interrupted, "the door closed or the agent is stopping");
        if (!grab.Ok)
            return preempted.IsCancellationRequested && !deadlineSource.IsCancellationRequested
                ? new FrameOutcome(null, FrameOutcome.Skipped, CaptureFailure.Preempted, "a door capture needed the camera")
                : new FrameOutcome(null, FrameOutcome.Failed, grab.FailureReason, $"{grab.Detail}; {string.Join(", ", trail)}");

        var frame = grab.Frame!;
        var capturedAt = time.GetUtcNow();
        var id = Guid.CreateVersion7(capturedAt);
        var record = CapturedRecord(container, sessionId, CaptureTag.DuringOpen, capturedAt, id,
            EvidenceRecord.FrameKeyFor(container.Id, sessionId, sequence, capturedAt, id), grab, asked) with { Sequence = sequence };
        health.RecordSuccess(container.CameraId, record.LatencyMs);
        try
        {
            // Under the run's lock: a close handled meanwhile means the frame shows a moment after it, and is dropped.
            if (!run.StoreUnlessStopped(() => record = store.SaveEvidence(record, frame, grab.Thumbnail)))
                return new FrameOutcome(null, FrameOutcome.Skipped, CaptureFailure.Interrupted, "the door closed while the frame was taken");
        }
        catch (Exception ex) when (ex is SqliteException or IOException)
        {
            return new FrameOutcome(null, FrameOutcome.Failed, CaptureFailure.StorageFailed, ex.Message);
        }
        cache.Set(record.ObjectKey!, frame);
        if (grab.Thumbnail is not null) cache.Set(ImageCache.ThumbnailKey(record.ObjectKey!), grab.Thumbnail);
        CaptureMetrics.Capture(record, grab.Latency);
        log.LogDebug("Frame {Sequence} for {ContainerId} session {SessionId}: {Bytes} bytes ({Grabs})",
            sequence, container.Id, sessionId, record.ImageSizeBytes, string.Join(", ", trail));
        return new FrameOutcome(record, FrameOutcome.Captured, null, null);
    }
}
