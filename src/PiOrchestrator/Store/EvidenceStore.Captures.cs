using System.Collections.Concurrent;
using Microsoft.Data.Sqlite;

namespace PiOrchestrator.Store;

/// <summary>Capture rows with their JPEG and thumbnail bytes: writes, queries, and the rows-by-object-key cache of the image proxy.</summary>
public sealed partial class EvidenceStore
{
    /// <summary>The row and its JPEG in one transaction: once this returns, the capture exists.</summary>
    public EvidenceRecord SaveEvidence(EvidenceRecord e, ReadOnlySpan<byte> jpeg, byte[]? thumbnail = null)
    {
        e = Seal(e);
        var bytes = jpeg.ToArray();
        var withBytes = e.BytesHeld && bytes.Length > 0;
        lock (_writeLock)
        {
            if (withBytes) RefuseWhileDiskFull();
            // A photo never gets the reserve: only the record of its failure does.
            WithDiskReserve(() => { InsertEvidence(e, bytes, thumbnail); return 0; }, retryAfterRelease: !withBytes);
            EvidenceChanged();
        }
        SessionChanged?.Invoke(e.SessionId);
        EvidenceStored?.Invoke(e);
        return e;
    }

    private void InsertEvidence(EvidenceRecord e, byte[] jpeg, byte[]? thumbnail)
    {
        {
            using var tx = _writer.BeginTransaction();
            using (var cmd = _writer.CreateCommand())
            {
                cmd.Transaction = tx;
                cmd.CommandText = """
                    INSERT INTO evidence(evidence_id, session_id, container_id, device_id, capture_tag, status, failure_reason,
                      captured_ms, created_ms, content_type, image_size_bytes, sha256, object_key, upload_status, width, height,
                      latency_ms, delay_ms, bytes_held, signature, key_id, clock_synchronized, sequence)
                    VALUES($id, $session, $container, $device, $tag, $status, $reason, $captured, $created, $type, $size, $sha,
                      $key, $upload, $width, $height, $latency, $delay, $held, $signature, $keyId, $clockSynced, $sequence)
                    """;
                var p = cmd.Parameters;
                p.AddWithValue("$id", e.EvidenceId.ToString("D"));
                p.AddWithValue("$session", e.SessionId);
                p.AddWithValue("$container", e.ContainerId);
                p.AddWithValue("$device", e.DeviceId);
                p.AddWithValue("$tag", EvidenceNames.Of(e.Tag));
                p.AddWithValue("$status", EvidenceNames.Of(e.Status));
                p.AddWithValue("$reason", (object?)e.FailureReason ?? DBNull.Value);
                p.AddWithValue("$captured", e.CapturedAt.ToUnixTimeMilliseconds());
                p.AddWithValue("$created", e.CreatedAt.ToUnixTimeMilliseconds());
                p.AddWithValue("$type", e.ContentType);
                p.AddWithValue("$size", (object?)e.ImageSizeBytes ?? DBNull.Value);
                p.AddWithValue("$sha", (object?)e.Sha256 ?? DBNull.Value);
                p.AddWithValue("$key", (object?)e.ObjectKey ?? DBNull.Value);
                p.AddWithValue("$upload", EvidenceNames.Of(e.UploadStatus));
                p.AddWithValue("$width", (object?)e.Width ?? DBNull.Value);
                p.AddWithValue("$height", (object?)e.Height ?? DBNull.Value);
                p.AddWithValue("$latency", (object?)e.LatencyMs ?? DBNull.Value);
                p.AddWithValue("$delay", (object?)e.DelayMs ?? DBNull.Value);
                p.AddWithValue("$held", e.BytesHeld && jpeg.Length > 0 ? 1 : 0);
                BindSeal(p, e);
                p.AddWithValue("$sequence", (object?)e.Sequence ?? DBNull.Value);
                cmd.ExecuteNonQuery();
            }
            if (e.BytesHeld && jpeg.Length > 0)
            {
                using var cmd = _writer.CreateCommand();
                cmd.Transaction = tx;
                cmd.CommandText = "INSERT INTO evidence_bytes(evidence_id, data) VALUES($id, $data)";
                cmd.Parameters.AddWithValue("$id", e.EvidenceId.ToString("D"));
                cmd.Parameters.Add("$data", SqliteType.Blob).Value = jpeg;
                cmd.ExecuteNonQuery();
            }
            if (thumbnail is not null) InsertThumbnail(tx, e.EvidenceId, thumbnail);
            BumpRevision(tx, e.SessionId);
            tx.Commit();
        }
    }

    public List<EvidenceRecord> GetEvidenceForSession(string sessionId) =>
        QueryEvidence("session_id = $id ORDER BY captured_ms, evidence_id", ("$id", sessionId));

    public EvidenceRecord? GetEvidence(Guid evidenceId) =>
        QuerySingleEvidence("evidence_id = $v", evidenceId.ToString("D"));

    /// <summary>
    /// The row with this object key. Served from memory after the first read (the image proxy asks on every
    /// request); every write to evidence rows empties that memory.
    /// </summary>
    public EvidenceRecord? GetEvidenceByKey(string objectKey)
    {
        if (_byKey.TryGetValue(objectKey, out var cached)) return cached;
        var version = Interlocked.Read(ref _evidenceVersion);
        var found = QuerySingleEvidence("object_key = $v", objectKey);
        // Kept only if no write came in between. Check and keep under the same lock as the writer's bump-and-clear:
        // otherwise a row read before a write could be kept just after the clear, and outlive it.
        lock (_byKeyLock)
        {
            if (found is not null && _evidenceVersion == version && _byKey.Count < 10_000)
                _byKey[objectKey] = found;
        }
        return found;
    }

    private readonly ConcurrentDictionary<string, EvidenceRecord> _byKey = new(StringComparer.Ordinal);
    private readonly Lock _byKeyLock = new();
    private long _evidenceVersion;

    private void EvidenceChanged()
    {
        lock (_byKeyLock)
        {
            Interlocked.Increment(ref _evidenceVersion);
            _byKey.Clear();
        }
    }

    /// <summary>
    /// Keeps a thumbnail made later (for a capture stored before thumbnails were made at capture time); false, and
    /// nothing kept, once the capture is purged.
    /// </summary>
    public bool SaveThumbnail(Guid evidenceId, byte[] thumbnail)
    {
        lock (_writeLock)
        {
            using var tx = _writer.BeginTransaction();
            using (var check = _writer.CreateCommand())
            {
                check.Transaction = tx;
                check.CommandText = "SELECT count(*) FROM evidence WHERE evidence_id = $id AND purged_ms IS NULL";
                check.Parameters.AddWithValue("$id", evidenceId.ToString("D"));
                if (Convert.ToInt32(check.ExecuteScalar()) == 0) return false;
            }
            InsertThumbnail(tx, evidenceId, thumbnail);
            tx.Commit();
            return true;
        }
    }

    private void InsertThumbnail(SqliteTransaction tx, Guid evidenceId, byte[] thumbnail)
    {
        using var cmd = _writer.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "INSERT OR REPLACE INTO thumbnails(evidence_id, data) VALUES($id, $data)";
        cmd.Parameters.AddWithValue("$id", evidenceId.ToString("D"));
        cmd.Parameters.Add("$data", SqliteType.Blob).Value = thumbnail;
        cmd.ExecuteNonQuery();
    }

    public byte[]? ReadThumbnail(Guid evidenceId)
    {
        using var c = OpenReader();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT data FROM thumbnails WHERE evidence_id = $id";
        cmd.Parameters.AddWithValue("$id", evidenceId.ToString("D"));
        return cmd.ExecuteScalar() as byte[];
    }

    public byte[]? ReadImage(Guid evidenceId)
    {
        using var c = OpenReader();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT data FROM evidence_bytes WHERE evidence_id = $id";
        cmd.Parameters.AddWithValue("$id", evidenceId.ToString("D"));
        return cmd.ExecuteScalar() as byte[];
    }

    /// <summary>
    /// The capture's stored JPEG, read in place (SQLite incremental blob I/O) in bounded pieces rather than loaded
    /// whole; null when the bytes are not held. The read sees one snapshot, so retention cannot cut it short.
    /// </summary>
    public StoredImage? OpenImage(Guid evidenceId)
    {
        var c = OpenReader();
        SqliteTransaction? snapshot = null;
        try
        {
            snapshot = c.BeginTransaction(deferred: true);
            using var cmd = c.CreateCommand();
            cmd.Transaction = snapshot;
            cmd.CommandText = "SELECT rowid FROM evidence_bytes WHERE evidence_id = $id";
            cmd.Parameters.AddWithValue("$id", evidenceId.ToString("D"));
            if (cmd.ExecuteScalar() is not long rowId)
            {
                snapshot.Dispose();
                c.Dispose();
                return null;
            }
            return new StoredImage(c, snapshot, new SqliteBlob(c, "evidence_bytes", "data", rowId, readOnly: true));
        }
        catch
        {
            snapshot?.Dispose();
            c.Dispose();
            throw;
        }
    }

    private EvidenceRecord? QuerySingleEvidence(string predicate, string value) =>
        QueryEvidence(predicate, ("$v", value)) is [var single, ..] ? single : null;

    /// <summary>Evidence rows matching <paramref name="whereClause"/> (which may end in ORDER BY / LIMIT).</summary>
    private List<EvidenceRecord> QueryEvidence(string whereClause, params (string Name, object Value)[] parameters)
    {
        using var c = OpenReader();
        using var cmd = c.CreateCommand();
        cmd.CommandText = $"SELECT {EvidenceColumns} FROM evidence WHERE {whereClause}";
        foreach (var (name, value) in parameters) cmd.Parameters.AddWithValue(name, value);
        using var r = cmd.ExecuteReader();
        var list = new List<EvidenceRecord>();
        while (r.Read()) list.Add(ReadEvidence(r));
        return list;
    }
}
