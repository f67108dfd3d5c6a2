using System.Security.Cryptography;
using System.Text;
using PiOrchestrator.Store;

namespace PiOrchestrator.Tests.Evidence;

public class HashChainTests
{
    private static EvidenceRecord Captured(Guid id, string sha, DateTimeOffset at) => new()
    {
        EvidenceId = id, SessionId = "sess-1", ContainerId = "ctr-001", DeviceId = "cam", Tag = CaptureTag.BeforeOpen,
        Status = CaptureStatus.Captured, CapturedAt = at, CreatedAt = at, Sha256 = sha,
    };

    [Fact]
    public void Head_follows_the_documented_formula_over_captured_rows_in_order()
    {
        var a = Captured(Guid.Parse("01234567-89ab-7cde-8f01-23456789abcd"), new string('a', 64), DateTimeOffset.UnixEpoch.AddSeconds(1));
        var b = Captured(Guid.Parse("fedcba98-7654-7321-8fed-cba987654321"), new string('b', 64), DateTimeOffset.UnixEpoch.AddSeconds(2));
        var failed = a with { EvidenceId = Guid.NewGuid(), Status = CaptureStatus.Failed, Sha256 = null };

        // Computed independently of HashChain: sha256(prev || sha256 bytes || evidence_id UTF-8).
        var chain = SHA256.HashData(Encoding.UTF8.GetBytes("nexbasira-edge-chain-v1|sess-1"));
        foreach (var e in new[] { a, b })
            chain = SHA256.HashData([.. chain, .. Convert.FromHexString(e.Sha256!), .. Encoding.UTF8.GetBytes(e.EvidenceId.ToString())]);

        Assert.Equal(Convert.ToHexStringLower(chain), HashChain.Head("sess-1", [b, failed, a]));
    }

    [Fact]
    public void Changing_any_sha_changes_the_head()
    {
        var a = Captured(Guid.NewGuid(), new string('a', 64), DateTimeOffset.UnixEpoch);
        Assert.NotEqual(HashChain.Head("sess-1", [a]), HashChain.Head("sess-1", [a with { Sha256 = new string('c', 64) }]));
        Assert.NotEqual(HashChain.Head("sess-1", [a]), HashChain.Head("sess-2", [a]));
    }

    [Fact]
    public void Object_key_follows_the_design_format()
    {
        var id = Guid.Parse("01234567-89ab-7cde-8f01-23456789abcd");
        var key = EvidenceRecord.ObjectKeyFor("ctr-001", "sess-abc123", CaptureTag.BeforeOpen, new DateTimeOffset(2026, 2, 20, 10, 0, 5, TimeSpan.FromHours(2)), id);
        Assert.Equal("evidence/ctr-001/sess-abc123/BEFORE_OPEN_20260220T080005_01234567.jpg", key);
    }
}
