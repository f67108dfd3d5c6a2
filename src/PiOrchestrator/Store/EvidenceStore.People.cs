using Microsoft.Data.Sqlite;

namespace PiOrchestrator.Store;

/// <summary>A stored Idempotency-Key: what it was first sent with (a fingerprint of the request) and the session it made.</summary>
public sealed record IdempotencyRecord(string Scope, string Key, string Fingerprint, string SessionId, DateTimeOffset CreatedAt);

/// <summary>
/// Sessions people open and end (who, why, their notes) and the Idempotency-Keys of the requests that made them: a key
/// is written in the transaction that inserts its session, so a repeat, even after a crash or a restart, finds either
/// both or neither.
/// </summary>
public sealed partial class EvidenceStore
{
    /// <summary>Columns and a table added in schema 3; a database made before gets them (NULL on its rows: door sessions).</summary>
    private void MigrateSessionPeople()
    {
        var columns = new HashSet<string>(StringComparer.Ordinal);
        using (var cmd = _writer.CreateCommand())
        {
            cmd.CommandText = "SELECT name FROM pragma_table_info('sessions')";
            using var r = cmd.ExecuteReader();
            while (r.Read()) columns.Add(r.GetString(0));
        }
        var added = false;
        foreach (var (name, type) in new[]
                 {
                     ("after_missing_reason", "TEXT"), ("notes", "TEXT"), ("opened_by", "TEXT"), ("ended_by", "TEXT"), ("ended_ms", "INTEGER"),
                     ("end_reason", "TEXT"),
                 })
        {
            if (columns.Contains(name)) continue;
            Execute(_writer, $"ALTER TABLE sessions ADD COLUMN {name} {type};");
            added = true;
        }
        // Test captures made before: their pair says there was no door cycle, as a new one's does.
        if (added)
            Execute(_writer, $"""
                UPDATE sessions SET before_missing_reason = '{MissingReason.NoDoorCycle}', after_missing_reason = '{MissingReason.NoDoorCycle}'
                WHERE session_id LIKE 'manual-%' AND before_missing_reason IS NULL;
                """);
        Execute(_writer, """
            CREATE TABLE IF NOT EXISTS idempotency_keys(
              scope TEXT NOT NULL,
              key TEXT NOT NULL,
              fingerprint TEXT NOT NULL,
              session_id TEXT NOT NULL,
              created_ms INTEGER NOT NULL,
              PRIMARY KEY(scope, key));
            CREATE INDEX IF NOT EXISTS idempotency_keys_by_time ON idempotency_keys(created_ms);
            """);
        MigrateAudit();
    }

    private const string PeopleColumns = "after_missing_reason, notes, opened_by, ended_by, ended_ms, end_reason";

    private static SessionRecord ReadPeople(SqliteDataReader r, int first, SessionRecord s) => s with
    {
        AfterMissingReason = Text(r, first),
        Notes = Text(r, first + 1),
        OpenedBy = Text(r, first + 2),
        EndedBy = Text(r, first + 3),
        EndedAt = Time(r, first + 4),
        EndReason = Text(r, first + 5),
    };

    public IdempotencyRecord? FindIdempotencyKey(string scope, string key)
    {
        using var c = OpenReader();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT fingerprint, session_id, created_ms FROM idempotency_keys WHERE scope = $scope AND key = $key";
        cmd.Parameters.AddWithValue("$scope", scope);
        cmd.Parameters.AddWithValue("$key", key);
        using var r = cmd.ExecuteReader();
        return r.Read() ? new IdempotencyRecord(scope, key, r.GetString(0), r.GetString(1), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(2))) : null;
    }

    private static void InsertIdempotencyKey(SqliteConnection writer, SqliteTransaction tx, IdempotencyRecord key)
    {
        using var cmd = writer.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "INSERT INTO idempotency_keys(scope, key, fingerprint, session_id, created_ms) VALUES($scope, $key, $fingerprint, $session, $created)";
        cmd.Parameters.AddWithValue("$scope", key.Scope);
        cmd.Parameters.AddWithValue("$key", key.Key);
        cmd.Parameters.AddWithValue("$fingerprint", key.Fingerprint);
        cmd.Parameters.AddWithValue("$session", key.SessionId);
        cmd.Parameters.AddWithValue("$created", key.CreatedAt.ToUnixTimeMilliseconds());
        cmd.ExecuteNonQuery();
    }

    /// <summary>Who ended the session and why, once: a second end leaves the first one's record as it is.</summary>
    public void RecordEnd(string sessionId, string endedBy, DateTimeOffset at, string? reason, AuditEntry? audit = null)
    {
        WriteSession(sessionId, null, """
            UPDATE sessions SET ended_by = $by, ended_ms = $at, end_reason = $reason, revision = revision + 1
            WHERE session_id = $id AND ended_by IS NULL RETURNING revision
            """, cmd =>
        {
            cmd.Parameters.AddWithValue("$by", endedBy);
            cmd.Parameters.AddWithValue("$at", at.ToUnixTimeMilliseconds());
            cmd.Parameters.AddWithValue("$reason", (object?)reason ?? DBNull.Value);
        }, audit: audit);
    }

    /// <summary>The AFTER_CLOSE side will never be taken, and why (a session ended on request without it).</summary>
    public void SetAfterMissingReason(string sessionId, string reason)
    {
        WriteSession(sessionId, null, "UPDATE sessions SET after_missing_reason = $reason, revision = revision + 1 WHERE session_id = $id RETURNING revision",
            cmd => cmd.Parameters.AddWithValue("$reason", reason));
    }
}
