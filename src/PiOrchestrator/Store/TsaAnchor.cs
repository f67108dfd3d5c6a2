using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace PiOrchestrator.Store;

/// <summary>
/// What a time stamp was trusted by when it arrived: the TSA's certificate with any intermediates (PEM), the CA it
/// chained to (PEM) and that CA's SHA-256 fingerprint (lowercase hex of its DER). Kept with the token, so a later
/// Tsa:CaFile does not change the verdict on an old stamp.
/// </summary>
public sealed record TsaAnchor(string ChainPem, string CaPem, string CaSha256)
{
    public static TsaAnchor For(X509Certificate2 ca, string chainPem) => new(chainPem, ca.ExportCertificatePem() + "\n", Sha256Of(ca));

    /// <summary>A certificate's SHA-256 fingerprint: lowercase hex of its DER.</summary>
    public static string Sha256Of(X509Certificate2 certificate) => Convert.ToHexStringLower(SHA256.HashData(certificate.RawData));

    /// <summary>The fingerprint as <c>openssl x509 -fingerprint -sha256</c> prints it, for a reader to compare.</summary>
    public static string Display(string sha256Hex) =>
        string.Join(':', Enumerable.Range(0, sha256Hex.Length / 2).Select(i => sha256Hex.Substring(i * 2, 2).ToUpperInvariant()));
}
