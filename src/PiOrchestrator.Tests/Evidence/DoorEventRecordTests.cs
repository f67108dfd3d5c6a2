using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using PiOrchestrator.Store;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Evidence;

/// <summary>A door event that moves a session is remembered in the same SQLite transaction as that move.</summary>
public sealed class DoorEventRecordTests
{
    private static readonly DateTimeOffset At = new(2026, 11, 22, 12, 0, 0, TimeSpan.Zero);

    private static EvidenceStore Open(string directory) =>
        new(Options.Create(new StorageOptions { DataDirectory = directory }), NullLogger<EvidenceStore>.Instance);

    private static SessionRecord Session(string id) => new()
    {
        SessionId = id, ContainerId = "ctr-001", Phase = SessionPhase.Open, StartedAt = At, OpenedAt = At,
    };

    private static List<string> RememberedIds(EvidenceStore store) =>
        store.RecentDoorEvents(At.AddDays(-1)).Select(e => e.EventId).Order().ToList();

    [Fact]
    public void The_event_that_starts_or_moves_a_session_is_remembered_with_it()
    {
        using var dir = new TempDirectory();
        using (var store = Open(dir.Path))
        {
            store.InsertSession(Session("sess-1"), new DoorEventId("ctr-001", "ev-open", At));
            store.UpdateSessionPhase("sess-1", SessionPhase.Closing, At.AddSeconds(5), At.AddSeconds(7), new DoorEventId("ctr-001", "ev-close", At.AddSeconds(5)));
        }
        // Read back from the file by a fresh store, as after a restart.
        using var reopened = Open(dir.Path);
        Assert.Equal(["ev-close", "ev-open"], RememberedIds(reopened));
        Assert.Equal(SessionPhase.Closing, Assert.Single(reopened.UnfinishedSessions()).Phase);
    }

    [Fact]
    public void When_the_session_write_fails_the_event_is_not_remembered_either()
    {
        using var dir = new TempDirectory();
        using var store = Open(dir.Path);
        store.InsertSession(Session("sess-1"), new DoorEventId("ctr-001", "ev-1", At));

        // The same session id again violates the primary key: the whole transaction, event id included, rolls back,
        // so the event is not taken for one already handled if it comes again.
        Assert.ThrowsAny<Exception>(() => store.InsertSession(Session("sess-1"), new DoorEventId("ctr-001", "ev-2", At)));
        Assert.Equal(["ev-1"], RememberedIds(store));
        Assert.True(store.RecordDoorEvent("ctr-001", "ev-2", At));
    }
}
