using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using PiOrchestrator.Access;
using PiOrchestrator.Store;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Evidence;

/// <summary>The store's side of invites: a schema 3 audit table upgrades, the pepper comes from the credential first.</summary>
public class InviteStoreTests
{
    [Fact]
    public void A_schema_3_audit_table_upgrades_keeping_its_rows_and_takes_rows_without_a_session()
    {
        using var dir = new TempDirectory();
        var options = Microsoft.Extensions.Options.Options.Create(new StorageOptions { DataDirectory = dir.Path });
        using (new EvidenceStore(options, NullLogger<EvidenceStore>.Instance)) { }
        using (var db = new SqliteConnection($"Data Source={Path.Combine(dir.Path, "evidence.db")};Pooling=False"))
        {
            db.Open();
            using var cmd = db.CreateCommand();
            cmd.CommandText = """
                DROP TABLE audit; DROP TABLE invites;
                CREATE TABLE audit(id INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL, actor TEXT NOT NULL, address TEXT,
                  action TEXT NOT NULL, container_id TEXT NOT NULL, session_id TEXT NOT NULL, detail TEXT);
                INSERT INTO audit(at_ms, actor, address, action, container_id, session_id, detail) VALUES(1, 'admin', '192.0.2.7', 'session.end', 'ctr-001', 'sess-1', 'done');
                PRAGMA user_version=3;
                """;
            cmd.ExecuteNonQuery();
        }

        using var upgraded = new EvidenceStore(options, NullLogger<EvidenceStore>.Instance);
        Assert.Equal([("admin", "ctr-001", "sess-1", "done")], upgraded.ListAudit().Select(a => (a.Actor, a.ContainerId, a.SessionId, a.Detail)));
        var now = DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_000);
        var invite = new InviteRecord("inv-1", "Alex Garcia", ["ctr-001"], now, now.AddMinutes(10), now.AddMinutes(10), "admin");
        Assert.True(upgraded.InsertInvite(invite, new string('a', 64), new string('b', 64),
            new AuditEntry(now, "admin", null, AuditActions.InviteMinted, null, null, "inv-1"), maxKept: 10, forgetBefore: now.AddDays(-1)));
        Assert.Equal((null, null), upgraded.ListAudit().Select(a => (a.ContainerId, a.SessionId)).Last());
        Assert.Equal("inv-1", Assert.Single(upgraded.ListInvites()).InviteId);
    }

    [Fact]
    public void The_pepper_is_the_systemd_credential_when_present_else_a_0600_file_made_once()
    {
        using var data = new TempDirectory();
        using var credentials = new TempDirectory();
        var made = InvitePepper.Load(data.Path, credentials.Path, NullLogger.Instance);
        var file = Path.Combine(data.Path, InvitePepper.FileName);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        Assert.Equal(made, InvitePepper.Load(data.Path, null, NullLogger.Instance));

        var handedOver = System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);
        File.WriteAllBytes(Path.Combine(credentials.Path, InvitePepper.FileName), handedOver);
        Assert.Equal(handedOver, InvitePepper.Load(data.Path, credentials.Path, NullLogger.Instance));

        File.WriteAllBytes(Path.Combine(credentials.Path, InvitePepper.FileName), new byte[8]);
        Assert.Throws<PiOrchestrator.Hosting.ConfigurationException>(() => InvitePepper.Load(data.Path, credentials.Path, NullLogger.Instance));
    }
}
