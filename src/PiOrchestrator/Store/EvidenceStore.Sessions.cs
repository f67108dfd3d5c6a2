using Microsoft.Data.Sqlite;

namespace PiOrchestrator.Store;

/// <summary>Sessions and the door events that move them: writes (each with the event that caused it), queries, retention.</summary>
public sealed partial class EvidenceStore
{
    /// <summary>
    /// A new session; with <paramref name="cause"/>, the door event that started it is remembered in the same
    /// transaction, so a crash cannot keep the session and forget the event (or the other way round).
    /// </summary>
    /// <remarks>With <paramref name="idempotencyKey"/>, the request's key is stored in the same transaction.</remarks>
    public void InsertSession(SessionRecord s, DoorEventId? cause = null, IdempotencyRecord? idempotencyKey = null, AuditEntry? audit = null)
    {
        WriteSession(s.SessionId, cause, """
            INSERT INTO sessions(session_id, container_id, phase, started_ms, opened_ms, closed_ms, after_close_due_ms, before_missing_reason,
              after_missing_reason, notes, opened_by)
            VALUES($id, $container, $phase, $started, $opened, $closed, $due, $missing, $afterMissing, $notes, $openedBy)
            RETURNING revision
            """, cmd =>
        {
            cmd.Parameters.AddWithValue("$container", s.ContainerId);
            cmd.Parameters.AddWithValue("$phase", SessionRecord.Of(s.Phase));
            cmd.Parameters.AddWithValue("$started", s.StartedAt.ToUnixTimeMilliseconds());
            cmd.Parameters.AddWithValue("$opened", Ms(s.OpenedAt));
            cmd.Parameters.AddWithValue("$closed", Ms(s.ClosedAt));
            cmd.Parameters.AddWithValue("$due", Ms(s.AfterCloseDueAt));
            cmd.Parameters.AddWithValue("$missing", (object?)s.BeforeMissingReason ?? DBNull.Value);
            cmd.Parameters.AddWithValue("$afterMissing", (object?)s.AfterMissingReason ?? DBNull.Value);
            cmd.Parameters.AddWithValue("$notes", (object?)s.Notes ?? DBNull.Value);
            cmd.Parameters.AddWithValue("$openedBy", (object?)s.OpenedBy ?? DBNull.Value);
        }, idempotencyKey, audit);
    }

    /// <summary>Moves an unfinished session between open and closing; <paramref name="cause"/> as in <see cref="InsertSession"/>.</summary>
    public void UpdateSessionPhase(string sessionId, SessionPhase phase, DateTimeOffset? closedAt, DateTimeOffset? afterCloseDueAt, DoorEventId? cause = null)
    {
        WriteSession(sessionId, cause, """
            UPDATE sessions SET phase = $phase, closed_ms = $closed, after_close_due_ms = $due, revision = revision + 1
            WHERE session_id = $id RETURNING revision
            """, cmd =>
        {
            cmd.Parameters.AddWithValue("$phase", SessionRecord.Of(phase));
            cmd.Parameters.AddWithValue("$closed", Ms(closedAt));
            cmd.Parameters.AddWithValue("$due", Ms(afterCloseDueAt));
        });
    }

    /// <summary>The AFTER_CLOSE grab is starting: a closing session with no due time has its grab under way.</summary>
    public void MarkAfterCloseStarted(string sessionId)
    {
        WriteSession(sessionId, null, "UPDATE sessions SET after_close_due_ms = NULL, revision = revision + 1 WHERE session_id = $id RETURNING revision", _ => { });
    }

    public void FlagDoorLeftOpen(string sessionId, DateTimeOffset at)
    {
        WriteSession(sessionId, null, "UPDATE sessions SET door_left_open_ms = $at, revision = revision + 1 WHERE session_id = $id RETURNING revision",
            cmd => cmd.Parameters.AddWithValue("$at", at.ToUnixTimeMilliseconds()));
    }

    public void CompleteSession(string sessionId, DateTimeOffset completedAt, string chainHead)
    {
        WriteSession(sessionId, null, """
            UPDATE sessions SET phase = 'complete', completed_ms = $completed, after_close_due_ms = NULL,
              chain_head = $chain, revision = revision + 1
            WHERE session_id = $id RETURNING revision
            """, cmd =>
        {
            cmd.Parameters.AddWithValue("$completed", completedAt.ToUnixTimeMilliseconds());
            cmd.Parameters.AddWithValue("$chain", chainHead);
        });
    }

    /// <summary>Remembers a door event id; false when it was already seen for that container.</summary>
    public bool RecordDoorEvent(string containerId, string eventId, DateTimeOffset receivedAt)
    {
        lock (_writeLock) return WithDiskReserve(() => InsertDoorEvent(null, new DoorEventId(containerId, eventId, receivedAt)), retryAfterRelease: true);
    }

    private bool InsertDoorEvent(SqliteTransaction? tx, DoorEventId door)
    {
        using var cmd = _writer.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "INSERT OR IGNORE INTO door_events(container_id, event_id, received_ms) VALUES($c, $e, $t)";
        cmd.Parameters.AddWithValue("$c", door.ContainerId);
        cmd.Parameters.AddWithValue("$e", door.EventId);
        cmd.Parameters.AddWithValue("$t", door.ReceivedAt.ToUnixTimeMilliseconds());
        return cmd.ExecuteNonQuery() == 1;
    }

    /// <summary>The door event ids received since <paramref name="since"/>, newest first, at most <paramref name="limit"/>.</summary>
    public List<(string ContainerId, string EventId)> RecentDoorEvents(DateTimeOffset since, int limit = 100_000)
    {
        using var c = OpenReader();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT container_id, event_id FROM door_events WHERE received_ms >= $since ORDER BY received_ms DESC LIMIT $limit";
        cmd.Parameters.AddWithValue("$since", since.ToUnixTimeMilliseconds());
        cmd.Parameters.AddWithValue("$limit", limit);
        using var r = cmd.ExecuteReader();
        var list = new List<(string, string)>();
        while (r.Read()) list.Add((r.GetString(0), r.GetString(1)));
        return list;
    }

    public SessionRecord? GetSession(string sessionId)
    {
        using var c = OpenReader();
        using var cmd = c.CreateCommand();
        cmd.CommandText = $"SELECT {SessionColumns} FROM sessions WHERE session_id = $id";
        cmd.Parameters.AddWithValue("$id", sessionId);
        using var r = cmd.ExecuteReader();
        return r.Read() ? ReadSession(r) : null;
    }

    public bool HasDoorEvent(string containerId, string eventId)
    {
        using var c = OpenReader();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT 1 FROM door_events WHERE container_id = $c AND event_id = $e";
        cmd.Parameters.AddWithValue("$c", containerId);
        cmd.Parameters.AddWithValue("$e", eventId);
        return cmd.ExecuteScalar() is not null;
    }

    public List<SessionRecord> UnfinishedSessions()
    {
        using var c = OpenReader();
        using var cmd = c.CreateCommand();
        cmd.CommandText = $"SELECT {SessionColumns} FROM sessions WHERE phase <> 'complete' ORDER BY started_ms";
        using var r = cmd.ExecuteReader();
        var list = new List<SessionRecord>();
        while (r.Read()) list.Add(ReadSession(r));
        return list;
    }

    /// <summary>Sessions newest first, keyset-paginated on (started, id).</summary>
    public SessionPage ListSessions(string? containerId, SessionPhase? phase, bool unfinishedOnly, (long StartedMs, string SessionId)? after, int limit)
    {
        using var c = OpenReader();
        using var cmd = c.CreateCommand();
        var where = new List<string>();
        if (containerId is not null)
        {
            where.Add("container_id = $container");
            cmd.Parameters.AddWithValue("$container", containerId);
        }
        if (unfinishedOnly)
            where.Add("phase <> 'complete'");
        else if (phase is not null)
        {
            where.Add("phase = $phase");
            cmd.Parameters.AddWithValue("$phase", SessionRecord.Of(phase.Value));
        }
        if (after is { } cursor)
        {
            where.Add("(started_ms < $afterStarted OR (started_ms = $afterStarted AND session_id < $afterId))");
            cmd.Parameters.AddWithValue("$afterStarted", cursor.StartedMs);
            cmd.Parameters.AddWithValue("$afterId", cursor.SessionId);
        }
        cmd.CommandText = $"SELECT {SessionColumns} FROM sessions {(where.Count > 0 ? "WHERE " + string.Join(" AND ", where) : "")} " +
                          "ORDER BY started_ms DESC, session_id DESC LIMIT $limit";
        cmd.Parameters.AddWithValue("$limit", limit + 1);
        using var r = cmd.ExecuteReader();
        var list = new List<SessionRecord>();
        while (r.Read()) list.Add(ReadSession(r));
        var hasMore = list.Count > limit;
        if (hasMore) list.RemoveAt(list.Count - 1);
        var last = list.Count > 0 ? list[^1] : null;
        return new SessionPage(list, hasMore, hasMore && last is not null ? (last.StartedAt.ToUnixTimeMilliseconds(), last.SessionId) : null);
    }

    /// <summary>The session's revision: it changes whenever any answer about the session would change.</summary>
    public long? GetRevision(string sessionId)
    {
        if (_revisions.TryGetValue(sessionId, out var cached)) return cached;
        using var c = OpenReader();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT revision FROM sessions WHERE session_id = $id";
        cmd.Parameters.AddWithValue("$id", sessionId);
        if (cmd.ExecuteScalar() is not long revision) return null;
        // Only cache revisions read while no write could interleave; writes overwrite the entry anyway.
        return _revisions.GetOrAdd(sessionId, revision);
    }

    /// <summary>
    /// Removes complete sessions (and their rows) that started before the cutoff, keeping any row whose bytes
    /// exist only here: a photo that never reached S3 is not deleted by age. With <paramref name="purgeCutoff"/>, a
    /// session with an object captured before it and not yet purged from S3 is kept too.
    /// </summary>
    public int DeleteSessionsBefore(DateTimeOffset cutoff, DateTimeOffset? purgeCutoff = null)
    {
        lock (_writeLock)
        {
            using var cmd = _writer.CreateCommand();
            cmd.CommandText = """
                CREATE TEMP TABLE IF NOT EXISTS expired(session_id TEXT PRIMARY KEY);
                DELETE FROM expired;
                INSERT INTO expired SELECT session_id FROM sessions s WHERE phase = 'complete' AND started_ms < $cutoff
                  AND NOT EXISTS (SELECT 1 FROM evidence e WHERE e.session_id = s.session_id AND e.bytes_held = 1 AND e.upload_status <> 'uploaded')
                  AND NOT EXISTS (SELECT 1 FROM evidence e WHERE e.session_id = s.session_id AND e.upload_status = 'uploaded'
                                    AND e.purged_ms IS NULL AND e.captured_ms < $purgeCutoff);
                DELETE FROM evidence_bytes WHERE evidence_id IN (SELECT evidence_id FROM evidence WHERE session_id IN (SELECT session_id FROM expired));
                DELETE FROM thumbnails WHERE evidence_id IN (SELECT evidence_id FROM evidence WHERE session_id IN (SELECT session_id FROM expired));
                DELETE FROM evidence WHERE session_id IN (SELECT session_id FROM expired);
                DELETE FROM idempotency_keys WHERE session_id IN (SELECT session_id FROM expired);
                DELETE FROM audit WHERE session_id IN (SELECT session_id FROM expired);
                DELETE FROM audit WHERE session_id IS NULL AND at_ms < $cutoff;
                DELETE FROM sessions WHERE session_id IN (SELECT session_id FROM expired);
                DELETE FROM door_events WHERE received_ms < $cutoff;
                SELECT count(*) FROM expired;
                """;
            cmd.Parameters.AddWithValue("$cutoff", cutoff.ToUnixTimeMilliseconds());
            cmd.Parameters.AddWithValue("$purgeCutoff", purgeCutoff?.ToUnixTimeMilliseconds() ?? long.MinValue);
            var removed = Convert.ToInt32(cmd.ExecuteScalar());
            if (removed > 0) _revisions.Clear();
            EvidenceChanged();
            return removed;
        }
    }

    private void WriteSession(string sessionId, DoorEventId? cause, string sql, Action<SqliteCommand> bind, IdempotencyRecord? idempotencyKey = null,
        AuditEntry? audit = null)
    {
        lock (_writeLock) WithDiskReserve(() =>
        {
            using var tx = _writer.BeginTransaction();
            using var cmd = _writer.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = sql;
            cmd.Parameters.AddWithValue("$id", sessionId);
            bind(cmd);
            var revision = cmd.ExecuteScalar();
            if (cause is { } door) InsertDoorEvent(tx, door);
            if (idempotencyKey is not null) InsertIdempotencyKey(_writer, tx, idempotencyKey);
            // A write that changed nothing (an end already recorded) leaves no audit row.
            var audited = audit is not null && revision is not null;
            if (audited) InsertAudit(_writer, tx, audit!);
            tx.Commit();
            if (audited) AuditMetrics.Written(audit!.Action);
            if (revision is long current) _revisions[sessionId] = current;
        });
        SessionChanged?.Invoke(sessionId);
    }

    private void BumpRevision(SqliteTransaction tx, string sessionId)
    {
        using var cmd = _writer.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "UPDATE sessions SET revision = revision + 1 WHERE session_id = $id RETURNING revision";
        cmd.Parameters.AddWithValue("$id", sessionId);
        if (cmd.ExecuteScalar() is long revision) _revisions[sessionId] = revision;
    }
}
