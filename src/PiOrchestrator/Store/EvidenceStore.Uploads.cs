namespace PiOrchestrator.Store;

/// <summary>The upload queue: rows moving pending → uploading → uploaded, local bytes dropped once uploaded, S3 retention.</summary>
public sealed partial class EvidenceStore
{
    /// <summary>Captured rows waiting for upload, oldest first.</summary>
    public List<EvidenceRecord> NextPendingUploads(int limit) =>
        QueryEvidence("upload_status = 'pending' ORDER BY captured_ms, evidence_id LIMIT $limit", ("$limit", limit));

    /// <summary>Moves a row along pending → uploading → uploaded (or failed), with the last error seen.</summary>
    public void SetUploadStatus(EvidenceRecord e, UploadStatus status, string? error, DateTimeOffset? uploadedAt = null)
    {
        lock (_writeLock) WithDiskReserve(() =>
        {
            using var tx = _writer.BeginTransaction();
            using (var cmd = _writer.CreateCommand())
            {
                cmd.Transaction = tx;
                cmd.CommandText = "UPDATE evidence SET upload_status = $status, upload_error = $error, uploaded_ms = COALESCE($uploaded, uploaded_ms) WHERE evidence_id = $id";
                cmd.Parameters.AddWithValue("$status", EvidenceNames.Of(status));
                cmd.Parameters.AddWithValue("$error", (object?)error ?? DBNull.Value);
                cmd.Parameters.AddWithValue("$uploaded", Ms(uploadedAt));
                cmd.Parameters.AddWithValue("$id", e.EvidenceId.ToString("D"));
                cmd.ExecuteNonQuery();
            }
            BumpRevision(tx, e.SessionId);
            tx.Commit();
            EvidenceChanged();
        });
        SessionChanged?.Invoke(e.SessionId);
    }

    /// <summary>At start: uploads a crash interrupted, and failed ones (their cause may be fixed now), go back to pending.</summary>
    public (int Interrupted, int Failed) ResetUploadsForRetry()
    {
        lock (_writeLock)
        {
            using var cmd = _writer.CreateCommand();
            cmd.CommandText = """
                SELECT (SELECT count(*) FROM evidence WHERE upload_status = 'uploading'), (SELECT count(*) FROM evidence WHERE upload_status = 'failed');
                UPDATE evidence SET upload_status = 'pending' WHERE upload_status IN ('uploading', 'failed');
                """;
            using var r = cmd.ExecuteReader();
            r.Read();
            var counts = (r.GetInt32(0), r.GetInt32(1));
            r.Close();
            EvidenceChanged();
            return counts;
        }
    }

    /// <summary>
    /// Drops local JPEG bytes captured before <paramref name="cutoff"/> that are safely uploaded; bytes not uploaded
    /// are never dropped. Returns what was dropped and how many old rows are still waiting for upload.
    /// </summary>
    public (List<EvidenceRecord> Dropped, int HeldNotUploaded) DropUploadedBytes(DateTimeOffset cutoff)
    {
        var dropped = new List<EvidenceRecord>();
        lock (_writeLock)
        {
            using var tx = _writer.BeginTransaction();
            using (var select = _writer.CreateCommand())
            {
                select.Transaction = tx;
                select.CommandText = $"SELECT {EvidenceColumns} FROM evidence WHERE bytes_held = 1 AND upload_status = 'uploaded' AND captured_ms < $cutoff";
                select.Parameters.AddWithValue("$cutoff", cutoff.ToUnixTimeMilliseconds());
                using var r = select.ExecuteReader();
                while (r.Read()) dropped.Add(ReadEvidence(r));
            }
            foreach (var e in dropped)
            {
                using var cmd = _writer.CreateCommand();
                cmd.Transaction = tx;
                cmd.CommandText = "DELETE FROM evidence_bytes WHERE evidence_id = $id; UPDATE evidence SET bytes_held = 0 WHERE evidence_id = $id;";
                cmd.Parameters.AddWithValue("$id", e.EvidenceId.ToString("D"));
                cmd.ExecuteNonQuery();
            }
            foreach (var sessionId in dropped.Select(e => e.SessionId).Distinct()) BumpRevision(tx, sessionId);
            int held;
            using (var count = _writer.CreateCommand())
            {
                count.Transaction = tx;
                count.CommandText = "SELECT count(*) FROM evidence WHERE bytes_held = 1 AND upload_status <> 'uploaded' AND captured_ms < $cutoff";
                count.Parameters.AddWithValue("$cutoff", cutoff.ToUnixTimeMilliseconds());
                held = Convert.ToInt32(count.ExecuteScalar());
            }
            tx.Commit();
            EvidenceChanged();
            foreach (var sessionId in dropped.Select(e => e.SessionId).Distinct()) SessionChanged?.Invoke(sessionId);
            return (dropped, held);
        }
    }

    /// <summary>Uploaded objects captured before the cutoff and not yet purged (for S3 retention).</summary>
    public List<EvidenceRecord> UploadedBefore(DateTimeOffset cutoff, int limit) =>
        QueryEvidence("upload_status = 'uploaded' AND purged_ms IS NULL AND captured_ms < $cutoff ORDER BY captured_ms LIMIT $limit",
            ("$cutoff", cutoff.ToUnixTimeMilliseconds()), ("$limit", limit));

    public void MarkPurged(EvidenceRecord e, DateTimeOffset at)
    {
        lock (_writeLock)
        {
            using var tx = _writer.BeginTransaction();
            using (var cmd = _writer.CreateCommand())
            {
                cmd.Transaction = tx;
                cmd.CommandText = """
                    UPDATE evidence SET purged_ms = $at, bytes_held = 0 WHERE evidence_id = $id;
                    DELETE FROM evidence_bytes WHERE evidence_id = $id;
                    DELETE FROM thumbnails WHERE evidence_id = $id;
                    """;
                cmd.Parameters.AddWithValue("$at", at.ToUnixTimeMilliseconds());
                cmd.Parameters.AddWithValue("$id", e.EvidenceId.ToString("D"));
                cmd.ExecuteNonQuery();
            }
            BumpRevision(tx, e.SessionId);
            tx.Commit();
            EvidenceChanged();
        }
        SessionChanged?.Invoke(e.SessionId);
    }

    public (long Count, DateTimeOffset? Oldest) PendingUploads()
    {
        using var c = OpenReader();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT count(*), min(captured_ms) FROM evidence WHERE upload_status IN ('pending','uploading')";
        using var r = cmd.ExecuteReader();
        r.Read();
        return (r.GetInt64(0), r.IsDBNull(1) ? null : DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(1)));
    }
}
