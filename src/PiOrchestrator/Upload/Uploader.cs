using Amazon.Runtime;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;
using PiOrchestrator.Hosting;
using PiOrchestrator.Store;
using Polly;
using Polly.CircuitBreaker;

namespace PiOrchestrator.Upload;

/// <summary>
/// Store and forward: drains pending captures to S3 oldest first. Each object is verified after the put (length
/// and MD5 ETag) before its row is marked uploaded. Retries have no limit (jittered, capped at 5 minutes), and a
/// circuit breaker keeps a dead S3 from costing anything between attempts.
/// </summary>
public sealed class Uploader : BackgroundService
{
    private readonly EvidenceStore _store;
    private readonly S3ObjectStore _s3;
    private readonly UploadState _state;
    private readonly S3Options _options;
    private readonly TimeProvider _time;
    private readonly ILogger<Uploader> _log;
    private readonly SemaphoreSlim _wake = new(0, int.MaxValue);
    private readonly ResiliencePipeline _pipeline;
    private readonly ResiliencePipeline _passes;
    private readonly Hosting.LoopHeartbeats _heartbeats;
    private const string HeartbeatName = "uploader";
    private static readonly TimeSpan IdleWait = TimeSpan.FromSeconds(10);

    /// <summary>One put + head, each bounded by the request timeout.</summary>
    private TimeSpan AttemptBudget => TimeSpan.FromSeconds(_options.RequestTimeoutSeconds * 2);

    public Uploader(EvidenceStore store, S3ObjectStore s3, UploadState state, IOptions<S3Options> options, Hosting.LoopHeartbeats heartbeats,
        TimeProvider time, ILogger<Uploader> log)
    {
        _heartbeats = heartbeats;
        _store = store;
        _s3 = s3;
        _state = state;
        _options = options.Value;
        _time = time;
        _log = log;
        // The breaker's pause is a duration: on the wall clock a step back would keep it open for the step's size.
        _pipeline = new ResiliencePipelineBuilder { TimeProvider = new Hosting.MonotonicTimeProvider(time) }
            .AddRetry(new Backoff(TimeSpan.FromMilliseconds(_options.RetryBaseDelayMs), MaxBackoff, Jitter: true).Forever(
                args => ValueTask.FromResult(args.Outcome.Exception is { } ex && !S3ObjectStore.IsPermanent(ex)
                                             && !(ex is OperationCanceledException && args.Context.CancellationToken.IsCancellationRequested)),
                args =>
                {
                    // Waiting out a backoff on purpose is not a hang.
                    _heartbeats.Beat(HeartbeatName, args.RetryDelay + AttemptBudget);
                    var ex = args.Outcome.Exception!;
                    UploadMetrics.Upload("retry");
                    if (ex is not BrokenCircuitException)
                        _state.RecordFailure(_s3.Describe(ex), _s3.IsCredentialProblem(ex), IsUnreachable(ex));
                    if (args.Context.Properties.TryGetValue(RowKey, out var row))
                    {
                        try
                        {
                            _store.SetUploadStatus(row, UploadStatus.Pending, _s3.Describe(ex));
                        }
                        catch (SqliteException sql)
                        {
                            // Only the row's last error is lost; the retry goes on.
                            _log.LogWarning("Recording the upload error of {Key} failed: {Error}", row.ObjectKey, sql.Message);
                        }
                    }
                    return ValueTask.CompletedTask;
                }))
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                FailureRatio = 1.0,
                MinimumThroughput = 3,
                SamplingDuration = TimeSpan.FromMinutes(1),
                BreakDuration = TimeSpan.FromSeconds(_options.BreakSeconds),
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is { } ex && !S3ObjectStore.IsPermanent(ex)),
            })
            .Build();
        _passes = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(PassBackoff(_options).Forever(
                args => ValueTask.FromResult(args.Outcome.Exception is { } ex
                                             && !(ex is OperationCanceledException && args.Context.CancellationToken.IsCancellationRequested)),
                args =>
                {
                    // The store or anything else failing is no reason to stop uploading for good: wait, then try again.
                    _log.LogError(args.Outcome.Exception, "Upload pass failed; retrying in {Seconds:F1} s (captures stay pending)", args.RetryDelay.TotalSeconds);
                    _heartbeats.Beat(HeartbeatName, args.RetryDelay + AttemptBudget);
                    return ValueTask.CompletedTask;
                }))
            .Build();
        store.EvidenceStored += e =>
        {
            if (e.UploadStatus == UploadStatus.Pending) _wake.Release();
        };
    }

    public static readonly TimeSpan MaxBackoff = TimeSpan.FromMinutes(5);

    /// <summary>A failed pass (the store, not S3: that is retried per object) waits S3:RetryBaseDelayMs, doubling up to 5 minutes.</summary>
    internal static Backoff PassBackoff(S3Options options) => new(TimeSpan.FromMilliseconds(options.RetryBaseDelayMs), MaxBackoff);
    private static readonly ResiliencePropertyKey<EvidenceRecord> RowKey = new("evidence");


    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_s3.Configured)
        {
            _log.LogInformation("S3:Endpoint is not set: captures are kept on this agent and not uploaded");
            return;
        }
        var (interrupted, failed) = _store.ResetUploadsForRetry();
        if (interrupted + failed > 0)
            _log.LogInformation("Uploads to retry after restart: {Interrupted} interrupted, {Failed} previously failed", interrupted, failed);

        try
        {
            await EnsureBucketAsync(stoppingToken);
            while (!stoppingToken.IsCancellationRequested)
                await _passes.ExecuteAsync(PassAsync, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            _heartbeats.Retire(HeartbeatName);
        }
    }

    /// <summary>One batch of pending uploads, or the idle wait when there is none.</summary>
    private async ValueTask PassAsync(CancellationToken stoppingToken)
    {
        _heartbeats.Beat(HeartbeatName, IdleWait + AttemptBudget);
        var batch = _store.NextPendingUploads(32);
        if (batch.Count == 0)
        {
            await _wake.WaitAsync(IdleWait, stoppingToken);
            return;
        }
        await Parallel.ForEachAsync(batch, new ParallelOptions { MaxDegreeOfParallelism = _options.ParallelUploads, CancellationToken = stoppingToken },
            async (row, ct) => await UploadAsync(row, ct));
    }

    /// <summary>
    /// HeadBucket, PutBucket if missing; retried while S3 is unreachable. A refusal is logged and shown in status, and
    /// uploads are tried anyway: a least-privilege user may not check or create the bucket yet may put objects in it.
    /// </summary>
    private async Task EnsureBucketAsync(CancellationToken stoppingToken)
    {
        try
        {
            await _pipeline.ExecuteAsync(async ct =>
            {
                _heartbeats.Beat(HeartbeatName, AttemptBudget);
                await _s3.EnsureBucketAsync(ct);
            }, stoppingToken);
            _state.RecordReachable(true);
            _log.LogInformation("Uploading to bucket {Bucket} at {Endpoint}", _s3.Bucket, _options.Endpoint);
        }
        catch (Exception ex) when (!(ex is OperationCanceledException && stoppingToken.IsCancellationRequested))
        {
            var reason = _s3.Describe(ex);
            _state.RecordFailure("bucket check: " + reason, _s3.IsCredentialProblem(ex), IsUnreachable(ex));
            _log.LogWarning("Bucket {Bucket} at {Endpoint} could not be checked or created ({Reason}); uploading to it anyway", _s3.Bucket, _options.Endpoint, reason);
        }
    }

    private async Task UploadAsync(EvidenceRecord row, CancellationToken ct)
    {
        var bytes = _store.ReadImage(row.EvidenceId);
        if (bytes is null)
        {
            _log.LogError("Capture {EvidenceId} ({Key}) is pending upload but its bytes are not in the store", row.EvidenceId, row.ObjectKey);
            _store.SetUploadStatus(row, UploadStatus.Failed, "local bytes missing");
            return;
        }
        var context = ResilienceContextPool.Shared.Get(ct);
        context.Properties.Set(RowKey, row);
        try
        {
            await _pipeline.ExecuteAsync(async (ctx, _) =>
            {
                _heartbeats.Beat(HeartbeatName, AttemptBudget);
                _store.SetUploadStatus(row, UploadStatus.Uploading, null);
                while (true)
                {
                    var key = row.ObjectKey!;
                    var put = await _s3.PutAndVerifyAsync(row, key, bytes, ctx.CancellationToken);
                    if (put.Occupant is { } occupant)
                    {
                        row = MoveAside(row, occupant);
                        continue;
                    }
                    if (put.Check == ObjectCheck.Ok) return;
                    // Nothing is deleted: the next attempt finds other bytes at the key and moves the capture aside.
                    throw new UploadVerificationException($"object at {key} does not match what was sent ({put.Check.ToString().ToLowerInvariant()})");
                }
            }, context, row);
            _store.SetUploadStatus(row, UploadStatus.Uploaded, null, _time.GetUtcNow());
            _state.RecordSuccess();
            UploadMetrics.Upload("uploaded");
        }
        catch (Exception ex) when (S3ObjectStore.IsPermanent(ex))
        {
            var reason = _s3.Describe(ex);
            _log.LogError("Upload of {Key} refused for good: {Reason}; the capture stays on this agent (retried at next start)", row.ObjectKey, reason);
            _store.SetUploadStatus(row, UploadStatus.Failed, reason);
            UploadMetrics.Upload("failed");
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Shutting down: the row goes back to pending, to be finished at next start.
            _store.SetUploadStatus(row, UploadStatus.Pending, "interrupted by shutdown");
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    /// <summary>
    /// The row's key holds an object this agent did not write (another agent's, or planted): it stays as it is, and the
    /// capture goes to a key of its own, recorded on the row before the put so that a retry goes there too.
    /// </summary>
    private EvidenceRecord MoveAside(EvidenceRecord row, string occupant)
    {
        UploadMetrics.Upload("collision");
        if (row.NextKeyAfterCollision() is not { } next)
        {
            _log.LogError("Object key {Key} already holds another object ({Occupant}), as does every other key for capture {EvidenceId}: " +
                          "nothing overwritten; the capture stays on this agent", row.ObjectKey, occupant, row.EvidenceId);
            throw new KeyCollisionException($"key collision: {row.ObjectKey} and every other key for this capture hold another object ({occupant})");
        }
        _log.LogError("Key collision: {Key} already holds an object this agent did not write ({Occupant}); left as it is, capture {EvidenceId} " +
                      "(sha256 {Sha256}, {Bytes} bytes) is stored at {NewKey} instead", row.ObjectKey, occupant, row.EvidenceId, row.Sha256, row.ImageSizeBytes, next);
        return _store.MoveObjectKey(row, next, occupant, _time.GetUtcNow());
    }

    private static bool IsUnreachable(Exception ex) =>
        ex is HttpRequestException or TimeoutException or TaskCanceledException
        || ex is AmazonServiceException { InnerException: HttpRequestException or IOException or TimeoutException or TaskCanceledException };

    public override void Dispose()
    {
        _wake.Dispose();
        base.Dispose();
    }
}

/// <summary>Every key this capture may take holds another writer's object.</summary>
public sealed class KeyCollisionException(string message) : Exception(message);

/// <summary>The server accepted the put but what it stored is not what was sent.</summary>
public sealed class UploadVerificationException(string message) : Exception(message);
