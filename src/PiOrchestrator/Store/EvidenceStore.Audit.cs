using Microsoft.Data.Sqlite;

namespace PiOrchestrator.Store;

/// <summary>
/// One write a person made through the API: who (admin: the holder of Api:Key), from which address, what
/// (capture, session.open, session.end), on what, and the detail they gave (an end's reason).
/// </summary>
public sealed record AuditEntry(DateTimeOffset At, string Actor, string? Address, string Action, string ContainerId, string SessionId, string? Detail = null)
{
    public long Id { get; init; }
}

/// <summary>The audit trail: a row written in the transaction of the change it records, so neither exists without the other.</summary>
public sealed partial class EvidenceStore
{
    private void MigrateAudit() => Execute(_writer, """
        CREATE TABLE IF NOT EXISTS audit(
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          at_ms INTEGER NOT NULL,
          actor TEXT NOT NULL,
          address TEXT,
          action TEXT NOT NULL,
          container_id TEXT NOT NULL,
          session_id TEXT NOT NULL,
          detail TEXT);
        CREATE INDEX IF NOT EXISTS audit_by_session ON audit(session_id);
        """);

    private static void InsertAudit(SqliteConnection writer, SqliteTransaction tx, AuditEntry entry)
    {
        using var cmd = writer.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = """
            INSERT INTO audit(at_ms, actor, address, action, container_id, session_id, detail)
            VALUES($at, $actor, $address, $action, $container, $session, $detail)
            """;
        cmd.Parameters.AddWithValue("$at", entry.At.ToUnixTimeMilliseconds());
        cmd.Parameters.AddWithValue("$actor", entry.Actor);
        cmd.Parameters.AddWithValue("$address", (object?)entry.Address ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$action", entry.Action);
        cmd.Parameters.AddWithValue("$container", entry.ContainerId);
        cmd.Parameters.AddWithValue("$session", entry.SessionId);
        cmd.Parameters.AddWithValue("$detail", (object?)entry.Detail ?? DBNull.Value);
        cmd.ExecuteNonQuery();
    }

    /// <summary>The audit rows, oldest first; of one session when given.</summary>
    public List<AuditEntry> ListAudit(string? sessionId = null)
    {
        using var c = OpenReader();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT id, at_ms, actor, address, action, container_id, session_id, detail FROM audit" +
                          (sessionId is null ? "" : " WHERE session_id = $session") + " ORDER BY id";
        if (sessionId is not null) cmd.Parameters.AddWithValue("$session", sessionId);
        using var r = cmd.ExecuteReader();
        var list = new List<AuditEntry>();
        while (r.Read())
            list.Add(new AuditEntry(DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(1)), r.GetString(2), Text(r, 3), r.GetString(4), r.GetString(5),
                r.GetString(6), Text(r, 7)) { Id = r.GetInt64(0) });
        return list;
    }
}
