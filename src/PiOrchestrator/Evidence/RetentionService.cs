using Microsoft.Extensions.Options;
using PiOrchestrator.Store;
using PiOrchestrator.Upload;

namespace PiOrchestrator.Evidence;

/// <summary>
/// Ages data out: local JPEG bytes after <c>Storage:ImageTtlHours</c> once uploaded (never before), S3 objects after
/// <c>S3:RetentionDays</c> (the row stays, marked purged), and rows after <c>Storage:MetadataRetentionDays</c>.
/// </summary>
public sealed class RetentionService(
    EvidenceStore store,
    ImageCache cache,
    S3ObjectStore s3,
    IOptions<StorageOptions> storage,
    IOptions<S3Options> s3Options,
    Hosting.LoopHeartbeats heartbeats,
    TimeProvider time,
    ILogger<RetentionService> log) : BackgroundService
{
    /// <summary>Time between passes (<c>Storage:RetentionIntervalMinutes</c>).</summary>
    public TimeSpan Interval { get; } = TimeSpan.FromMinutes(storage.Value.RetentionIntervalMinutes);
    private const int MaxDeleteFailuresInARow = 20;
    // Monotonic: a wall-clock step back must not silence this warning for the size of the step.
    private long? _lastHeldWarning;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, time);
        do
        {
            // A pass may delete many objects from S3; each request has its own timeout.
            heartbeats.Beat("retention", Interval + TimeSpan.FromMinutes(10));
            try
            {
                await RunOnceAsync(stoppingToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                log.LogError(ex, "Retention pass failed; it runs again in {Minutes} minutes", Interval.TotalMinutes);
            }
        } while (await WaitAsync(timer, stoppingToken));
    }

    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken ct)
    {
        try { return await timer.WaitForNextTickAsync(ct); }
        catch (OperationCanceledException) { return false; }
    }

    public async Task RunOnceAsync(CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var (dropped, heldNotUploaded) = store.DropUploadedBytes(now.AddHours(-storage.Value.ImageTtlHours));
        foreach (var e in dropped)
        {
            cache.Remove(e.ObjectKey!);
            cache.Remove(ImageCache.ThumbnailKey(e.ObjectKey!));
        }
        if (dropped.Count > 0)
            log.LogInformation("Dropped the local bytes of {Count} uploaded capture(s) older than {Hours} h", dropped.Count, storage.Value.ImageTtlHours);
        if (heldNotUploaded > 0 && (_lastHeldWarning is not { } last || time.GetElapsedTime(last) > TimeSpan.FromHours(1)))
        {
            _lastHeldWarning = time.GetTimestamp();
            log.LogWarning("{Count} capture(s) older than {Hours} h are still not uploaded; their bytes are kept until they are", heldNotUploaded, storage.Value.ImageTtlHours);
        }

        DateTimeOffset? purgeCutoff = s3.Configured && s3Options.Value.RetentionDays is { } d ? now.AddDays(-d) : null;
        if (purgeCutoff is { } cutoff && s3Options.Value.RetentionDays is { } days)
        {
            var purged = 0;
            var skipped = 0;
            var inARow = 0;
            string? firstError = null;
            foreach (var e in store.UploadedBefore(cutoff, 500))
            {
                // A server that refuses everything (or is down) is not asked 500 times, each up to its timeout.
                if (inARow >= MaxDeleteFailuresInARow) break;
                if (!Http.Validation.IsCanonicalKey(e.ObjectKey))
                {
                    // Uploaded by an older version under a key S3 rewrote (a '..' session): the object at the rewritten
                    // key may be another's, so nothing is deleted; the row is marked purged so retention goes on.
                    log.LogWarning("Retention: {Key} is not a canonical key; the object S3 stored for it is not deleted, the row is marked purged",
                        Http.Validation.PrintableKey(e.ObjectKey!));
                    store.MarkPurged(e, time.GetUtcNow());
                    continue;
                }
                try
                {
                    await s3.DeleteAsync(e.ObjectKey!, ct);
                    inARow = 0;
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
                {
                    // S3 down, or an object-locked bucket refusing: this object waits for the next pass, the rest go on.
                    skipped++;
                    inARow++;
                    firstError ??= s3.Describe(ex);
                    continue;
                }
                store.MarkPurged(e, time.GetUtcNow());
                // Every copy goes with the object: an answer from memory would outlive the purge.
                cache.Remove(e.ObjectKey!);
                cache.Remove(ImageCache.ThumbnailKey(e.ObjectKey!));
                purged++;
            }
            if (purged > 0)
                log.LogInformation("Retention: deleted {Count} object(s) older than {Days} days from S3; their rows stay, marked purged", purged, days);
            if (skipped > 0)
                log.LogWarning("Retention: could not delete {Count} object(s) from S3 ({Error}); they stay, with their sessions, until a later pass deletes them",
                    skipped, firstError);
        }

        // A session whose objects are due for purge but still in the bucket is kept: its rows are what lets a later pass delete them.
        var removed = store.DeleteSessionsBefore(now.AddDays(-storage.Value.MetadataRetentionDays), purgeCutoff);
        if (removed > 0)
            log.LogInformation("Retention: removed {Count} session(s) older than {Days} days", removed, storage.Value.MetadataRetentionDays);
    }
}
