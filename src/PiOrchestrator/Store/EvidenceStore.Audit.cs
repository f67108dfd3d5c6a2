using Microsoft.Data.Sqlite;

namespace PiOrchestrator.Store;

/// <summary>
/// One write a person made through the API: who (admin: the holder of Api:Key, or an invited technician by name), from
/// which address, what (capture, session.open, session.end, invite.*), on what, and the detail they gave (an end's
/// reason). An invite's rows name no container or session (the detail names the invite and its containers).
/// </summary>
public sealed record AuditEntry(DateTimeOffset At, string Actor, string? Address, string Action, string? ContainerId, string? SessionId, string? Detail = null)
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
          container_id TEXT,
          session_id TEXT,
          detail TEXT);
        CREATE INDEX IF NOT EXISTS audit_by_session ON audit(session_id);
        """);

    /// <summary>Schema 4: an invite's rows have no container or session; a table made by schema 3 required both.</summary>
    private void MigrateAuditWithoutSession()
    {
        using (var cmd = _writer.CreateCommand())
        {
            cmd.CommandText = "SELECT \"notnull\" FROM pragma_table_info('audit') WHERE name = 'session_id'";
            if (cmd.ExecuteScalar() is not long notNull || notNull == 0) return;
        }
        Execute(_writer, """
            BEGIN;
            CREATE TABLE audit_v4(
              id INTEGER PRIMARY KEY AUTOINCREMENT,
              at_ms INTEGER NOT NULL,
              actor TEXT NOT NULL,
              address TEXT,
              action TEXT NOT NULL,
              container_id TEXT,
              session_id TEXT,
              detail TEXT);
            INSERT INTO audit_v4(id, at_ms, actor, address, action, container_id, session_id, detail)
              SELECT id, at_ms, actor, address, action, container_id, session_id, detail FROM audit;
            DROP TABLE audit;
            ALTER TABLE audit_v4 RENAME TO audit;
            CREATE INDEX IF NOT EXISTS audit_by_session ON audit(session_id);
            COMMIT;
            """);
    }

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
        cmd.Parameters.AddWithValue("$container", (object?)entry.ContainerId ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$session", (object?)entry.SessionId ?? DBNull.Value);
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
        return ReadAudit(cmd);
    }

    /// <summary>
    /// One page of audit rows, newest first (by id: the order they were written, whatever the clock said), those
    /// before <paramref name="beforeId"/> when given, filtered by whichever of container, session and action are given.
    /// </summary>
    public AuditPage ListAuditPage(string? containerId, string? sessionId, string? action, long? beforeId, int limit)
    {
        using var c = OpenReader();
        using var cmd = c.CreateCommand();
        var where = new List<string>();
        void Filter(string column, string parameter, object? value)
        {
            if (value is null) return;
            where.Add($"{column} = {parameter}");
            cmd.Parameters.AddWithValue(parameter, value);
        }
        Filter("container_id", "$container", containerId);
        Filter("session_id", "$session", sessionId);
        Filter("action", "$action", action);
        if (beforeId is not null)
        {
            where.Add("id < $before");
            cmd.Parameters.AddWithValue("$before", beforeId.Value);
        }
        cmd.CommandText = "SELECT id, at_ms, actor, address, action, container_id, session_id, detail FROM audit " +
                          (where.Count > 0 ? "WHERE " + string.Join(" AND ", where) : "") + " ORDER BY id DESC LIMIT $limit";
        cmd.Parameters.AddWithValue("$limit", limit + 1);
        var list = ReadAudit(cmd);
        var hasMore = list.Count > limit;
        if (hasMore) list.RemoveAt(list.Count - 1);
        return new AuditPage(list, hasMore, hasMore ? list[^1].Id : null);
    }

    private static List<AuditEntry> ReadAudit(SqliteCommand cmd)
    {
        using var r = cmd.ExecuteReader();
        var list = new List<AuditEntry>();
        while (r.Read())
            list.Add(new AuditEntry(DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(1)), r.GetString(2), Text(r, 3), r.GetString(4), Text(r, 5),
                Text(r, 6), Text(r, 7)) { Id = r.GetInt64(0) });
        return list;
    }
}

/// <summary>A page of audit rows; <see cref="NextBeforeId"/> continues it when there is more.</summary>
public sealed record AuditPage(IReadOnlyList<AuditEntry> Entries, bool HasMore, long? NextBeforeId);

/// <summary>The actions an audit row records.</summary>
public static class AuditActions
{
    public const string Capture = "capture";
    public const string SessionOpen = "session.open";
    public const string SessionEnd = "session.end";
    public const string InviteMinted = "invite.minted";
    public const string InviteJoined = "invite.joined";
    public const string InviteRevoked = "invite.revoked";

    public static readonly IReadOnlyList<string> All = [Capture, SessionOpen, SessionEnd, InviteMinted, InviteJoined, InviteRevoked];
}

/// <summary>Audit rows written, on the agent's meter.</summary>
public static class AuditMetrics
{
    private static readonly System.Diagnostics.Metrics.Counter<long> Events = Hosting.AgentMeter.Meter.CreateCounter<long>("piorchestrator.audit.events",
        description: "Audit rows written (a write a person made through the API), by action");

    public static void Written(string action) => Events.Add(1, new KeyValuePair<string, object?>("action", action));
}
