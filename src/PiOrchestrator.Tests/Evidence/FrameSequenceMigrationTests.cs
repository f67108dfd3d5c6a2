using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using PiOrchestrator.Store;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Evidence;

/// <summary>Schema 5 numbers timelapse frames: a schema 4 store gains the column, keeps its rows, and stores frames.</summary>
public class FrameSequenceMigrationTests
{
    [Fact]
    public void A_schema_4_store_upgrades_keeping_its_rows_and_stores_numbered_frames()
    {
        using var dir = new TempDirectory();
        var options = Microsoft.Extensions.Options.Options.Create(new StorageOptions { DataDirectory = dir.Path });
        var at = DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_000);
        using (var store = new EvidenceStore(options, NullLogger<EvidenceStore>.Instance))
            store.SaveEvidence(Row(CaptureTag.BeforeOpen, at, null), [0xFF, 0xD8, 0xFF, 0xD9]);
        using (var db = new SqliteConnection($"Data Source={Path.Combine(dir.Path, "evidence.db")};Pooling=False"))
        {
            db.Open();
            using var cmd = db.CreateCommand();
            cmd.CommandText = "ALTER TABLE evidence DROP COLUMN sequence; PRAGMA user_version=4;";
            cmd.ExecuteNonQuery();
        }

        using var upgraded = new EvidenceStore(options, NullLogger<EvidenceStore>.Instance);
        upgraded.SaveEvidence(Row(CaptureTag.DuringOpen, at.AddSeconds(5), 1), [0xFF, 0xD8, 0xFF, 0xD9]);
        var rows = upgraded.GetEvidenceForSession("sess-1");
        Assert.Equal([(CaptureTag.BeforeOpen, (int?)null), (CaptureTag.DuringOpen, 1)], rows.Select(e => (e.Tag, e.Sequence)));
        using var check = new SqliteConnection($"Data Source={Path.Combine(dir.Path, "evidence.db")};Pooling=False");
        check.Open();
        using var version = check.CreateCommand();
        version.CommandText = "PRAGMA user_version";
        Assert.Equal(5L, (long)version.ExecuteScalar()!);
    }

    private static EvidenceRecord Row(CaptureTag tag, DateTimeOffset at, int? sequence)
    {
        var id = Guid.CreateVersion7(at);
        return new EvidenceRecord
        {
            EvidenceId = id, SessionId = "sess-1", ContainerId = "ctr-001", DeviceId = "espcam-1", Tag = tag, Sequence = sequence,
            Status = CaptureStatus.Captured, CapturedAt = at, CreatedAt = at, ImageSizeBytes = 4, Sha256 = new string('a', 64),
            ObjectKey = EvidenceRecord.ObjectKeyFor("ctr-001", "sess-1", tag, at, id), BytesHeld = true,
        };
    }
}
