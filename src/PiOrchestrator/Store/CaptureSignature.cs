using System.Globalization;
using System.Text;

namespace PiOrchestrator.Store;

/// <summary>
/// The line a capture's signature covers. Anyone can rebuild it from the capture's JSON and check it with openssl:
/// <c>nexbasira-edge-capture-v1|{evidence_id}|{session_id}|{container_id}|{capture_tag}|{captured_at}|{sha256}</c>.
/// </summary>
public static class CaptureSignature
{
    public const string Version = "nexbasira-edge-capture-v1";

    /// <summary>captured_at exactly as the API prints it (millisecond UTC with Z), sha256 lowercase hex.</summary>
    public static string Line(EvidenceRecord e) => Line(e.EvidenceId.ToString("D"), e.SessionId, e.ContainerId,
        EvidenceNames.Of(e.Tag), e.CapturedAt.UtcDateTime.ToString(Http.UtcDateTimeConverter.Format, CultureInfo.InvariantCulture), e.Sha256!);

    public static string Line(string evidenceId, string sessionId, string containerId, string captureTag, string capturedAt, string sha256) =>
        $"{Version}|{evidenceId}|{sessionId}|{containerId}|{captureTag}|{capturedAt}|{sha256.ToLowerInvariant()}";

    public static byte[] LineBytes(EvidenceRecord e) => Encoding.UTF8.GetBytes(Line(e));
}
