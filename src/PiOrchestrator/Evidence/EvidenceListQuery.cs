using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using PiOrchestrator.Http;
using PiOrchestrator.Store;

namespace PiOrchestrator.Evidence;

/// <summary>
/// Seed 000's list parameters on a session's captures: capture_tag (one tag, seed 000's kind: every capture here is a
/// JPEG), limit (1-100, default 25) and cursor (from next_cursor). The cursor names the session and the tag it was issued
/// for, so it cannot continue another list.
/// </summary>
public sealed record EvidenceListQuery(CaptureTag? Tag, EvidencePosition? After, int Limit)
{
    public const int DefaultLimit = 25;
    public const int MaxLimit = 100;
    private const string CursorList = "evidence";
    private const string AnyTag = "any";

    public static readonly EvidenceListQuery Default = new(null, null, DefaultLimit);

    /// <summary>The capture tags a filter may name: all there are.</summary>
    public static IReadOnlyList<string> TagNames { get; } = [.. Enum.GetValues<CaptureTag>().Select(EvidenceNames.Of)];

    public bool IsDefault => this == Default;

    /// <summary>Tells pages apart in an ETag: the page after another, or of another tag, is another answer.</summary>
    public string Fingerprint => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(
        $"{(Tag is { } t ? EvidenceNames.Of(t) : AnyTag)}|{After?.CapturedMs}|{After?.EvidenceId:D}|{Limit}")))[..16];

    /// <summary>The query, or a 400 naming the first bad parameter.</summary>
    public static ApiErrorResult? TryParse(string sessionId, string? captureTag, string? limit, string? cursor, out EvidenceListQuery query)
    {
        query = Default;
        CaptureTag? tag = null;
        if (captureTag is not null)
        {
            if (!TagNames.Contains(captureTag, StringComparer.Ordinal))
                return ApiErrors.InvalidRequest("capture_tag", $"capture_tag must be one of {string.Join(", ", TagNames)}");
            tag = EvidenceNames.ParseTag(captureTag);
        }
        if (PageCursor.ParseLimit(limit, DefaultLimit, MaxLimit, out var pageSize) is { } badLimit) return badLimit;
        EvidencePosition? after = null;
        if (cursor is not null)
        {
            if (DecodeCursor(cursor) is not { } decoded)
                return ApiErrors.InvalidRequest("cursor", "cursor is not one this agent issued");
            if (decoded.SessionId != sessionId || decoded.Tag != tag)
                return ApiErrors.InvalidRequest("cursor", "cursor continues another list: pass it with the session and capture_tag it came from");
            after = decoded.After;
        }
        query = new EvidenceListQuery(tag, after, pageSize);
        return null;
    }

    public static string EncodeCursor(string sessionId, CaptureTag? tag, EvidencePosition after) =>
        PageCursor.Encode(CursorList, sessionId, tag is { } t ? EvidenceNames.Of(t) : AnyTag,
            after.CapturedMs.ToString(CultureInfo.InvariantCulture), after.EvidenceId.ToString("D"));

    private static (string SessionId, CaptureTag? Tag, EvidencePosition After)? DecodeCursor(string cursor)
    {
        if (PageCursor.Decode(cursor, CursorList, 4) is not [var session, var tagName, var ms, var id]) return null;
        if (!Validation.IsValidId(session)) return null;
        CaptureTag? tag = null;
        if (tagName != AnyTag)
        {
            if (!TagNames.Contains(tagName, StringComparer.Ordinal)) return null;
            tag = EvidenceNames.ParseTag(tagName);
        }
        // One spelling per position, as EncodeCursor writes it.
        if (!long.TryParse(ms, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var capturedMs)
            || capturedMs.ToString(CultureInfo.InvariantCulture) != ms) return null;
        if (!Guid.TryParseExact(id, "D", out var evidenceId) || evidenceId.ToString("D") != id) return null;
        return (session, tag, new EvidencePosition(capturedMs, evidenceId));
    }
}
