using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using PiOrchestrator.Store;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Evidence;

/// <summary>The SD card's share of a year: a WAL cut back after a burst, a database that plateaus as retention frees pages.</summary>
public sealed class DiskBoundsTests
{
    private static readonly DateTimeOffset At = new(2026, 11, 22, 12, 0, 0, TimeSpan.Zero);
    private const int WalLimitKilobytes = 256;

    private static EvidenceStore Open(string directory) =>
        new(Options.Create(new StorageOptions { DataDirectory = directory, WalLimitKilobytes = WalLimitKilobytes, WalCheckpointPages = 100 }),
            NullLogger<EvidenceStore>.Instance);

    private static void Capture(EvidenceStore store, string sessionId, int i, int size)
    {
        var id = Guid.CreateVersion7(At);
        var bytes = new byte[size];
        Random.Shared.NextBytes(bytes);
        store.SaveEvidence(new EvidenceRecord
        {
            EvidenceId = id, SessionId = sessionId, ContainerId = "ctr-001", DeviceId = "espcam-1", Tag = CaptureTag.Manual,
            Status = CaptureStatus.Captured, CapturedAt = At.AddSeconds(i), CreatedAt = At.AddSeconds(i), ImageSizeBytes = size,
            Sha256 = new string('0', 64), ObjectKey = EvidenceRecord.ObjectKeyFor("ctr-001", sessionId, CaptureTag.Manual, At.AddSeconds(i), id), BytesHeld = true,
        }, bytes);
    }

    private static void StartSession(EvidenceStore store, string sessionId) =>
        store.InsertSession(new SessionRecord { SessionId = sessionId, ContainerId = "ctr-001", Phase = SessionPhase.Open, StartedAt = At, OpenedAt = At });

    private static long Size(string path) => File.Exists(path) ? new FileInfo(path).Length : 0;

    [Fact]
    public void A_burst_leaves_no_large_WAL_once_it_is_checkpointed()
    {
        using var dir = new TempDirectory();
        using var store = Open(dir.Path);
        var wal = store.DatabasePath + "-wal";
        StartSession(store, "sess-burst");
        // A reader in the middle of a snapshot (a long API read) keeps the WAL from being restarted: the burst piles up.
        using (var reader = new SqliteConnection($"Data Source={store.DatabasePath};Pooling=False"))
        {
            reader.Open();
            using var tx = reader.BeginTransaction(deferred: true);
            using (var read = reader.CreateCommand())
            {
                read.Transaction = tx;
                read.CommandText = "SELECT count(*) FROM sessions";
                read.ExecuteScalar();
            }
            for (var i = 0; i < 40; i++) Capture(store, "sess-burst", i, 100_000);
            Assert.True(Size(wal) > 3_000_000, $"the burst should grow the WAL, it is {Size(wal)} bytes");
        }
        // The next writes checkpoint, restart the WAL and cut the file back to journal_size_limit.
        store.RecordDoorEvent("ctr-001", "ev-1", At);
        store.RecordDoorEvent("ctr-001", "ev-2", At);
        Assert.InRange(Size(wal), 0, WalLimitKilobytes * 1024);
    }

    [Fact]
    public void The_database_plateaus_when_retention_frees_as_much_as_is_written()
    {
        using var dir = new TempDirectory();
        using var store = Open(dir.Path);
        var sizes = new List<long>();
        for (var round = 0; round < 4; round++)
        {
            var sessionId = $"sess-{round}";
            StartSession(store, sessionId);
            for (var i = 0; i < 20; i++) Capture(store, sessionId, i, 100_000);
            foreach (var e in store.GetEvidenceForSession(sessionId)) store.SetUploadStatus(e, UploadStatus.Uploaded, null, At);
            store.CompleteSession(sessionId, At, new string('0', 64));
            Assert.Equal(1, store.DeleteSessionsBefore(At.AddDays(1)));
            sizes.Add(Size(store.DatabasePath) + Size(store.DatabasePath + "-wal"));
        }
        // Freed pages are reused: later rounds take no more room than the first.
        Assert.All(sizes.Skip(1), s => Assert.InRange(s, 0, sizes[0] + 256 * 1024));
    }
}
