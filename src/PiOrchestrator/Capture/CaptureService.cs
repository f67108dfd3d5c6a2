using System.Collections.Concurrent;
using System.Security.Cryptography;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;
using PiOrchestrator.Evidence;
using PiOrchestrator.Site;

namespace PiOrchestrator.Capture;

/// <summary>
/// Takes one picture for a session and stores the outcome, good or failed, before anything else hears of it.
/// Captures on different cameras run in parallel; one camera takes one capture at a time.
/// </summary>
public sealed class CaptureService(
    CameraClient camera,
    EvidenceStore store,
    ImageCache cache,
    CameraHealth health,
    IOptions<CaptureOptions> captureOptions,
    IOptions<StorageOptions> storageOptions,
    TimeProvider time,
    ILogger<CaptureService> log)
{
    private readonly CaptureOptions _options = captureOptions.Value;
    private readonly ConcurrentDictionary<string, CameraGate> _cameraGates = new(StringComparer.Ordinal);
    private readonly ResiliencePipeline<GrabResult> _retry = captureOptions.Value.Attempts <= 1
        // Polly refuses a retry strategy of zero retries: one attempt is no strategy at all.
        ? ResiliencePipeline<GrabResult>.Empty
        : new ResiliencePipelineBuilder<GrabResult>()
            .AddRetry(new RetryStrategyOptions<GrabResult>
            {
                MaxRetryAttempts = captureOptions.Value.Attempts - 1,
                Delay = TimeSpan.FromMilliseconds(100),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Result is { Ok: false } && !args.Context.CancellationToken.IsCancellationRequested),
            })
            .Build();

    /// <summary>True while a capture holds the camera (status polls leave it alone then).</summary>
    public bool IsBusy(string cameraUrl) => _cameraGates.TryGetValue(cameraUrl, out var gate) && gate.Busy;

    public async Task<EvidenceRecord> CaptureAsync(ContainerOptions container, string sessionId, CaptureTag tag, CancellationToken cancellationToken)
    {
        var requestedAt = time.GetUtcNow();
        var grab = await GrabUnderCameraLockAsync(container, tag, cancellationToken);
        // Cut by the agent stopping, not by the camera: the camera's deadline did not pass.
        if (!grab.Ok && cancellationToken.IsCancellationRequested)
            grab = new GrabResult(null, CaptureFailure.Interrupted, "agent stopping", grab.Latency);
        var capturedAt = time.GetUtcNow();
        var id = Guid.CreateVersion7(capturedAt);
        EvidenceRecord record;
        if (grab.Ok)
        {
            var frame = grab.Frame!;
            record = new EvidenceRecord
            {
                EvidenceId = id,
                SessionId = sessionId,
                ContainerId = container.Id,
                DeviceId = container.CameraId,
                Tag = tag,
                Status = CaptureStatus.Captured,
                CapturedAt = capturedAt,
                CreatedAt = capturedAt,
                ImageSizeBytes = frame.Length,
                Sha256 = Convert.ToHexStringLower(SHA256.HashData(frame)),
                ObjectKey = EvidenceRecord.ObjectKeyFor(container.Id, sessionId, tag, capturedAt, id),
                LatencyMs = (int)grab.Latency.TotalMilliseconds,
                Width = grab.Width,
                Height = grab.Height,
                BytesHeld = true,
            };
            health.RecordSuccess(container.CameraId, record.LatencyMs);
            record = Persist(record, frame, grab.Thumbnail);
            if (record.IsCaptured && grab.Thumbnail is not null) cache.Set(ImageCache.ThumbnailKey(record.ObjectKey!), grab.Thumbnail);
        }
        else
        {
            // Neither the agent stopping nor a door taking the camera says anything about the camera's health.
            if (grab.FailureReason is not (CaptureFailure.Interrupted or CaptureFailure.CameraBusy))
                health.RecordFailure(container.CameraId, grab.FailureReason!, grab.FailureReason is CaptureFailure.CameraOffline or CaptureFailure.Timeout);
            record = Persist(FailedRecord(container, sessionId, tag, id, capturedAt, grab.FailureReason!), []);
        }

        var elapsed = (time.GetUtcNow() - requestedAt).TotalMilliseconds;
        Metrics.AgentMetrics.Capture(record, grab.Latency);
        if (record.IsCaptured)
            log.LogInformation("Captured {Tag} for {ContainerId} session {SessionId}: {Bytes} bytes, camera {LatencyMs} ms, stored in {ElapsedMs:F0} ms total",
                EvidenceNames.Of(tag), container.Id, sessionId, record.ImageSizeBytes, record.LatencyMs, elapsed);
        else
            log.LogWarning("Capture {Tag} for {ContainerId} session {SessionId} failed: {Reason} ({Detail})",
                EvidenceNames.Of(tag), container.Id, sessionId, record.FailureReason, grab.Detail ?? "storage");
        return record;
    }

    /// <summary>A failed row for a capture that could not even be attempted (the agent stopped mid-capture).</summary>
    public EvidenceRecord RecordFailure(ContainerOptions container, string sessionId, CaptureTag tag, string reason)
    {
        var now = time.GetUtcNow();
        return Persist(FailedRecord(container, sessionId, tag, Guid.CreateVersion7(now), now, reason), []);
    }

    /// <summary>
    /// One camera, one capture at a time, door captures first (<see cref="CameraGate"/>). The deadline starts when the
    /// capture is asked for, wait included: a BEFORE_OPEN taken seconds late would no longer show the container
    /// before the door opened. With test captures out of the way a door capture waits only for another door's.
    /// </summary>
    private async Task<GrabResult> GrabUnderCameraLockAsync(ContainerOptions container, CaptureTag tag, CancellationToken cancellationToken)
    {
        var gate = _cameraGates.GetOrAdd(container.CameraUrl, _ => new CameraGate());
        using var deadlineSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadlineSource.CancelAfter(_options.TimeoutMs);
        IDisposable lease;
        if (tag == CaptureTag.Manual)
        {
            if (!gate.TryEnterForManual(deadlineSource.Token, out lease, out var preempted))
                return new GrabResult(null, CaptureFailure.CameraBusy, "the camera is taking a door's photo", TimeSpan.Zero);
            using var _ = lease;
            var manual = await GrabAsync(container, preempted);
            return !manual.Ok && preempted.IsCancellationRequested && !deadlineSource.IsCancellationRequested && !cancellationToken.IsCancellationRequested
                ? new GrabResult(null, CaptureFailure.CameraBusy, "a door capture needed the camera", manual.Latency)
                : manual;
        }
        try
        {
            lease = await gate.EnterForDoorAsync(deadlineSource.Token);
        }
        catch (OperationCanceledException)
        {
            return cancellationToken.IsCancellationRequested
                ? new GrabResult(null, CaptureFailure.Interrupted, "agent stopping", TimeSpan.Zero)
                : new GrabResult(null, CaptureFailure.Timeout, "the camera was busy with another door's capture until the deadline", TimeSpan.Zero);
        }
        using (lease) return await GrabAsync(container, deadlineSource.Token);
    }

    /// <summary>Flush grabs, then the real one and its decode check, retried inside <paramref name="deadline"/>.</summary>
    private async Task<GrabResult> GrabAsync(ContainerOptions container, CancellationToken deadline)
    {
        var url = new Uri(container.CameraUrl.EndsWith('/') ? container.CameraUrl : container.CameraUrl + "/");
        var maxBytes = storageOptions.Value.MaxImageBytes;
        var flush = container.FlushFrames ?? _options.FlushFrames;
        var perGrab = TimeSpan.FromMilliseconds(_options.AttemptTimeoutMs);
        GrabResult? lastFailure = null;
        // Circuit open: a camera unreachable several times running gets one attempt per capture, not a full
        // retry budget, until a capture or a status poll finds it again. Never zero: a skipped capture is a lost photo.
        var pipeline = health.IsDown(container.CameraId, _options.BreakAfterFailures) ? ResiliencePipeline<GrabResult>.Empty : _retry;
        try
        {
            var result = await pipeline.ExecuteAsync(async token =>
            {
                // The first frame after idle is the one taken at the previous grab: throw it away.
                for (var i = 0; i < flush; i++)
                {
                    var stale = await GrabOnceAsync(url, maxBytes, perGrab, token);
                    if (stale.FailureReason is CaptureFailure.CameraOffline or CaptureFailure.Timeout)
                    {
                        if (!(deadline.IsCancellationRequested && lastFailure is not null)) lastFailure = stale;
                        return stale;
                    }
                }
                var grab = await GrabOnceAsync(url, maxBytes, perGrab, token);
                var checkedGrab = grab.Ok ? Decode(grab) : grab;
                if (!checkedGrab.Ok && !(deadline.IsCancellationRequested && lastFailure is not null)) lastFailure = checkedGrab;
                return checkedGrab;
            }, deadline);
            return result.Ok ? result : lastFailure ?? result;
        }
        catch (OperationCanceledException)
        {
            // The deadline fell during a retry pause: the last real failure says more than "timeout".
            return lastFailure ?? new GrabResult(null, CaptureFailure.Timeout, "capture deadline passed", TimeSpan.Zero);
        }
    }

    private async Task<GrabResult> GrabOnceAsync(Uri url, int maxBytes, TimeSpan limit, CancellationToken deadline)
    {
        using var grabDeadline = CancellationTokenSource.CreateLinkedTokenSource(deadline);
        grabDeadline.CancelAfter(limit);
        return await camera.GrabAsync(url, maxBytes, grabDeadline.Token);
    }

    /// <summary>A frame counts only if it decodes without a single warning.</summary>
    private GrabResult Decode(GrabResult grab)
    {
        var check = JpegCodec.Check(grab.Frame, _options.MaxWidth, _options.MaxHeight, out var thumbnail);
        return check.Ok
            ? grab with { Width = check.Width, Height = check.Height, Thumbnail = thumbnail }
            : new GrabResult(null, check.FailureReason, $"{grab.Frame!.Length}-byte frame does not decode: {check.Detail}", grab.Latency);
    }

    private EvidenceRecord Persist(EvidenceRecord record, byte[] frame, byte[]? thumbnail = null)
    {
        try
        {
            record = store.SaveEvidence(record, frame, thumbnail);
            if (record.IsCaptured) cache.Set(record.ObjectKey!, frame);
            return record;
        }
        catch (SqliteException ex)
        {
            // Disk full or I/O error: the frame is lost, but the attempt must still be on record if at all possible.
            log.LogError("Storing {Tag} for session {SessionId} failed: {Error}", EvidenceNames.Of(record.Tag), record.SessionId, ex.Message);
            var failed = record with
            {
                Status = CaptureStatus.Failed,
                FailureReason = $"{CaptureFailure.StorageFailed}: {ex.SqliteErrorCode switch { 13 => "disk full", 10 => "I/O error", _ => $"sqlite error {ex.SqliteErrorCode}" }}",
                ImageSizeBytes = null,
                Sha256 = null,
                ObjectKey = null,
                UploadStatus = UploadStatus.None,
                BytesHeld = false,
            };
            if (record.IsCaptured)
                return store.SaveEvidence(failed, []);
            return failed;
        }
    }

    private static EvidenceRecord FailedRecord(ContainerOptions container, string sessionId, CaptureTag tag, Guid id, DateTimeOffset at, string reason) => new()
    {
        EvidenceId = id,
        SessionId = sessionId,
        ContainerId = container.Id,
        DeviceId = container.CameraId,
        Tag = tag,
        Status = CaptureStatus.Failed,
        FailureReason = reason,
        CapturedAt = at,
        CreatedAt = at,
        UploadStatus = UploadStatus.None,
        BytesHeld = false,
    };
}
