using Microsoft.Data.Sqlite;

namespace PiOrchestrator.Store;

/// <summary>The schema: its version and migrations, and how session and evidence rows are read back.</summary>
public sealed partial class EvidenceStore
{
    private const int SchemaVersion = 5;

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
        MigrateDeviceKeys();
        MigrateKeyCollisions();
        MigrateCaptureDelay();
        MigrateSessionPeople();
        MigrateAuditWithoutSession();
        MigrateInvites();
        MigrateFrameSequence();
        Execute(_writer, $"PRAGMA user_version={SchemaVersion};");
    }

    private const string SessionColumns =
        "session_id, container_id, phase, started_ms, opened_ms, closed_ms, after_close_due_ms, completed_ms, before_missing_reason, chain_head, revision, door_left_open_ms, " +
        "EXISTS(SELECT 1 FROM evidence e WHERE e.session_id = sessions.session_id AND e.capture_tag = 'BEFORE_OPEN' AND e.status = 'captured'), " +
        "EXISTS(SELECT 1 FROM evidence e WHERE e.session_id = sessions.session_id AND e.capture_tag = 'AFTER_CLOSE' AND e.status = 'captured'), " + TimestampColumns + ", " + PeopleColumns;

    private static SessionRecord ReadSession(SqliteDataReader r) => ReadPeople(r, 18, ReadTimestampSummary(r, 14, new()
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
    }));

    private const string EvidenceColumns =
        "evidence_id, session_id, container_id, device_id, capture_tag, status, failure_reason, captured_ms, created_ms, " +
        "content_type, image_size_bytes, sha256, object_key, upload_status, width, height, latency_ms, bytes_held, uploaded_ms, upload_error, purged_ms, delay_ms, " + SealColumns + ", sequence";

    private static EvidenceRecord ReadEvidence(SqliteDataReader r) => ReadSeal(r, 22, new()
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
        DelayMs = Int(r, 21),
        Sequence = Int(r, 25),
    });

    /// <summary>sequence came with schema 5 (timelapse frames): NULL on every older row, none of which is a frame.</summary>
    private void MigrateFrameSequence()
    {
        using var cmd = _writer.CreateCommand();
        cmd.CommandText = "SELECT COUNT(*) FROM pragma_table_info('evidence') WHERE name = 'sequence'";
        if ((long)cmd.ExecuteScalar()! == 0) Execute(_writer, "ALTER TABLE evidence ADD COLUMN sequence INTEGER;");
    }

    /// <summary>delay_ms came after the first schema: added to a store made before it.</summary>
    private void MigrateCaptureDelay()
    {
        using var cmd = _writer.CreateCommand();
        cmd.CommandText = "SELECT COUNT(*) FROM pragma_table_info('evidence') WHERE name = 'delay_ms'";
        if ((long)cmd.ExecuteScalar()! == 0) Execute(_writer, "ALTER TABLE evidence ADD COLUMN delay_ms INTEGER;");
    }
}
