namespace PiOrchestrator.Store;

/// <summary>Where a page of a session's captures ends: the last row's place in the chain order (capture time, then id).</summary>
public sealed record EvidencePosition(long CapturedMs, Guid EvidenceId);

/// <summary>A page of a session's captures in chain order; <see cref="Next"/> continues it when there is more.</summary>
public sealed record EvidencePage(IReadOnlyList<EvidenceRecord> Rows, bool HasMore, EvidencePosition? Next);

/// <summary>Counts over all of a session's captures, whatever page or filter is asked for.</summary>
/// <summary>Total, Captured and Failed count the pair's rows and test captures; Frames the captured DURING_OPEN frames.</summary>
public sealed record EvidenceCounts(int Total, int Captured, bool HasBeforeOpen, bool HasAfterClose, int Frames)
{
    public int Failed => Total - Captured;
}

/// <summary>A session's captures a page at a time: a session with a timelapse has too many rows for one answer.</summary>
public sealed partial class EvidenceStore
{
    /// <summary>
    /// Up to <paramref name="limit"/> captures of the session after <paramref name="after"/>, in the order the hash chain
    /// takes them (<see cref="HashChain.Head"/>: capture time, then evidence id), of one tag when given.
    /// </summary>
    public EvidencePage ListEvidencePage(string sessionId, CaptureTag? tag, EvidencePosition? after, int limit)
    {
        var where = "session_id = $session";
        var parameters = new List<(string, object)> { ("$session", sessionId), ("$limit", limit + 1) };
        if (tag is { } only)
        {
            where += " AND capture_tag = $tag";
            parameters.Add(("$tag", EvidenceNames.Of(only)));
        }
        if (after is not null)
        {
            where += " AND (captured_ms > $afterMs OR (captured_ms = $afterMs AND evidence_id > $afterId))";
            parameters.Add(("$afterMs", after.CapturedMs));
            parameters.Add(("$afterId", after.EvidenceId.ToString("D")));
        }
        var rows = QueryEvidence(where + " ORDER BY captured_ms, evidence_id LIMIT $limit", [.. parameters]);
        var hasMore = rows.Count > limit;
        if (hasMore) rows.RemoveAt(rows.Count - 1);
        return new EvidencePage(rows, hasMore, hasMore ? new EvidencePosition(rows[^1].CapturedAt.ToUnixTimeMilliseconds(), rows[^1].EvidenceId) : null);
    }

    public EvidenceCounts CountEvidence(string sessionId)
    {
        using var c = OpenReader();
        using var cmd = c.CreateCommand();
        cmd.CommandText = """
            SELECT coalesce(sum(capture_tag <> 'DURING_OPEN'), 0), coalesce(sum(capture_tag <> 'DURING_OPEN' AND status = 'captured'), 0),
              coalesce(max(capture_tag = 'BEFORE_OPEN' AND status = 'captured'), 0), coalesce(max(capture_tag = 'AFTER_CLOSE' AND status = 'captured'), 0),
              coalesce(sum(capture_tag = 'DURING_OPEN' AND status = 'captured'), 0)
            FROM evidence WHERE session_id = $session
            """;
        cmd.Parameters.AddWithValue("$session", sessionId);
        using var r = cmd.ExecuteReader();
        r.Read();
        return new EvidenceCounts(r.GetInt32(0), r.GetInt32(1), r.GetInt64(2) != 0, r.GetInt64(3) != 0, r.GetInt32(4));
    }
}
