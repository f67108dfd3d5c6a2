using Microsoft.Data.Sqlite;

namespace PiOrchestrator.Store;

/// <summary>Signatures and clock trust on evidence rows: the columns, and the seal put on a row as it is inserted.</summary>
public sealed partial class EvidenceStore
{
    private readonly DeviceKey? _deviceKey;
    private readonly ClockTrust? _clock;

    /// <summary>Columns added after schema 1; a database made before gets them (NULL on old rows: never signed).</summary>
    private void MigrateSignatures()
    {
        var columns = new HashSet<string>(StringComparer.Ordinal);
        using (var cmd = _writer.CreateCommand())
        {
            cmd.CommandText = "SELECT name FROM pragma_table_info('evidence')";
            using var r = cmd.ExecuteReader();
            while (r.Read()) columns.Add(r.GetString(0));
        }
        foreach (var (name, type) in new[] { ("signature", "TEXT"), ("key_id", "TEXT"), ("clock_synchronized", "INTEGER") })
            if (!columns.Contains(name)) Execute(_writer, $"ALTER TABLE evidence ADD COLUMN {name} {type};");
        MigrateTimestamps();
    }

    /// <summary>
    /// A good capture gets its signature over the canonical line, inserted with the row in one transaction; every row
    /// gets the clock's state (a caller's own reading, taken nearer the grab, is kept).
    /// </summary>
    private EvidenceRecord Seal(EvidenceRecord e)
    {
        if (e.ClockSynchronized is null && _clock is not null) e = e with { ClockSynchronized = _clock.Read().Synchronized };
        if (_deviceKey is null || !e.IsCaptured || e.Sha256 is null) return e with { Signature = null, KeyId = null };
        return e with { Signature = Convert.ToBase64String(_deviceKey.Sign(CaptureSignature.LineBytes(e))), KeyId = _deviceKey.KeyId };
    }

    private static void BindSeal(SqliteParameterCollection p, EvidenceRecord e)
    {
        p.AddWithValue("$signature", (object?)e.Signature ?? DBNull.Value);
        p.AddWithValue("$keyId", (object?)e.KeyId ?? DBNull.Value);
        p.AddWithValue("$clockSynced", e.ClockSynchronized is { } synced ? (synced ? 1 : 0) : DBNull.Value);
    }

    private const string SealColumns = "signature, key_id, clock_synchronized";

    private static EvidenceRecord ReadSeal(SqliteDataReader r, int first, EvidenceRecord e) => e with
    {
        Signature = Text(r, first),
        KeyId = Text(r, first + 1),
        ClockSynchronized = r.IsDBNull(first + 2) ? null : r.GetInt64(first + 2) != 0,
    };
}
