using System.Security.Cryptography;
using PiOrchestrator.Store;
using PiOrchestrator.Upload;

namespace PiOrchestrator.Evidence;

public enum ImageOutcome { Found, Purged, Unavailable, IntegrityMismatch, NotFound }

public readonly record struct ImageLookup(ImageOutcome Outcome, byte[]? Bytes, string? Detail = null);

/// <summary>
/// Where a capture's bytes come from: memory, then the local store, then S3. Bytes from S3 are served only when
/// their sha256 matches the row; anything else is an integrity error, never evidence.
/// </summary>
public sealed class ImageSource(EvidenceStore store, ImageCache cache, S3ObjectStore s3, TimeProvider time, ILogger<ImageSource> log)
{
    private readonly Hosting.LogThrottle _unreachable = new(time, TimeSpan.FromMinutes(1));

    public async Task<ImageLookup> GetAsync(EvidenceRecord e, CancellationToken ct)
    {
        if (!e.IsCaptured || e.ObjectKey is null) return new(ImageOutcome.NotFound, null);
        // Purged first: no copy of a purged image, in memory or anywhere, is served.
        if (e.PurgedAt is not null) return new(ImageOutcome.Purged, null);
        if (cache.TryGet(e.ObjectKey, out var hot)) return new(ImageOutcome.Found, hot);
        if (e.BytesHeld && store.ReadImage(e.EvidenceId) is { } local)
        {
            cache.Set(e.ObjectKey, local);
            return new(ImageOutcome.Found, local);
        }
        if (!s3.Configured || e.UploadStatus != UploadStatus.Uploaded)
            return new(ImageOutcome.Unavailable, null, "the image is not held on this agent and is not in object storage");

        byte[]? remote;
        try
        {
            remote = await s3.GetAsync(e.ObjectKey, e.ImageSizeBytes ?? 0, ct);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            // A dashboard polling while S3 is down asks for many images: one warning a minute, the rest at debug.
            log.Log(_unreachable.ShouldLog("s3", out _) ? LogLevel.Warning : LogLevel.Debug, "Image {Key} could not be fetched from S3: {Error}", e.ObjectKey, s3.Describe(ex));
            return new(ImageOutcome.Unavailable, null, "object storage is not reachable");
        }
        if (remote is null)
        {
            log.LogError("Image {Key} is recorded as uploaded but is missing from bucket {Bucket}", e.ObjectKey, s3.Bucket);
            return new(ImageOutcome.IntegrityMismatch, null, "the object is missing from object storage");
        }
        var sha = Convert.ToHexStringLower(SHA256.HashData(remote));
        if (!string.Equals(sha, e.Sha256, StringComparison.OrdinalIgnoreCase))
        {
            log.LogError("Integrity mismatch for {Key}: S3 holds sha256 {Actual}, the capture recorded {Expected}; not served", e.ObjectKey, sha, e.Sha256);
            return new(ImageOutcome.IntegrityMismatch, null, "the stored object does not match the capture's sha256");
        }
        cache.Set(e.ObjectKey, remote);
        return new(ImageOutcome.Found, remote);
    }
}
