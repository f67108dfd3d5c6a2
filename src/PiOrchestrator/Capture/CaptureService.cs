using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;
using PiOrchestrator.Jpeg;
using PiOrchestrator.Site;
using PiOrchestrator.Store;
using Polly;
using Polly.Retry;

namespace PiOrchestrator.Capture;

/// <summary>
/// Takes one picture for a session and stores the outcome, good or failed, before anything else hears of it.
/// Captures on different cameras run in parallel; one camera takes one capture at a time.
/// </summary>
public sealed partial class CaptureService(
    CameraClient camera,
    EvidenceStore store,
    ImageCache cache,
    CameraHealth health,
    FrameFreshness freshness,
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
                // The camera is ready again at once after a failed grab (it closed the connection) and after a grab
                // that got no answer for a whole attempt; only a camera that could not be reached gets a pause.
                DelayGenerator = args => ValueTask.FromResult<TimeSpan?>(
                    args.Outcome.Result.FailureReason is CaptureFailure.Offline ? null : TimeSpan.Zero),
            })
            .Build();

    /// <summary>True while a capture holds the camera (status polls leave it alone then).</summary>
    public bool IsBusy(string cameraUrl) => _cameraGates.TryGetValue(cameraUrl, out var gate) && gate.Busy;

    /// <summary>The deadlines a capture on this container's camera gets now (its frame size as last known).</summary>
    public CaptureDeadlines DeadlinesFor(ContainerOptions container) =>
        CaptureDeadlines.For(_options, CameraFrameSizes.ByName(container.FrameSize) ?? health.Get(container.CameraId).FrameSize ?? CameraFrameSizes.Largest);

    public async Task<EvidenceRecord> CaptureAsync(ContainerOptions container, string sessionId, CaptureTag tag, CancellationToken cancellationToken)
    {
        var requestedAt = time.GetUtcNow();
        var asked = Stopwatch.GetTimestamp();
        var trail = new List<string>();
        var grab = await GrabUnderCameraLockAsync(container, tag, trail, cancellationToken);
        // Cut by the agent stopping, not by the camera: the camera's deadline did not pass.
        if (!grab.Ok && cancellationToken.IsCancellationRequested)
            grab = new GrabResult(null, CaptureFailure.Interrupted, "agent stopping", grab.Latency);
        var capturedAt = time.GetUtcNow();
        var id = Guid.CreateVersion7(capturedAt);
        EvidenceRecord record;
        if (grab.Ok)
        {
            var frame = grab.Frame!;
            record = CapturedRecord(container, sessionId, tag, capturedAt, id, EvidenceRecord.ObjectKeyFor(container.Id, sessionId, tag, capturedAt, id), grab, asked);
            health.RecordSuccess(container.CameraId, record.LatencyMs);
            record = Persist(record, frame, grab.Thumbnail);
            if (record.IsCaptured && grab.Thumbnail is not null) cache.Set(ImageCache.ThumbnailKey(record.ObjectKey!), grab.Thumbnail);
        }
        else
        {
            // Neither the agent stopping nor a door taking the camera says anything about the camera's health.
            if (grab.FailureReason is not (CaptureFailure.Interrupted or CaptureFailure.Preempted) && grab.Latency > TimeSpan.Zero)
                health.RecordFailure(container.CameraId, grab.FailureReason!);
            record = Persist(FailedRecord(container, sessionId, tag, id, capturedAt, grab.FailureReason!), []);
        }

        var elapsed = (time.GetUtcNow() - requestedAt).TotalMilliseconds;
        CaptureMetrics.Capture(record, grab.Latency);
        var grabs = trail.Count == 0 ? "no grab" : string.Join(", ", trail);
        if (record.IsCaptured)
            log.LogInformation("Captured {Tag} for {ContainerId} session {SessionId}: {Bytes} bytes, {DelayMs} ms after it was asked for ({Grabs}), stored in {ElapsedMs:F0} ms total",
                EvidenceNames.Of(tag), container.Id, sessionId, record.ImageSizeBytes, record.DelayMs, grabs, elapsed);
        else
            log.LogWarning("Capture {Tag} for {ContainerId} session {SessionId} failed: {Reason} ({Detail}; {Grabs})",
                EvidenceNames.Of(tag), container.Id, sessionId, record.FailureReason, grab.Detail ?? "storage", grabs);
        return record;
    }

    /// <summary>A failed row for a capture that could not even be attempted (the agent stopped mid-capture).</summary>
    /// <summary>The row of a good grab, before it is stored: its hash, size, key and timings (<paramref name="asked"/>: a Stopwatch timestamp).</summary>
    private static EvidenceRecord CapturedRecord(
        ContainerOptions container, string sessionId, CaptureTag tag, DateTimeOffset capturedAt, Guid id, string objectKey, GrabResult grab, long asked) => new()
    {
        EvidenceId = id,
        SessionId = sessionId,
        ContainerId = container.Id,
        DeviceId = container.CameraId,
        Tag = tag,
        Status = CaptureStatus.Captured,
        CapturedAt = capturedAt,
        CreatedAt = capturedAt,
        ImageSizeBytes = grab.Frame!.Length,
        Sha256 = Convert.ToHexStringLower(SHA256.HashData(grab.Frame)),
        ObjectKey = objectKey,
        LatencyMs = (int)grab.Latency.TotalMilliseconds,
        DelayMs = (int)Stopwatch.GetElapsedTime(asked, grab.AnsweredAt).TotalMilliseconds,
        Width = grab.Width,
        Height = grab.Height,
        BytesHeld = true,
    };

    public EvidenceRecord RecordFailure(ContainerOptions container, string sessionId, CaptureTag tag, string reason)
    {
        var now = time.GetUtcNow();
        return Persist(FailedRecord(container, sessionId, tag, Guid.CreateVersion7(now), now, reason), []);
    }

    /// <summary>
    /// One camera, one capture at a time, door captures first (<see cref="CameraGate"/>). A BEFORE_OPEN's deadline
    /// starts when it is asked for, wait included: taken seconds late it would no longer show the container before
    /// the door opened. An AFTER_CLOSE still shows the closed door after waiting for the camera (a BEFORE_OPEN of a
    /// door that closed at once, its grab failing slowly): its deadline starts when it has the camera, and the wait
    /// is bounded apart. With test captures out of the way a door capture waits only for another door's.
    /// </summary>
    private async Task<GrabResult> GrabUnderCameraLockAsync(ContainerOptions container, CaptureTag tag, List<string> trail, CancellationToken cancellationToken)
    {
        var gate = _cameraGates.GetOrAdd(container.CameraUrl, _ => new CameraGate());
        var deadlines = DeadlinesFor(container);
        using var deadlineSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        IDisposable lease;
        if (tag == CaptureTag.Manual)
        {
            deadlineSource.CancelAfter(deadlines.Capture);
            if (!gate.TryEnterPreemptible(deadlineSource.Token, out lease, out var preempted))
                return new GrabResult(null, CaptureFailure.Preempted, "the camera is taking a door's photo", TimeSpan.Zero);
            using var _ = lease;
            var manual = await GrabAsync(container, deadlines, trail, preempted);
            return !manual.Ok && preempted.IsCancellationRequested && !deadlineSource.IsCancellationRequested && !cancellationToken.IsCancellationRequested
                ? new GrabResult(null, CaptureFailure.Preempted, "a door capture needed the camera", TimeSpan.Zero)
                : manual;
        }
        var beforeOpen = tag == CaptureTag.BeforeOpen;
        deadlineSource.CancelAfter(beforeOpen ? deadlines.Capture : deadlines.Capture * 2);
        try
        {
            lease = await gate.EnterForDoorAsync(deadlineSource.Token);
        }
        catch (OperationCanceledException)
        {
            return cancellationToken.IsCancellationRequested
                ? new GrabResult(null, CaptureFailure.Interrupted, "agent stopping", TimeSpan.Zero)
                : new GrabResult(null, CaptureFailure.Busy, "the camera was taking another door's photo until the deadline", TimeSpan.Zero);
        }
        using (lease)
        {
            if (!beforeOpen) deadlineSource.CancelAfter(deadlines.Capture);
            return await GrabAsync(container, deadlines, trail, deadlineSource.Token);
        }
    }

    /// <summary>Attempts inside <paramref name="deadline"/>, each a fresh frame and its decode check; the last real failure wins.</summary>
    private async Task<GrabResult> GrabAsync(ContainerOptions container, CaptureDeadlines deadlines, List<string> trail, CancellationToken deadline)
    {
        GrabResult? lastFailure = null;
        // Circuit open: a camera offline several times running gets one attempt per capture, not a full retry
        // budget, until a capture or a status poll finds it again. Never zero: a skipped capture is a lost photo.
        var pipeline = health.IsDown(container.CameraId, _options.BreakAfterFailures) ? ResiliencePipeline<GrabResult>.Empty : _retry;
        try
        {
            var result = await pipeline.ExecuteAsync(async token =>
            {
                var grab = await GrabFreshAsync(container, deadlines.Attempt, trail, token);
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

    /// <summary>
    /// One attempt: grabs until a frame known to be fresh (<see cref="FrameFreshness"/>), or past the configured
    /// number of flush grabs. A stale frame is never returned.
    /// </summary>
    private async Task<GrabResult> GrabFreshAsync(ContainerOptions container, TimeSpan perGrab, List<string> trail, CancellationToken token)
    {
        var url = new Uri(container.CameraUrl.EndsWith('/') ? container.CameraUrl : container.CameraUrl + "/");
        var maxBytes = storageOptions.Value.MaxImageBytes;
        var flush = container.FlushFrames ?? _options.FlushFrames;
        var followsOwnGrab = false;
        // A frame grabbed right after the agent's own grab is fresh on any camera, so a third grab is never needed.
        var most = flush is { } configured ? configured + 1 : 2;
        for (var grabs = 1; ; grabs++)
        {
            var grab = await GrabOnceAsync(url, maxBytes, perGrab, token);
            if (!grab.Ok)
            {
                trail.Add($"{grab.FailureReason} {grab.Latency.TotalSeconds:F1} s");
                return grab;
            }
            var verdict = freshness.Observe(container.CameraUrl, container.CameraId, grab, followsOwnGrab);
            var keep = flush is not null ? grabs == most : verdict == FrameFreshness.Verdict.Fresh;
            trail.Add($"{(keep ? "frame" : verdict == FrameFreshness.Verdict.Stale ? "stale frame" : "first frame")} {grab.Latency.TotalSeconds:F1} s");
            if (keep) return grab;
            if (grabs >= most)
                return new GrabResult(null, CaptureFailure.StaleFrame, "the camera kept sending frames older than the request", grab.Latency) { AnsweredAt = grab.AnsweredAt };
            followsOwnGrab = true;
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
