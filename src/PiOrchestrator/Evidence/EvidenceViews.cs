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

    /// <summary>
    /// The JPEG bytes one page carries as image_data: a pair at the contract's largest (2 × 5 MB) fits; past it the rest
    /// of the page gives object_key only, as for uploaded captures, so a page of big frames cannot exhaust a Pi's memory.
    /// </summary>
    public const long MaxImageBytesPerPage = 12 * 1024 * 1024;

    private readonly ConcurrentDictionary<(string SessionId, bool WithImages, EvidenceListQuery Query), (long Revision, byte[] Json)> _lists = new();
    private long _cachedBytes;

    /// <summary>The default page keeps the ETag it had before paging existed; any other page's names its query too.</summary>
    public static string ETag(long revision, bool withImages, EvidenceListQuery? query = null) =>
        query is null || query.IsDefault
            ? $"W/\"{revision}{(withImages ? "i" : "n")}\""
            : $"W/\"{revision}{(withImages ? "i" : "n")}-{query.Fingerprint}\"";

    /// <summary>
    /// The list's JSON at <paramref name="revision"/> from the cache, with no SQLite read: the dashboard's polls of an
    /// unchanged session cost a dictionary lookup. Null when it is not built yet.
    /// </summary>
    public byte[]? CachedEvidenceListJson(string sessionId, long revision, bool withImages, EvidenceListQuery query) =>
        _lists.TryGetValue((sessionId, withImages, query), out var cached) && cached.Revision == revision ? cached.Json : null;

    /// <summary>The list's data JSON for the given revision, built once per revision for a first page.</summary>
    public byte[] EvidenceListJson(SessionRecord session, bool withImages, EvidenceListQuery query)
    {
        var key = (session.SessionId, withImages, query);
        if (_lists.TryGetValue(key, out var cached) && cached.Revision == session.Revision) return cached.Json;

        var dto = EvidenceList(session, withImages, query);
        var json = JsonSerializer.SerializeToUtf8Bytes(dto, EvidenceJsonContext.Default.SessionEvidenceDto);
        // Pollers ask for first pages; a page after a cursor is read once by a client paging through.
        if (query.After is not null) return json;
        if (Interlocked.Add(ref _cachedBytes, json.Length) > MaxCachedBytes)
        {
            _lists.Clear();
            Interlocked.Exchange(ref _cachedBytes, json.Length);
        }
        _lists[key] = (session.Revision, json);
        return json;
    }

    public SessionEvidenceDto EvidenceList(SessionRecord session, bool withImages, EvidenceListQuery query)
    {
        var page = store.ListEvidencePage(session.SessionId, query.Tag, query.After, query.Limit);
        var imageBudget = withImages ? MaxImageBytesPerPage : 0;
        var captures = new List<CaptureDto>(page.Rows.Count);
        foreach (var e in page.Rows)
        {
            string? image = null;
            // A row's size is known before its bytes are read; older rows without one are measured once read.
            // Frames carry no image_data: a long open door would make every page megabytes; their object_key gives the
            // image or its thumbnail through /evidence/image.
            if (imageBudget > 0 && e.Tag != CaptureTag.DuringOpen && (e.ImageSizeBytes ?? 0) <= imageBudget && ImageData(e) is { } held)
            {
                var size = e.ImageSizeBytes ?? held.Length / 4 * 3;
                if (size <= imageBudget)
                {
                    image = held;
                    imageBudget -= size;
                }
            }
            captures.Add(CaptureDto.From(e, image));
        }
        // The contract's counts stay those of the pair (and test captures); frames are counted apart.
        var counts = store.CountEvidence(session.SessionId);
        var summary = new EvidenceSummaryDto(counts.Total, counts.Captured, counts.Failed, counts.HasBeforeOpen, counts.HasAfterClose,
            counts.HasBeforeOpen && counts.HasAfterClose, counts.Frames);
        return new SessionEvidenceDto(session.SessionId, session.ContainerId, captures, summary, page.HasMore,
            page.Next is { } next ? EvidenceListQuery.EncodeCursor(session.SessionId, query.Tag, next) : null);
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
