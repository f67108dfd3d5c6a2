using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;

namespace PiOrchestrator.Evidence;

/// <summary>An RFC 3161 token checked against a chain head: its imprint, its signature, and its signer's chain to the TSA CA.</summary>
public static class TimestampCheck
{
    private const string TimeStampingEku = "1.3.6.1.5.5.7.3.8";

    public static bool TryLoadCa(string file, out X509Certificate2? ca, out string error)
    {
        ca = null;
        try
        {
            ca = X509CertificateLoader.LoadCertificateFromFile(file);
            error = "";
            return true;
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException)
        {
            error = $"{file} cannot be read as a certificate: {ex.Message}";
            return false;
        }
    }

    /// <summary>Null when the token is good for <paramref name="chainHeadHex"/>; else why not.</summary>
    public static string? Check(Rfc3161TimestampToken token, string chainHeadHex, X509Certificate2 ca, out X509Certificate2? signer)
    {
        signer = null;
        if (!token.VerifySignatureForHash(Convert.FromHexString(chainHeadHex), HashAlgorithmName.SHA256, out signer, null) || signer is null)
            return "the token's signature or message imprint does not match the chain head";
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(new System.Security.Cryptography.Oid(TimeStampingEku));
        // Checked at the stamp's own time: a TSA certificate that expires later does not undo a past stamp.
        chain.ChainPolicy.VerificationTime = token.TokenInfo.Timestamp.UtcDateTime;
        foreach (var extra in token.AsSignedCms().Certificates) chain.ChainPolicy.ExtraStore.Add(extra);
        if (chain.Build(signer)) return null;
        return $"the TSA certificate '{signer.Subject}' is not vouched for by the CA in Tsa:CaFile ({string.Join(", ", chain.ChainStatus.Select(s => s.Status))})";
    }

    /// <summary>"ok" or "bad" for a stored token.</summary>
    public static string Verify(byte[] token, string chainHeadHex, X509Certificate2 ca) =>
        Rfc3161TimestampToken.TryDecode(token, out var decoded, out _) && Check(decoded!, chainHeadHex, ca, out _) is null ? "ok" : "bad";
}
