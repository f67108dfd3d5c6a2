using System.Security.Cryptography;
using Microsoft.Data.Sqlite;

namespace PiOrchestrator.Store;

/// <summary>A device key on record: its public half and when it signed (to: null while it is the key in use).</summary>
public sealed record DeviceKeyRecord(string KeyId, string PublicKeyPem, string Source, DateTimeOffset ValidFrom, DateTimeOffset? ValidTo);

/// <summary>
/// Every device public key that ever signed here, kept for good: each capture names its key (key_id), and verify and
/// the export check it with that key, so a rotated key leaves the evidence it signed verifiable.
/// </summary>
public sealed partial class EvidenceStore
{
    public const string DatabaseFileName = "evidence.db";

    private void MigrateDeviceKeys() => Execute(_writer, """
        CREATE TABLE IF NOT EXISTS device_keys(
          key_id TEXT PRIMARY KEY,
          public_key_pem TEXT NOT NULL,
          source TEXT NOT NULL,
          valid_from_ms INTEGER NOT NULL,
          valid_to_ms INTEGER);
        """);

    /// <summary>
    /// Puts the key in use on record (from its first signature, or now) and retires any other; warns about captures
    /// whose key was never kept (replaced before keys were recorded): verify calls them unknown_key.
    /// </summary>
    private void RecordDeviceKey(DeviceKey key)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        lock (_writeLock)
        {
            using var tx = _writer.BeginTransaction();
            using (var cmd = _writer.CreateCommand())
            {
                cmd.Transaction = tx;
                cmd.CommandText = """
                    UPDATE device_keys SET valid_to_ms = $now WHERE valid_to_ms IS NULL AND key_id <> $id;
                    INSERT INTO device_keys(key_id, public_key_pem, source, valid_from_ms, valid_to_ms)
                      VALUES($id, $pem, $source, COALESCE((SELECT MIN(captured_ms) FROM evidence WHERE key_id = $id), $now), NULL)
                      ON CONFLICT(key_id) DO UPDATE SET valid_to_ms = NULL, source = excluded.source;
                    """;
                cmd.Parameters.AddWithValue("$now", now);
                cmd.Parameters.AddWithValue("$id", key.KeyId);
                cmd.Parameters.AddWithValue("$pem", key.PublicKeyPem);
                cmd.Parameters.AddWithValue("$source", key.Source);
                cmd.ExecuteNonQuery();
            }
            tx.Commit();
        }
        using var connection = OpenReader();
        using var unknown = connection.CreateCommand();
        unknown.CommandText = "SELECT key_id, COUNT(*) FROM evidence WHERE key_id IS NOT NULL AND key_id NOT IN (SELECT key_id FROM device_keys) GROUP BY key_id";
        using var r = unknown.ExecuteReader();
        while (r.Read())
            _log.LogWarning("{Count} capture(s) are signed with device key {KeyId}, whose public key was not kept: verify reports them as unknown_key",
                r.GetInt64(1), r.GetString(0));
    }

    public IReadOnlyList<DeviceKeyRecord> GetDeviceKeys()
    {
        using var connection = OpenReader();
        using var cmd = connection.CreateCommand();
        cmd.CommandText = "SELECT key_id, public_key_pem, source, valid_from_ms, valid_to_ms FROM device_keys ORDER BY valid_from_ms, key_id";
        using var r = cmd.ExecuteReader();
        var keys = new List<DeviceKeyRecord>();
        while (r.Read())
            keys.Add(new DeviceKeyRecord(r.GetString(0), r.GetString(1), r.GetString(2), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(3)), Time(r, 4)));
        return keys;
    }

    /// <summary>"ok" when the capture's signature verifies with the key it names, "unknown_key" when that key is not on record, else "bad".</summary>
    public string CheckSignature(EvidenceRecord e)
    {
        if (e.Signature is null || e.KeyId is null) return "bad";
        string? pem;
        using (var connection = OpenReader())
        using (var cmd = connection.CreateCommand())
        {
            cmd.CommandText = "SELECT public_key_pem FROM device_keys WHERE key_id = $id";
            cmd.Parameters.AddWithValue("$id", e.KeyId);
            pem = cmd.ExecuteScalar() as string;
        }
        if (pem is null) return "unknown_key";
        using var key = ECDsa.Create();
        key.ImportFromPem(pem);
        Span<byte> der = stackalloc byte[128];
        if (!Convert.TryFromBase64String(e.Signature, der, out var length)) return "bad";
        return key.VerifyData(CaptureSignature.LineBytes(e), der[..length], HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence) ? "ok" : "bad";
    }

    /// <summary>
    /// How many captures in the data directory's database are signed, and the key of the latest: read before the store
    /// opens (the device key is made first), without creating the database.
    /// </summary>
    internal static (long Count, string? LastKeyId) SignedCaptures(string dataDirectory)
    {
        var path = Path.Combine(dataDirectory, DatabaseFileName);
        if (!File.Exists(path)) return (0, null);
        try
        {
            using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
            connection.Open();
            using var cmd = connection.CreateCommand();
            cmd.CommandText = "SELECT COUNT(*) FROM pragma_table_info('evidence') WHERE name = 'key_id'";
            if (Convert.ToInt64(cmd.ExecuteScalar()) == 0) return (0, null);
            cmd.CommandText = "SELECT COUNT(*), (SELECT key_id FROM evidence WHERE key_id IS NOT NULL ORDER BY captured_ms DESC LIMIT 1) FROM evidence WHERE key_id IS NOT NULL";
            using var r = cmd.ExecuteReader();
            r.Read();
            return (r.GetInt64(0), r.IsDBNull(1) ? null : r.GetString(1));
        }
        catch (SqliteException ex)
        {
            throw new Hosting.ConfigurationException($"the database {path} cannot be read to check for signed captures before making a device key: {ex.Message}");
        }
    }
}
