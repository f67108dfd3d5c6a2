using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using PiOrchestrator.Store;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Evidence;

/// <summary>An evidence.db of schema 2 (before sessions had people and stored Idempotency-Keys) upgrades in place.</summary>
public class SessionPeopleMigrationTests
{
    [Fact]
    public void A_schema_2_database_gains_the_columns_and_keys_keeps_its_sessions_and_marks_old_test_captures()
    {
        using var dir = new TempDirectory();
        var options = Microsoft.Extensions.Options.Options.Create(new StorageOptions { DataDirectory = dir.Path });
        var now = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        using (var store = new EvidenceStore(options, NullLogger<EvidenceStore>.Instance))
        {
            store.InsertSession(new SessionRecord { SessionId = "sess-door-1", ContainerId = "ctr-001", Phase = SessionPhase.Open, StartedAt = now, OpenedAt = now });
            store.InsertSession(new SessionRecord { SessionId = "manual-0001", ContainerId = "ctr-001", Phase = SessionPhase.Open, StartedAt = now, OpenedAt = now });
            store.CompleteSession("manual-0001", now, new string('a', 64));
        }
        // Back to what schema 2 wrote: no people columns, no key table, and test captures without missing reasons.
        using (var db = new SqliteConnection($"Data Source={Path.Combine(dir.Path, "evidence.db")};Pooling=False"))
        {
            db.Open();
            using var cmd = db.CreateCommand();
            cmd.CommandText = """
                UPDATE sessions SET before_missing_reason = NULL;
                ALTER TABLE sessions DROP COLUMN after_missing_reason; ALTER TABLE sessions DROP COLUMN notes; ALTER TABLE sessions DROP COLUMN opened_by;
                ALTER TABLE sessions DROP COLUMN ended_by; ALTER TABLE sessions DROP COLUMN ended_ms; ALTER TABLE sessions DROP COLUMN end_reason;
                DROP TABLE idempotency_keys; PRAGMA user_version=2;
                """;
            cmd.ExecuteNonQuery();
        }

        using var upgraded = new EvidenceStore(options, NullLogger<EvidenceStore>.Instance);
        var door = upgraded.GetSession("sess-door-1")!;
        Assert.Equal(SessionPhase.Open, door.Phase);
        Assert.Null(door.OpenedBy);
        Assert.Null(door.BeforeMissingReason);
        var manual = upgraded.GetSession("manual-0001")!;
        Assert.Equal(MissingReason.NoDoorCycle, manual.BeforeMissingReason);
        Assert.Equal(MissingReason.NoDoorCycle, manual.AfterMissingReason);
        Assert.Equal(new string('a', 64), manual.ChainHead);

        var key = new IdempotencyRecord("sessions:ctr-002", "k-1", "f", "sess-insp-1", now);
        upgraded.InsertSession(new SessionRecord
        {
            SessionId = "sess-insp-1", ContainerId = "ctr-002", Phase = SessionPhase.Open, StartedAt = now, OpenedAt = now, Notes = "claim", OpenedBy = "ops@yourco.com",
        }, idempotencyKey: key);
        upgraded.RecordEnd("sess-insp-1", "admin", now, "done", new AuditEntry(now, "admin", "192.0.2.7", "session.end", "ctr-002", "sess-insp-1", "done"));
        upgraded.RecordEnd("sess-insp-1", "someone else", now.AddMinutes(1), "again",
            new AuditEntry(now.AddMinutes(1), "someone else", "192.0.2.8", "session.end", "ctr-002", "sess-insp-1", "again"));
        // The second end changed nothing, so it left no audit row.
        Assert.Equal([("admin", "192.0.2.7", "done")], upgraded.ListAudit("sess-insp-1").Select(a => (a.Actor, a.Address, a.Detail)));
        Assert.Equal(key, upgraded.FindIdempotencyKey("sessions:ctr-002", "k-1"));
        var inspection = upgraded.GetSession("sess-insp-1")!;
        Assert.Equal(("claim", "ops@yourco.com", "admin", "done", now), (inspection.Notes, inspection.OpenedBy, inspection.EndedBy, inspection.EndReason, inspection.EndedAt));

        using var check = new SqliteConnection($"Data Source={upgraded.DatabasePath};Mode=ReadOnly;Pooling=False");
        check.Open();
        using var version = check.CreateCommand();
        version.CommandText = "PRAGMA user_version";
        Assert.Equal(5L, (long)version.ExecuteScalar()!);
    }
}
