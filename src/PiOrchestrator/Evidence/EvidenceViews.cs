using System.Collections.Concurrent;
using System.Text.Json;
using PiOrchestrator.Jpeg;
using PiOrchestrator.Store;

namespace PiOrchestrator.Evidence;

/// <summary>
/// Builds the evidence list and pair answers. The list is what dashboards poll all day, so its JSON is kept per
/// session revision: an unchanged session costs neither a query nor a serialisation.
/// </summary>
public sealed class EvidenceViews(EvidenceStore store, ImageCache images, TimeProvider time)
{
    private const long MaxCachedBytes = 32 * 1024 * 1024;

    private readonly ConcurrentDictionary<(string SessionId, bool WithImages), (long Revision, byte[] Json)> _lists = new();
    private long _cachedBytes;

    public static string ETag(long revision, bool withImages) => $"W/\"{revision}{(withImages ? "i" : "n")}\"";

    /// <summary>
    /// The list's JSON at <paramref name="revision"/> from the cache, with no SQLite read: the dashboard's polls of an
    /// unchanged session cost a dictionary lookup. Null when it is not built yet.
    /// </summary>
    public byte[]? CachedEvidenceListJson(string sessionId, long revision, bool withImages) =>
        _lists.TryGetValue((sessionId, withImages), out var cached) && cached.Revision == revision ? cached.Json : null;

    /// <summary>The list's data JSON for the given revision, built once per revision.</summary>
    public byte[] EvidenceListJson(SessionRecord session, bool withImages)
    {
        var key = (session.SessionId, withImages);
        if (_lists.TryGetValue(key, out var cached) && cached.Revision == session.Revision) return cached.Json;

        var dto = EvidenceList(session, withImages);
        var json = JsonSerializer.SerializeToUtf8Bytes(dto, EvidenceJsonContext.Default.SessionEvidenceDto);
        if (Interlocked.Add(ref _cachedBytes, json.Length) > MaxCachedBytes)
        {
            _lists.Clear();
            Interlocked.Exchange(ref _cachedBytes, json.Length);
        }
        _lists[key] = (session.Revision, json);
        return json;
    }

    public SessionEvidenceDto EvidenceList(SessionRecord session, bool withImages)
    {
        var evidence = store.GetEvidenceForSession(session.SessionId);
        // Frames carry no image_data: a long open door would make every poll megabytes; their object_key gives the
        // image or its thumbnail through /evidence/image.
        var captures = evidence.Select(e => CaptureDto.From(e, withImages && e.Tag != CaptureTag.DuringOpen ? ImageData(e) : null)).ToList();
        var hasBefore = evidence.Any(e => e.Tag == CaptureTag.BeforeOpen && e.IsCaptured);
        var hasAfter = evidence.Any(e => e.Tag == CaptureTag.AfterClose && e.IsCaptured);
        // The contract's counts stay those of the pair (and test captures); frames are counted apart.
        var pair = evidence.Where(e => e.Tag != CaptureTag.DuringOpen).ToList();
        var summary = new EvidenceSummaryDto(
            pair.Count, pair.Count(e => e.IsCaptured), pair.Count(e => !e.IsCaptured), hasBefore, hasAfter, hasBefore && hasAfter,
            evidence.Count(e => e.Tag == CaptureTag.DuringOpen && e.IsCaptured));
        return new SessionEvidenceDto(session.SessionId, session.ContainerId, captures, summary);
    }

    public EvidencePairDto Pair(SessionRecord session, bool withImages)
    {
        var evidence = store.GetEvidenceForSession(session.SessionId);
        var now = time.GetUtcNow();
        var before = Side(session, evidence, CaptureTag.BeforeOpen, withImages);
        var after = Side(session, evidence, CaptureTag.AfterClose, withImages);
        var complete = before.Status == "captured" && after.Status == "captured";
        int? retryAfter = null;
        if (session.Phase != SessionPhase.Complete)
            retryAfter = session.Phase == SessionPhase.Closing && session.AfterCloseDueAt is { } due
                ? Math.Max(1, (int)Math.Ceiling((due - now).TotalSeconds) + 1)
                : 10;
        return new EvidencePairDto
        {
            SessionId = session.SessionId,
            ContainerId = session.ContainerId,
            PairStatus = complete ? "complete" : "incomplete",
            Before = before,
            After = after,
            QueriedAt = now,
            RetryAfterSeconds = retryAfter,
        };
    }

    private CaptureDto Side(SessionRecord session, List<EvidenceRecord> evidence, CaptureTag tag, bool withImages)
    {
        var tagName = EvidenceNames.Of(tag);
        if (evidence.LastOrDefault(e => e.Tag == tag && e.IsCaptured) is { } good)
            return CaptureDto.From(good, withImages ? ImageData(good) : null);
        if (evidence.LastOrDefault(e => e.Tag == tag) is { } failed)
            return new CaptureDto
            {
                EvidenceId = failed.EvidenceId.ToString("D"),
                CaptureTag = tagName,
                Status = "failed",
                MissingReason = failed.FailureReason is CaptureFailure.Offline or CaptureFailure.LegacyCameraOffline ? MissingReason.CameraOffline : MissingReason.CaptureFailed,
                FailureReason = failed.FailureReason,
                DeviceId = failed.DeviceId,
                CapturedAt = failed.CapturedAt,
            };
        if ((tag == CaptureTag.BeforeOpen ? session.BeforeMissingReason : session.AfterMissingReason) is { } reason)
            return new CaptureDto { CaptureTag = tagName, Status = "missing", MissingReason = reason };
        if (session.Phase == SessionPhase.Complete)
            return new CaptureDto { CaptureTag = tagName, Status = "missing", MissingReason = MissingReason.CaptureFailed };
        var waiting = tag == CaptureTag.AfterClose && session.Phase == SessionPhase.Open && session.DoorLeftOpenAt is not null
            ? MissingReason.DoorLeftOpen
            : MissingReason.SessionInProgress;
        return new CaptureDto { CaptureTag = tagName, Status = "pending", MissingReason = waiting };
    }

    /// <summary>Base64 of the JPEG while the agent still holds its bytes, else null (the dashboard then uses the image proxy).</summary>
    private string? ImageData(EvidenceRecord e)
    {
        if (!e.BytesHeld || e.ObjectKey is null) return null;
        if (images.TryGet(e.ObjectKey, out var hot)) return Convert.ToBase64String(hot);
        return store.ReadImage(e.EvidenceId) is { } bytes ? Convert.ToBase64String(bytes) : null;
    }
}
