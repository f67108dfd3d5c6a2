using Microsoft.Data.Sqlite;

namespace PiOrchestrator.Store;

/// <summary>
/// A session's RFC 3161 time stamp: ok (token trusted), pending (queued or the TSA unreachable), failed (refused); with
/// the TSA chain and CA it was checked against when it arrived (null on stamps stored before they were kept).
/// </summary>
public sealed record SessionTimestamp(string SessionId, string ChainHead, string Status, byte[]? Reply, byte[]? Token, DateTimeOffset? GenTime,
    string? Tsa, int Attempts, string? LastError, bool Uploaded, string? TsaChainPem, string? TsaCaPem, string? TsaCaSha256);

/// <summary>The time-stamp queue: one row per completed session, kept across restarts like the upload queue.</summary>
public sealed partial class EvidenceStore
{
    private void MigrateTimestamps()
    {
        Execute(_writer, """
        CREATE TABLE IF NOT EXISTS session_timestamps(
          session_id TEXT PRIMARY KEY,
          chain_head TEXT NOT NULL,
          status TEXT NOT NULL,
          reply BLOB,
          token BLOB,
          gen_time_ms INTEGER,
          tsa TEXT,
          attempts INTEGER NOT NULL DEFAULT 0,
          next_attempt_ms INTEGER NOT NULL DEFAULT 0,
          last_error TEXT,
          uploaded INTEGER NOT NULL DEFAULT 0);
        CREATE INDEX IF NOT EXISTS session_timestamps_due ON session_timestamps(next_attempt_ms) WHERE status = 'pending';
        """);
        MigrateTimestampAnchors();
    }

    /// <summary>The trust material kept with each token; rows stamped before have NULL (anchored at the service's next start).</summary>
    private void MigrateTimestampAnchors()
    {
        var columns = new HashSet<string>(StringComparer.Ordinal);
        using (var cmd = _writer.CreateCommand())
        {
            cmd.CommandText = "SELECT name FROM pragma_table_info('session_timestamps')";
            using var r = cmd.ExecuteReader();
            while (r.Read()) columns.Add(r.GetString(0));
        }
        foreach (var name in new[] { "tsa_chain_pem", "tsa_ca_pem", "tsa_ca_sha256" })
            if (!columns.Contains(name)) Execute(_writer, $"ALTER TABLE session_timestamps ADD COLUMN {name} TEXT;");
    }

    /// <summary>Queues every completed session not yet queued; drops rows of sessions retention removed; failed go back to pending at start.</summary>
    public int QueueTimestamps(bool retryFailed)
    {
        lock (_writeLock)
        {
            using var cmd = _writer.CreateCommand();
            cmd.CommandText = (retryFailed ? "UPDATE session_timestamps SET status = 'pending', next_attempt_ms = 0 WHERE status = 'failed';" : "") + """
                DELETE FROM session_timestamps WHERE session_id NOT IN (SELECT session_id FROM sessions);
                INSERT OR IGNORE INTO session_timestamps(session_id, chain_head, status)
                  SELECT session_id, chain_head, 'pending' FROM sessions WHERE phase = 'complete' AND chain_head IS NOT NULL;
                """;
            return cmd.ExecuteNonQuery();
        }
    }

    public List<SessionTimestamp> DueTimestamps(DateTimeOffset now, int limit) =>
        QueryTimestamps("status = 'pending' AND next_attempt_ms <= $now ORDER BY next_attempt_ms LIMIT $limit", ("$now", now.ToUnixTimeMilliseconds()), ("$limit", limit));

    public List<SessionTimestamp> TimestampsToUpload(int limit) =>
        QueryTimestamps("status = 'ok' AND uploaded = 0 LIMIT $limit", ("$limit", limit));

    /// <summary>Stamps trusted before their CA was kept with them.</summary>
    public List<SessionTimestamp> UnanchoredTimestamps() =>
        QueryTimestamps("status = 'ok' AND token IS NOT NULL AND tsa_ca_sha256 IS NULL");

    public SessionTimestamp? GetTimestamp(string sessionId) =>
        QueryTimestamps("session_id = $id", ("$id", sessionId)) is [var one, ..] ? one : null;

    /// <summary>When the next queued stamp is due, for the loop's sleep.</summary>
    public DateTimeOffset? NextTimestampDue()
    {
        using var c = OpenReader();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT min(next_attempt_ms) FROM session_timestamps WHERE status = 'pending'";
        return cmd.ExecuteScalar() is long ms ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;
    }

    /// <summary>A token received: ok when trusted, failed (kept, for /verify to show bad) when not; with what it was checked against.</summary>
    public void RecordTimestamp(string sessionId, string status, byte[] reply, byte[] token, DateTimeOffset genTime, string tsa, string? error, TsaAnchor anchor) =>
        WriteTimestamp(sessionId, "UPDATE session_timestamps SET status = $status, reply = $reply, token = $token, gen_time_ms = $gen, tsa = $tsa, last_error = $error, attempts = attempts + 1, " +
                                  "tsa_chain_pem = $chain, tsa_ca_pem = $ca, tsa_ca_sha256 = $caSha WHERE session_id = $id", cmd =>
        {
            BindAnchor(cmd, anchor);
            cmd.Parameters.AddWithValue("$status", status);
            cmd.Parameters.Add("$reply", SqliteType.Blob).Value = reply;
            cmd.Parameters.Add("$token", SqliteType.Blob).Value = token;
            cmd.Parameters.AddWithValue("$gen", genTime.ToUnixTimeMilliseconds());
            cmd.Parameters.AddWithValue("$tsa", tsa);
            cmd.Parameters.AddWithValue("$error", (object?)error ?? DBNull.Value);
        });

    /// <summary>An older stamp given the material it is checked against from now on: ok when it verifies with it, else failed.</summary>
    public void AnchorTimestamp(string sessionId, string status, string? error, TsaAnchor anchor) =>
        WriteTimestamp(sessionId, "UPDATE session_timestamps SET status = $status, last_error = $error, tsa_chain_pem = $chain, tsa_ca_pem = $ca, tsa_ca_sha256 = $caSha WHERE session_id = $id", cmd =>
        {
            BindAnchor(cmd, anchor);
            cmd.Parameters.AddWithValue("$status", status);
            cmd.Parameters.AddWithValue("$error", (object?)error ?? DBNull.Value);
        });

    private static void BindAnchor(SqliteCommand cmd, TsaAnchor anchor)
    {
        cmd.Parameters.AddWithValue("$chain", anchor.ChainPem);
        cmd.Parameters.AddWithValue("$ca", anchor.CaPem);
        cmd.Parameters.AddWithValue("$caSha", anchor.CaSha256);
    }

    /// <summary>The TSA could not be reached or answered badly: stays pending until <paramref name="nextAttempt"/>.</summary>
    public void PostponeTimestamp(string sessionId, string error, DateTimeOffset nextAttempt) =>
        WriteTimestamp(sessionId, "UPDATE session_timestamps SET last_error = $error, attempts = attempts + 1, next_attempt_ms = $next WHERE session_id = $id", cmd =>
        {
            cmd.Parameters.AddWithValue("$error", error);
            cmd.Parameters.AddWithValue("$next", nextAttempt.ToUnixTimeMilliseconds());
        });

    public void MarkTimestampUploaded(string sessionId) =>
        WriteTimestamp(sessionId, "UPDATE session_timestamps SET uploaded = 1 WHERE session_id = $id", _ => { });

    private void WriteTimestamp(string sessionId, string sql, Action<SqliteCommand> bind)
    {
        lock (_writeLock) WithDiskReserve(() =>
        {
            using var tx = _writer.BeginTransaction();
            using (var cmd = _writer.CreateCommand())
            {
                cmd.Transaction = tx;
                cmd.CommandText = sql;
                cmd.Parameters.AddWithValue("$id", sessionId);
                bind(cmd);
                cmd.ExecuteNonQuery();
            }
            BumpRevision(tx, sessionId);
            tx.Commit();
        });
        SessionChanged?.Invoke(sessionId);
    }

    private List<SessionTimestamp> QueryTimestamps(string whereClause, params (string Name, object Value)[] parameters)
    {
        using var c = OpenReader();
        using var cmd = c.CreateCommand();
        cmd.CommandText = $"SELECT session_id, chain_head, status, reply, token, gen_time_ms, tsa, attempts, last_error, uploaded, tsa_chain_pem, tsa_ca_pem, tsa_ca_sha256 FROM session_timestamps WHERE {whereClause}";
        foreach (var (name, value) in parameters) cmd.Parameters.AddWithValue(name, value);
        using var r = cmd.ExecuteReader();
        var list = new List<SessionTimestamp>();
        while (r.Read())
            list.Add(new SessionTimestamp(r.GetString(0), r.GetString(1), r.GetString(2), r.IsDBNull(3) ? null : (byte[])r[3], r.IsDBNull(4) ? null : (byte[])r[4],
                Time(r, 5), Text(r, 6), r.GetInt32(7), Text(r, 8), r.GetInt64(9) != 0, Text(r, 10), Text(r, 11), Text(r, 12)));
        return list;
    }

    // A stamp trusted before its CA was kept, and not anchored since, cannot be checked: shown failed, as /verify says bad.
    private const string TimestampColumns =
        "(SELECT CASE WHEN status = 'ok' AND tsa_ca_sha256 IS NULL THEN 'failed' ELSE status END FROM session_timestamps t WHERE t.session_id = sessions.session_id), " +
        "(SELECT gen_time_ms FROM session_timestamps t WHERE t.session_id = sessions.session_id), " +
        "(SELECT tsa FROM session_timestamps t WHERE t.session_id = sessions.session_id), " +
        "(SELECT tsa_ca_sha256 FROM session_timestamps t WHERE t.session_id = sessions.session_id)";

    private static SessionRecord ReadTimestampSummary(SqliteDataReader r, int first, SessionRecord s) => s with
    {
        TimestampStatus = Text(r, first),
        TimestampGenTime = Time(r, first + 1),
        TimestampTsa = Text(r, first + 2),
        TimestampCaSha256 = Text(r, first + 3),
    };
}
