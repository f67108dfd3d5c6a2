using Microsoft.Data.Sqlite;

namespace PiOrchestrator.Store;

/// <summary>
/// An invite for a technician: who, which containers, until when. The join token, the one-time code and the credential
/// it gives are kept only as hashes (<see cref="EvidenceStore.InsertInvite"/>).
/// </summary>
public sealed record InviteRecord(
    string InviteId, string Name, IReadOnlyList<string> Containers, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt, DateTimeOffset CodeExpiresAt,
    string CreatedBy)
{
    public int FailedAttempts { get; init; }
    public DateTimeOffset? JoinedAt { get; init; }
    public string? JoinedAddress { get; init; }
    public DateTimeOffset? RevokedAt { get; init; }
}

public enum JoinOutcome { Joined, NotFound, CodeInvalid, Locked, Used, Expired, Revoked }

/// <summary>What a join attempt did; <see cref="AttemptsLeft"/> after a wrong code.</summary>
public sealed record JoinResult(JoinOutcome Outcome, InviteRecord? Invite, int AttemptsLeft = 0);

/// <summary>
/// Invites, written with their audit rows in one transaction. A join is decided under the write lock, so two attempts
/// with the same token cannot both succeed and wrong codes are counted exactly.
/// </summary>
public sealed partial class EvidenceStore
{
    private const string InviteColumns =
        "invite_id, name, containers, created_ms, expires_ms, code_expires_ms, created_by, failed_attempts, joined_ms, joined_address, revoked_ms";

    /// <summary>Schema 4: the invites table.</summary>
    private void MigrateInvites() => Execute(_writer, """
        CREATE TABLE IF NOT EXISTS invites(
          invite_id TEXT PRIMARY KEY,
          name TEXT NOT NULL,
          containers TEXT NOT NULL,
          created_ms INTEGER NOT NULL,
          expires_ms INTEGER NOT NULL,
          code_expires_ms INTEGER NOT NULL,
          created_by TEXT NOT NULL,
          token_hash TEXT NOT NULL UNIQUE,
          code_hash TEXT NOT NULL,
          failed_attempts INTEGER NOT NULL DEFAULT 0,
          joined_ms INTEGER,
          joined_address TEXT,
          credential_hash TEXT UNIQUE,
          revoked_ms INTEGER);
        CREATE INDEX IF NOT EXISTS invites_by_expiry ON invites(expires_ms);
        """);

    /// <summary>
    /// Adds an invite unless <paramref name="maxKept"/> are kept already; first forgets those that ended (expired or
    /// revoked) before <paramref name="forgetBefore"/>. False when the limit is reached.
    /// </summary>
    public bool InsertInvite(InviteRecord invite, string tokenHash, string codeHash, AuditEntry audit, int maxKept, DateTimeOffset forgetBefore)
    {
        var inserted = false;
        lock (_writeLock) WithDiskReserve(() =>
        {
            using var tx = _writer.BeginTransaction();
            using (var forget = _writer.CreateCommand())
            {
                forget.Transaction = tx;
                forget.CommandText = "DELETE FROM invites WHERE MIN(expires_ms, COALESCE(revoked_ms, expires_ms)) < $before";
                forget.Parameters.AddWithValue("$before", forgetBefore.ToUnixTimeMilliseconds());
                forget.ExecuteNonQuery();
            }
            using (var count = _writer.CreateCommand())
            {
                count.Transaction = tx;
                count.CommandText = "SELECT COUNT(*) FROM invites";
                if ((long)count.ExecuteScalar()! >= maxKept)
                {
                    tx.Commit();
                    return;
                }
            }
            using var cmd = _writer.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = """
                INSERT INTO invites(invite_id, name, containers, created_ms, expires_ms, code_expires_ms, created_by, token_hash, code_hash)
                VALUES($id, $name, $containers, $created, $expires, $codeExpires, $by, $token, $code)
                """;
            cmd.Parameters.AddWithValue("$id", invite.InviteId);
            cmd.Parameters.AddWithValue("$name", invite.Name);
            cmd.Parameters.AddWithValue("$containers", string.Join(',', invite.Containers));
            cmd.Parameters.AddWithValue("$created", invite.CreatedAt.ToUnixTimeMilliseconds());
            cmd.Parameters.AddWithValue("$expires", invite.ExpiresAt.ToUnixTimeMilliseconds());
            cmd.Parameters.AddWithValue("$codeExpires", invite.CodeExpiresAt.ToUnixTimeMilliseconds());
            cmd.Parameters.AddWithValue("$by", invite.CreatedBy);
            cmd.Parameters.AddWithValue("$token", tokenHash);
            cmd.Parameters.AddWithValue("$code", codeHash);
            cmd.ExecuteNonQuery();
            InsertAudit(_writer, tx, audit);
            tx.Commit();
            inserted = true;
        });
        if (inserted) AuditMetrics.Written(audit.Action);
        return inserted;
    }

    /// <summary>The invites kept, newest first.</summary>
    public List<InviteRecord> ListInvites()
    {
        using var c = OpenReader();
        using var cmd = c.CreateCommand();
        cmd.CommandText = $"SELECT {InviteColumns} FROM invites ORDER BY created_ms DESC, invite_id DESC";
        using var r = cmd.ExecuteReader();
        var list = new List<InviteRecord>();
        while (r.Read()) list.Add(ReadInvite(r));
        return list;
    }

    /// <summary>The invite whose credential hashes to <paramref name="credentialHash"/>, joined and not revoked; null otherwise.</summary>
    public InviteRecord? FindInviteByCredential(string credentialHash)
    {
        using var c = OpenReader();
        using var cmd = c.CreateCommand();
        cmd.CommandText = $"SELECT {InviteColumns} FROM invites WHERE credential_hash = $hash AND revoked_ms IS NULL";
        cmd.Parameters.AddWithValue("$hash", credentialHash);
        using var r = cmd.ExecuteReader();
        return r.Read() ? ReadInvite(r) : null;
    }

    /// <summary>
    /// One join attempt with the token hashing to <paramref name="tokenHash"/>: refused when revoked, used, locked or
    /// expired; a wrong code (<paramref name="codeMatches"/> false) counts, and the <paramref name="maxAttempts"/>th locks
    /// it; the right one stores the credential's hash and the audit row <paramref name="audit"/> makes.
    /// </summary>
    public JoinResult Join(string tokenHash, Func<InviteRecord, string, bool> codeMatches, DateTimeOffset now, int maxAttempts, string credentialHash,
        string? address, Func<InviteRecord, AuditEntry> audit)
    {
        JoinResult result = new(JoinOutcome.NotFound, null);
        AuditEntry? written = null;
        lock (_writeLock) WithDiskReserve(() =>
        {
            using var tx = _writer.BeginTransaction();
            using var find = _writer.CreateCommand();
            find.Transaction = tx;
            find.CommandText = $"SELECT {InviteColumns}, code_hash FROM invites WHERE token_hash = $token";
            find.Parameters.AddWithValue("$token", tokenHash);
            InviteRecord invite;
            string codeHash;
            using (var r = find.ExecuteReader())
            {
                if (!r.Read()) return;
                invite = ReadInvite(r);
                codeHash = r.GetString(11);
            }
            result = invite switch
            {
                { RevokedAt: not null } => new(JoinOutcome.Revoked, invite),
                { JoinedAt: not null } => new(JoinOutcome.Used, invite),
                _ when invite.FailedAttempts >= maxAttempts => new(JoinOutcome.Locked, invite),
                _ when now >= invite.ExpiresAt || now >= invite.CodeExpiresAt => new(JoinOutcome.Expired, invite),
                _ => new(JoinOutcome.Joined, invite),
            };
            if (result.Outcome != JoinOutcome.Joined) return;
            using var update = _writer.CreateCommand();
            update.Transaction = tx;
            update.Parameters.AddWithValue("$id", invite.InviteId);
            if (!codeMatches(invite, codeHash))
            {
                update.CommandText = "UPDATE invites SET failed_attempts = failed_attempts + 1 WHERE invite_id = $id RETURNING failed_attempts";
                var failed = Convert.ToInt32(update.ExecuteScalar());
                tx.Commit();
                invite = invite with { FailedAttempts = failed };
                result = failed >= maxAttempts ? new(JoinOutcome.Locked, invite) : new(JoinOutcome.CodeInvalid, invite, maxAttempts - failed);
                return;
            }
            update.CommandText = "UPDATE invites SET joined_ms = $at, joined_address = $address, credential_hash = $credential WHERE invite_id = $id";
            update.Parameters.AddWithValue("$at", now.ToUnixTimeMilliseconds());
            update.Parameters.AddWithValue("$address", (object?)address ?? DBNull.Value);
            update.Parameters.AddWithValue("$credential", credentialHash);
            update.ExecuteNonQuery();
            invite = invite with { JoinedAt = now, JoinedAddress = address };
            written = audit(invite);
            InsertAudit(_writer, tx, written);
            tx.Commit();
            result = new(JoinOutcome.Joined, invite);
        });
        if (written is not null) AuditMetrics.Written(written.Action);
        return result;
    }

    /// <summary>Revokes an invite and the credential it gave, at once; a revoked one is returned unchanged with no second audit row.</summary>
    public InviteRecord? RevokeInvite(string inviteId, DateTimeOffset now, Func<InviteRecord, AuditEntry> audit)
    {
        InviteRecord? invite = null;
        AuditEntry? written = null;
        lock (_writeLock) WithDiskReserve(() =>
        {
            using var tx = _writer.BeginTransaction();
            using var cmd = _writer.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = $"SELECT {InviteColumns} FROM invites WHERE invite_id = $id";
            cmd.Parameters.AddWithValue("$id", inviteId);
            using (var r = cmd.ExecuteReader())
            {
                if (!r.Read()) return;
                invite = ReadInvite(r);
            }
            if (invite.RevokedAt is not null) return;
            cmd.CommandText = "UPDATE invites SET revoked_ms = $at WHERE invite_id = $id";
            cmd.Parameters.AddWithValue("$at", now.ToUnixTimeMilliseconds());
            cmd.ExecuteNonQuery();
            invite = invite with { RevokedAt = now };
            written = audit(invite);
            InsertAudit(_writer, tx, written);
            tx.Commit();
        });
        if (written is not null) AuditMetrics.Written(written.Action);
        return invite;
    }

    private static InviteRecord ReadInvite(SqliteDataReader r) =>
        new(r.GetString(0), r.GetString(1), r.GetString(2).Split(',', StringSplitOptions.RemoveEmptyEntries), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(3)),
            DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(4)), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(5)), r.GetString(6))
        {
            FailedAttempts = r.GetInt32(7),
            JoinedAt = Time(r, 8),
            JoinedAddress = Text(r, 9),
            RevokedAt = Time(r, 10),
        };
}
