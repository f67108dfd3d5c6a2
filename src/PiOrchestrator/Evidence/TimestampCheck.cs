using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using PiOrchestrator.Store;

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

    /// <summary>
    /// Null when the token is good for <paramref name="chainHeadHex"/>; else why not. <paramref name="chainPem"/> is
    /// what the check used below the CA: the chain it built, else the token's own certificates.
    /// </summary>
    public static string? Check(Rfc3161TimestampToken token, string chainHeadHex, X509Certificate2 ca, X509Certificate2Collection? extra,
        out X509Certificate2? signer, out string chainPem)
    {
        signer = null;
        var tokenCertificates = token.AsSignedCms().Certificates;
        chainPem = Pem(tokenCertificates.Cast<X509Certificate2>());
        if (!token.VerifySignatureForHash(Convert.FromHexString(chainHeadHex), HashAlgorithmName.SHA256, out signer, extra) || signer is null)
            return "the token's signature or message imprint does not match the chain head";
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid(TimeStampingEku));
        // Checked at the stamp's own time: a TSA certificate that expires later does not undo a past stamp.
        chain.ChainPolicy.VerificationTime = token.TokenInfo.Timestamp.UtcDateTime;
        chain.ChainPolicy.ExtraStore.AddRange(tokenCertificates);
        if (extra is not null) chain.ChainPolicy.ExtraStore.AddRange(extra);
        var built = chain.Build(signer);
        if (built) chainPem = Pem(chain.ChainElements.Select(e => e.Certificate).Where(c => !c.RawDataMemory.Span.SequenceEqual(ca.RawDataMemory.Span)));
        if (built) return null;
        return $"the TSA certificate '{signer.Subject}' is not vouched for by the CA in Tsa:CaFile ({string.Join(", ", chain.ChainStatus.Select(s => s.Status))})";
    }

    /// <summary>
    /// "ok" or "bad" for a stored token, from the material kept with it at stamping time only (the CA, whose
    /// fingerprint must still match, and the TSA's chain), never from today's Tsa:CaFile.
    /// </summary>
    public static string Verify(SessionTimestamp stamp, string chainHeadHex)
    {
        if (stamp.Token is null || stamp.TsaCaPem is null || stamp.TsaCaSha256 is null) return "bad";
        try
        {
            using var ca = X509Certificate2.CreateFromPem(stamp.TsaCaPem);
            if (TsaAnchor.Sha256Of(ca) != stamp.TsaCaSha256) return "bad";
            var extra = new X509Certificate2Collection();
            if (stamp.TsaChainPem is { Length: > 0 } pem) extra.ImportFromPem(pem);
            return Rfc3161TimestampToken.TryDecode(stamp.Token, out var decoded, out var used) && used == stamp.Token.Length
                   && Check(decoded!, chainHeadHex, ca, extra, out _, out _) is null ? "ok" : "bad";
        }
        catch (CryptographicException)
        {
            return "bad";
        }
    }

    private static string Pem(IEnumerable<X509Certificate2> certificates)
    {
        var text = new StringBuilder();
        foreach (var c in certificates) text.Append(c.ExportCertificatePem()).Append('\n');
        return text.ToString();
    }
}
