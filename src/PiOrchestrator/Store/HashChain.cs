using System.Security.Cryptography;
using System.Text;

namespace PiOrchestrator.Store;

/// <summary>
/// Per-session chain: chain_0 = sha256("nexbasira-edge-chain-v1|" + session_id);
/// chain_n = sha256(chain_{n-1} || sha256 of capture n || UTF-8 of its evidence_id), over captured rows in order.
/// </summary>
public static class HashChain
{
    public static byte[] Genesis(string sessionId) =>
        SHA256.HashData(Encoding.UTF8.GetBytes("nexbasira-edge-chain-v1|" + sessionId));

    public static byte[] Next(ReadOnlySpan<byte> previous, string sha256Hex, Guid evidenceId)
    {
        Span<byte> buffer = stackalloc byte[32 + 32 + 36];
        previous.CopyTo(buffer);
        Convert.FromHexString(sha256Hex).CopyTo(buffer[32..]);
        Encoding.UTF8.GetBytes(evidenceId.ToString("D"), buffer[64..]);
        return SHA256.HashData(buffer);
    }

    /// <summary>The head over the captured rows, ordered by capture time then id.</summary>
    public static string Head(string sessionId, IEnumerable<EvidenceRecord> evidence)
    {
        var chain = Genesis(sessionId);
        foreach (var e in evidence.Where(e => e.IsCaptured && e.Sha256 is not null)
                                  .OrderBy(e => e.CapturedAt).ThenBy(e => e.EvidenceId))
            chain = Next(chain, e.Sha256!, e.EvidenceId);
        return Convert.ToHexStringLower(chain);
    }
}
