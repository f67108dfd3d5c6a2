using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using PiOrchestrator.Evidence;
using PiOrchestrator.Hosting;
using PiOrchestrator.Store;
using PiOrchestrator.Tests.Fixtures;
using PiOrchestrator.Upload;

namespace PiOrchestrator.Tests.Evidence;

/// <summary>Retention on a real SQLite file, with a fake clock whose wall time is stepped on its own.</summary>
public sealed class RetentionClockTests
{
    [Fact]
    public async Task Photos_not_uploaded_are_kept_and_still_warned_about_hourly_after_the_clock_steps_back()
    {
        using var dir = new TempDirectory();
        var time = new ManualTimeProvider();
        var storage = Options.Create(new StorageOptions { DataDirectory = dir.Path });
        using var store = new EvidenceStore(storage, NullLogger<EvidenceStore>.Instance);
        using var cache = new ImageCache(storage);
        using var s3 = new S3ObjectStore(Options.Create(new S3Options()), time);
        var logs = new CapturingLoggerProvider();
        var retention = new RetentionService(store, cache, s3, storage, Options.Create(new S3Options()), new LoopHeartbeats(time), time,
            new Logger<RetentionService>(new SingleProviderFactory(logs)));
        var at = time.GetUtcNow();
        var id = Guid.CreateVersion7(at);
        store.InsertSession(new SessionRecord { SessionId = "sess-1", ContainerId = "ctr-001", Phase = SessionPhase.Open, StartedAt = at, OpenedAt = at });
        store.SaveEvidence(new EvidenceRecord
        {
            EvidenceId = id, SessionId = "sess-1", ContainerId = "ctr-001", DeviceId = "espcam-1", Tag = CaptureTag.BeforeOpen,
            Status = CaptureStatus.Captured, CapturedAt = at, CreatedAt = at, ImageSizeBytes = 3, Sha256 = new string('0', 64),
            ObjectKey = EvidenceRecord.ObjectKeyFor("ctr-001", "sess-1", CaptureTag.BeforeOpen, at, id), BytesHeld = true,
        }, new byte[] { 1, 2, 3 });

        time.StepWallClock(TimeSpan.FromDays(3));
        await retention.RunOnceAsync(CancellationToken.None);
        time.StepWallClock(TimeSpan.FromDays(-1));
        time.Advance(TimeSpan.FromMinutes(61));
        await retention.RunOnceAsync(CancellationToken.None);

        Assert.NotNull(store.ReadImage(id));
        Assert.Equal(2, logs.At(LogLevel.Warning).Count(m => m.Contains("still not uploaded")));
    }

    [Fact]
    public async Task Fractional_settings_make_a_short_retention_cycle()
    {
        // 0.005 h is 18 s, a pass every 30 s: the settings a soak run ages data out with.
        using var dir = new TempDirectory();
        var time = new ManualTimeProvider();
        var storage = Options.Create(new StorageOptions { DataDirectory = dir.Path, ImageTtlHours = 0.005, RetentionIntervalMinutes = 0.5 });
        using var store = new EvidenceStore(storage, NullLogger<EvidenceStore>.Instance);
        using var cache = new ImageCache(storage);
        using var s3 = new S3ObjectStore(Options.Create(new S3Options()), time);
        using var retention = new RetentionService(store, cache, s3, storage, Options.Create(new S3Options()), new LoopHeartbeats(time), time,
            NullLogger<RetentionService>.Instance);
        Assert.Equal(TimeSpan.FromSeconds(30), retention.Interval);
        var at = time.GetUtcNow();
        var id = Guid.CreateVersion7(at);
        store.InsertSession(new SessionRecord { SessionId = "sess-1", ContainerId = "ctr-001", Phase = SessionPhase.Open, StartedAt = at, OpenedAt = at });
        var record = new EvidenceRecord
        {
            EvidenceId = id, SessionId = "sess-1", ContainerId = "ctr-001", DeviceId = "espcam-1", Tag = CaptureTag.BeforeOpen,
            Status = CaptureStatus.Captured, CapturedAt = at, CreatedAt = at, ImageSizeBytes = 3, Sha256 = new string('0', 64),
            ObjectKey = EvidenceRecord.ObjectKeyFor("ctr-001", "sess-1", CaptureTag.BeforeOpen, at, id), BytesHeld = true,
        };
        store.SaveEvidence(record, new byte[] { 1, 2, 3 });
        store.SetUploadStatus(record, UploadStatus.Uploaded, null, at);

        // 10 s old: under the 18 s TTL, kept; 20 s old: dropped.
        time.Advance(TimeSpan.FromSeconds(10));
        await retention.RunOnceAsync(CancellationToken.None);
        Assert.NotNull(store.ReadImage(id));
        time.Advance(TimeSpan.FromSeconds(10));
        await retention.RunOnceAsync(CancellationToken.None);
        Assert.Null(store.ReadImage(id));
    }

    private sealed class SingleProviderFactory(ILoggerProvider provider) : ILoggerFactory
    {
        public ILogger CreateLogger(string categoryName) => provider.CreateLogger(categoryName);
        public void AddProvider(ILoggerProvider added) { }
        public void Dispose() { }
    }
}
