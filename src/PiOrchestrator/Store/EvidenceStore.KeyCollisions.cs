namespace PiOrchestrator.Store;

/// <summary>A key found holding an object this agent did not write, and where the capture went instead.</summary>
public sealed record KeyCollision(Guid EvidenceId, string Key, string Occupant, string StoredAt, DateTimeOffset At);

/// <summary>Object keys taken by another writer: the row moves to a key of its own, the collision is kept for status.</summary>
public sealed partial class EvidenceStore
{
    private void MigrateKeyCollisions() => Execute(_writer, """
        CREATE TABLE IF NOT EXISTS key_collisions(
          evidence_id TEXT NOT NULL,
          at_ms INTEGER NOT NULL,
          object_key TEXT NOT NULL,
          occupant TEXT NOT NULL,
          stored_key TEXT NOT NULL);
        """);

    /// <summary>
    /// Points the row at <paramref name="newKey"/> (the API, the image proxy and the export follow the row) and keeps
    /// the collision, in one transaction. Returns the row as it now is.
    /// </summary>
    public EvidenceRecord MoveObjectKey(EvidenceRecord e, string newKey, string occupant, DateTimeOffset at)
    {
        lock (_writeLock) WithDiskReserve(() =>
        {
            using var tx = _writer.BeginTransaction();
            using (var cmd = _writer.CreateCommand())
            {
                cmd.Transaction = tx;
                cmd.CommandText = """
                    INSERT INTO key_collisions(evidence_id, at_ms, object_key, occupant, stored_key) VALUES ($id, $at, $old, $occupant, $new);
                    UPDATE evidence SET object_key = $new WHERE evidence_id = $id;
                    """;
                cmd.Parameters.AddWithValue("$id", e.EvidenceId.ToString("D"));
                cmd.Parameters.AddWithValue("$at", at.ToUnixTimeMilliseconds());
                cmd.Parameters.AddWithValue("$old", e.ObjectKey ?? "");
                cmd.Parameters.AddWithValue("$occupant", occupant);
                cmd.Parameters.AddWithValue("$new", newKey);
                cmd.ExecuteNonQuery();
            }
            BumpRevision(tx, e.SessionId);
            tx.Commit();
            EvidenceChanged();
        });
        SessionChanged?.Invoke(e.SessionId);
        return e with { ObjectKey = newKey };
    }

    /// <summary>How many collisions were met, and the latest.</summary>
    public (long Count, KeyCollision? Last) KeyCollisions()
    {
        using var c = OpenReader();
        using var cmd = c.CreateCommand();
        cmd.CommandText = """
            SELECT (SELECT count(*) FROM key_collisions), evidence_id, object_key, occupant, stored_key, at_ms
            FROM (SELECT 1) LEFT JOIN (SELECT * FROM key_collisions ORDER BY at_ms DESC, rowid DESC LIMIT 1);
            """;
        using var r = cmd.ExecuteReader();
        r.Read();
        var last = r.IsDBNull(1) ? null : new KeyCollision(Guid.Parse(r.GetString(1)), r.GetString(2), r.GetString(3), r.GetString(4),
            DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(5)));
        return (r.GetInt64(0), last);
    }
}
