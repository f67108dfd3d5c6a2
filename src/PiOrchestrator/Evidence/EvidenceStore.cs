using System.Collections.Concurrent;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace PiOrchestrator.Evidence;

/// <summary>
/// Sessions, evidence rows and JPEG bytes in one SQLite file (WAL, synchronous=FULL: a committed capture
/// survives a power cut). One writer connection serialised by a lock; readers use pooled connections.
/// </summary>
public sealed partial class EvidenceStore : IDisposable
{
    private const int SchemaVersion = 2;

    private readonly string _connectionString;
    private readonly SqliteConnection _writer;
    private readonly Lock _writeLock = new();
    private readonly ConcurrentDictionary<string, long> _revisions = new(StringComparer.Ordinal);
    private readonly ILogger<EvidenceStore> _log;
    private readonly string _reservePath;
    private readonly long _reserveBytes;
    // The reserve is released: new photos are refused until space returns; metadata still gets written.
    private volatile bool _diskFull;

    public EvidenceStore(IOptions<StorageOptions> options, ILogger<EvidenceStore> log, DeviceKey? deviceKey = null, ClockTrust? clock = null)
    {
        _log = log;
        _deviceKey = deviceKey;
        _clock = clock;
        DataDirectory = options.Value.ResolveDataDirectory();
        DatabasePath = Path.Combine(DataDirectory, "evidence.db");
        RestrictToOwner(DataDirectory, DatabasePath);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = DatabasePath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
        _writer = new SqliteConnection(_connectionString);
        _writer.Open();
        Execute(_writer, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=10000;");
        // The WAL is cut back after each checkpoint; pages freed by retention are reused (no auto_vacuum), so the
        // file plateaus under the 24 h TTL rather than shrinking and growing again on the SD card.
        Execute(_writer, $"PRAGMA journal_size_limit={options.Value.WalLimitKilobytes * 1024L}; PRAGMA wal_autocheckpoint={options.Value.WalCheckpointPages};");
        Migrate();
        _reservePath = Path.Combine(DataDirectory, "reserve.space");
        _reserveBytes = options.Value.DiskReserveKilobytes * 1024L;
        if (!File.Exists(_reservePath) && !TryCreateReserve())
        {
            _diskFull = true;
            _log.LogError("Data disk {Directory} is full: new photos are refused until space returns", DataDirectory);
        }
    }

    /// <summary>
    /// Evidence is for the agent's user alone, however the agent was started (umask, a shell rather than the unit):
    /// the directory 0700, the database 0600 before SQLite first opens it (its WAL and shared-memory files take the
    /// database's mode).
    /// </summary>
    private void RestrictToOwner(string directory, string database)
    {
        const UnixFileMode ownerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory);
            return;
        }
        Directory.CreateDirectory(directory, ownerOnly | UnixFileMode.UserExecute);
        if (!File.Exists(database))
            new FileStream(database, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = ownerOnly }).Dispose();
        try
        {
            File.SetUnixFileMode(directory, ownerOnly | UnixFileMode.UserExecute);
            foreach (var file in new[] { database, database + "-wal", database + "-shm" })
                if (File.Exists(file)) File.SetUnixFileMode(file, ownerOnly);
        }
        catch (UnauthorizedAccessException)
        {
            _log.LogWarning("Cannot make {Directory} private to the agent's user: it belongs to another user", directory);
        }
    }

    /// <summary>True while the data disk is full and new photos are refused.</summary>
    public bool DiskFull => _diskFull;

    private bool TryCreateReserve()
    {
        try
        {
            if (new DriveInfo(DataDirectory).AvailableFreeSpace < 3 * _reserveBytes) return false;
            // Real zeros, not a sparse file: the blocks must be taken now to be given back later.
            using var file = new FileStream(_reservePath + ".tmp", FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.WriteThrough);
            var zeros = new byte[64 * 1024];
            for (long written = 0; written < _reserveBytes; written += zeros.Length)
                file.Write(zeros, 0, (int)Math.Min(zeros.Length, _reserveBytes - written));
            file.Flush(flushToDisk: true);
            file.Close();
            File.Move(_reservePath + ".tmp", _reservePath, overwrite: true);
            return true;
        }
        catch (IOException)
        {
            File.Delete(_reservePath + ".tmp");
            return false;
        }
    }

    /// <summary>
    /// Runs a write; on SQLITE_FULL releases the reserve once and, for metadata, tries again: a session can still
    /// complete and a failed capture still say why, on a disk that has no room for photos.
    /// </summary>
    private T WithDiskReserve<T>(Func<T> write, bool retryAfterRelease)
    {
        try
        {
            return write();
        }
        catch (SqliteException ex) when (ex.SqliteErrorCode == SqliteFull && ReleaseReserve())
        {
            if (!retryAfterRelease) throw;
            return write();
        }
    }

    private void WithDiskReserve(Action write) => WithDiskReserve(() => { write(); return 0; }, retryAfterRelease: true);

    private const int SqliteFull = 13;

    private bool ReleaseReserve()
    {
        if (!File.Exists(_reservePath)) return false;
        File.Delete(_reservePath);
        _diskFull = true;
        _log.LogError("Data disk {Directory} is full: released {Reserve} KB of reserve so sessions can be recorded; new photos are refused until space returns",
            DataDirectory, _reserveBytes / 1024);
        return true;
    }

    /// <summary>While the disk is full: takes the reserve back once there is room again (checked at each capture).</summary>
    private void RefuseWhileDiskFull()
    {
        if (!_diskFull) return;
        if (TryCreateReserve())
        {
            _diskFull = false;
            _log.LogInformation("Data disk {Directory} has space again: photos are stored again", DataDirectory);
            return;
        }
        throw new SqliteException("disk full: the data directory has no room for photos (reserve held back for session records)", SqliteFull);
    }

    public string DataDirectory { get; }

    public string DatabasePath { get; }

    /// <summary>Raised after any write that changes what a session's API answers look like.</summary>
    public event Action<string>? SessionChanged;

    /// <summary>Raised after a capture row is committed (the uploader wakes on it).</summary>
    public event Action<EvidenceRecord>? EvidenceStored;

    private void Migrate()
    {
        Execute(_writer, """
            CREATE TABLE IF NOT EXISTS sessions(
              session_id TEXT PRIMARY KEY,
              container_id TEXT NOT NULL,
              phase TEXT NOT NULL,
              started_ms INTEGER NOT NULL,
              opened_ms INTEGER,
              closed_ms INTEGER,
              after_close_due_ms INTEGER,
              completed_ms INTEGER,
              before_missing_reason TEXT,
              chain_head TEXT,
              door_left_open_ms INTEGER,
              revision INTEGER NOT NULL DEFAULT 1);
            CREATE INDEX IF NOT EXISTS sessions_by_start ON sessions(started_ms DESC, session_id DESC);
            CREATE INDEX IF NOT EXISTS sessions_by_container ON sessions(container_id, started_ms DESC, session_id DESC);
            CREATE INDEX IF NOT EXISTS sessions_unfinished ON sessions(phase) WHERE phase <> 'complete';
            CREATE TABLE IF NOT EXISTS evidence(
              evidence_id TEXT PRIMARY KEY,
              session_id TEXT NOT NULL,
              container_id TEXT NOT NULL,
              device_id TEXT NOT NULL,
              capture_tag TEXT NOT NULL,
              status TEXT NOT NULL,
              failure_reason TEXT,
              captured_ms INTEGER NOT NULL,
              created_ms INTEGER NOT NULL,
              content_type TEXT NOT NULL,
              image_size_bytes INTEGER,
              sha256 TEXT,
              object_key TEXT UNIQUE,
              upload_status TEXT NOT NULL,
              width INTEGER,
              height INTEGER,
              latency_ms INTEGER,
              bytes_held INTEGER NOT NULL DEFAULT 0,
              uploaded_ms INTEGER,
              upload_error TEXT,
              purged_ms INTEGER);
            CREATE INDEX IF NOT EXISTS evidence_by_session ON evidence(session_id, captured_ms);
            CREATE INDEX IF NOT EXISTS evidence_by_upload ON evidence(upload_status, captured_ms) WHERE upload_status IN ('pending','uploading');
            CREATE INDEX IF NOT EXISTS evidence_held ON evidence(captured_ms) WHERE bytes_held = 1;
            CREATE INDEX IF NOT EXISTS evidence_by_time ON evidence(captured_ms);
            CREATE TABLE IF NOT EXISTS evidence_bytes(
              evidence_id TEXT PRIMARY KEY,
              data BLOB NOT NULL);
            CREATE TABLE IF NOT EXISTS thumbnails(
              evidence_id TEXT PRIMARY KEY,
              data BLOB NOT NULL);
            CREATE TABLE IF NOT EXISTS door_events(
              event_id TEXT NOT NULL,
              container_id TEXT NOT NULL,
              received_ms INTEGER NOT NULL,
              PRIMARY KEY(container_id, event_id));
            CREATE INDEX IF NOT EXISTS door_events_by_time ON door_events(received_ms);
            """);
        MigrateSignatures();
        Execute(_writer, $"PRAGMA user_version={SchemaVersion};");
    }

    /// <summary>
    /// A new session; with <paramref name="cause"/>, the door event that started it is remembered in the same
    /// transaction, so a crash cannot keep the session and forget the event (or the other way round).
    /// </summary>
    public void InsertSession(SessionRecord s, DoorEventId? cause = null)
    {
        WriteSession(s.SessionId, cause, """
            INSERT INTO sessions(session_id, container_id, phase, started_ms, opened_ms, closed_ms, after_close_due_ms, before_missing_reason)
            VALUES($id, $container, $phase, $started, $opened, $closed, $due, $missing)
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
        });
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
                      latency_ms, bytes_held, signature, key_id, clock_synchronized)
                    VALUES($id, $session, $container, $device, $tag, $status, $reason, $captured, $created, $type, $size, $sha,
                      $key, $upload, $width, $height, $latency, $held, $signature, $keyId, $clockSynced)
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
                p.AddWithValue("$held", e.BytesHeld && jpeg.Length > 0 ? 1 : 0);
                BindSeal(p, e);
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

    public List<(string ContainerId, string EventId)> RecentDoorEvents(DateTimeOffset since)
    {
        using var c = OpenReader();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT container_id, event_id FROM door_events WHERE received_ms >= $since ORDER BY received_ms DESC LIMIT 100000";
        cmd.Parameters.AddWithValue("$since", since.ToUnixTimeMilliseconds());
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

    public (long Count, DateTimeOffset? Oldest) PendingUploads()
    {
        using var c = OpenReader();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT count(*), min(captured_ms) FROM evidence WHERE upload_status IN ('pending','uploading')";
        using var r = cmd.ExecuteReader();
        r.Read();
        return (r.GetInt64(0), r.IsDBNull(1) ? null : DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(1)));
    }

    public bool IsHealthy()
    {
        try
        {
            using var c = OpenReader();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "SELECT 1";
            return cmd.ExecuteScalar() is long;
        }
        catch (SqliteException ex)
        {
            _log.LogError("Evidence store check failed: {Error}", ex.Message);
            return false;
        }
    }

    private bool _disposed;

    /// <summary>Safe to call twice (the host and a stopping service may both close the store).</summary>
    public void Dispose()
    {
        lock (_writeLock)
        {
            if (_disposed) return;
            _disposed = true;
            // Fold the WAL back into the main file so a copied evidence.db is complete on its own.
            try { Execute(_writer, "PRAGMA wal_checkpoint(TRUNCATE);"); }
            catch (SqliteException ex) { _log.LogWarning("WAL checkpoint at shutdown failed: {Error}", ex.Message); }
            _writer.Dispose();
        }
        SqliteConnection.ClearAllPools();
    }

    private void WriteSession(string sessionId, DoorEventId? cause, string sql, Action<SqliteCommand> bind)
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
            tx.Commit();
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

    private SqliteConnection OpenReader()
    {
        var c = new SqliteConnection(_connectionString);
        c.Open();
        return c;
    }

    private static void Execute(SqliteConnection c, string sql)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    private static object Ms(DateTimeOffset? value) => value is { } v ? v.ToUnixTimeMilliseconds() : DBNull.Value;

    private static DateTimeOffset? Time(SqliteDataReader r, int i) =>
        r.IsDBNull(i) ? null : DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(i));

    private static string? Text(SqliteDataReader r, int i) => r.IsDBNull(i) ? null : r.GetString(i);

    private static int? Int(SqliteDataReader r, int i) => r.IsDBNull(i) ? null : r.GetInt32(i);

    private const string SessionColumns =
        "session_id, container_id, phase, started_ms, opened_ms, closed_ms, after_close_due_ms, completed_ms, before_missing_reason, chain_head, revision, door_left_open_ms, " +
        "EXISTS(SELECT 1 FROM evidence e WHERE e.session_id = sessions.session_id AND e.capture_tag = 'BEFORE_OPEN' AND e.status = 'captured'), " +
        "EXISTS(SELECT 1 FROM evidence e WHERE e.session_id = sessions.session_id AND e.capture_tag = 'AFTER_CLOSE' AND e.status = 'captured'), " + TimestampColumns;

    private static SessionRecord ReadSession(SqliteDataReader r) => ReadTimestampSummary(r, 14, new()
    {
        SessionId = r.GetString(0),
        ContainerId = r.GetString(1),
        Phase = SessionRecord.ParsePhase(r.GetString(2)),
        StartedAt = DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(3)),
        OpenedAt = Time(r, 4),
        ClosedAt = Time(r, 5),
        AfterCloseDueAt = Time(r, 6),
        CompletedAt = Time(r, 7),
        BeforeMissingReason = Text(r, 8),
        ChainHead = Text(r, 9),
        Revision = r.GetInt64(10),
        DoorLeftOpenAt = Time(r, 11),
        HasBefore = r.GetInt64(12) != 0,
        HasAfter = r.GetInt64(13) != 0,
    });

    private const string EvidenceColumns =
        "evidence_id, session_id, container_id, device_id, capture_tag, status, failure_reason, captured_ms, created_ms, " +
        "content_type, image_size_bytes, sha256, object_key, upload_status, width, height, latency_ms, bytes_held, uploaded_ms, upload_error, purged_ms, " + SealColumns;

    private static EvidenceRecord ReadEvidence(SqliteDataReader r) => ReadSeal(r, 21, new()
    {
        EvidenceId = Guid.Parse(r.GetString(0)),
        SessionId = r.GetString(1),
        ContainerId = r.GetString(2),
        DeviceId = r.GetString(3),
        Tag = EvidenceNames.ParseTag(r.GetString(4)),
        Status = EvidenceNames.ParseStatus(r.GetString(5)),
        FailureReason = Text(r, 6),
        CapturedAt = DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(7)),
        CreatedAt = DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(8)),
        ContentType = r.GetString(9),
        ImageSizeBytes = r.IsDBNull(10) ? null : r.GetInt64(10),
        Sha256 = Text(r, 11),
        ObjectKey = Text(r, 12),
        UploadStatus = EvidenceNames.ParseUpload(r.GetString(13)),
        Width = Int(r, 14),
        Height = Int(r, 15),
        LatencyMs = Int(r, 16),
        BytesHeld = r.GetInt64(17) != 0,
        UploadedAt = Time(r, 18),
        UploadError = Text(r, 19),
        PurgedAt = Time(r, 20),
    });
}

/// <summary>A door event's id as the store remembers it, to recognise the same event sent again.</summary>
public readonly record struct DoorEventId(string ContainerId, string EventId, DateTimeOffset ReceivedAt);
