using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace PiOrchestrator.Tls;

/// <summary>
/// Trust in one site CA for one endpoint: a server certificate is accepted when it chains to a certificate of the
/// CA file (and nothing else) and names the host. Failures are described in words a technician can act on.
/// </summary>
public sealed class SiteCertificateAuthority
{
    private readonly X509Certificate2Collection _roots = [];

    public SiteCertificateAuthority(string caFile)
    {
        File = caFile;
        _roots.ImportFromPemFile(caFile);
        if (_roots.Count == 0) throw new InvalidDataException($"{caFile} holds no PEM certificate");
    }

    public string File { get; }

    /// <summary>Reads the CA file; false with the reason when it is missing, unreadable or holds no certificate.</summary>
    public static bool TryLoad(string caFile, out SiteCertificateAuthority? authority, out string error)
    {
        try
        {
            authority = new SiteCertificateAuthority(caFile);
            error = "";
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException or InvalidDataException)
        {
            authority = null;
            error = $"{caFile}: {ex.Message}";
            return false;
        }
    }

    /// <summary>Null when the certificate is trusted for <paramref name="host"/>, else why not.</summary>
    public string? Check(X509Certificate? presented, X509Chain? presentedChain, SslPolicyErrors errors, DateTimeOffset now)
    {
        if (presented is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
            return "the server sent no certificate";
        var certificate = presented as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(presented.GetRawCertData());
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(_roots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = now.UtcDateTime;
        if (presentedChain is not null)
            foreach (var element in presentedChain.ChainElements)
                chain.ChainPolicy.ExtraStore.Add(element.Certificate);

        var problems = new List<string>();
        if (!chain.Build(certificate))
            problems.AddRange(Describe(chain, certificate, now, File));
        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
            problems.Add($"it is issued for {Names(certificate)}, not for this host");
        return problems.Count == 0 ? null : $"server certificate '{certificate.Subject}' rejected: {string.Join("; ", problems)}";
    }

    /// <summary>The chain problems of a certificate validated by the system store (no site CA configured).</summary>
    public static string? CheckWithSystemTrust(X509Certificate? presented, X509Chain? chain, SslPolicyErrors errors, DateTimeOffset now)
    {
        if (errors == SslPolicyErrors.None) return null;
        if (presented is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable)) return "the server sent no certificate";
        var certificate = presented as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(presented.GetRawCertData());
        var problems = new List<string>();
        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateChainErrors) && chain is not null)
            problems.AddRange(Describe(chain, certificate, now, caFile: null));
        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
            problems.Add($"it is issued for {Names(certificate)}, not for this host");
        return $"server certificate '{certificate.Subject}' rejected: {string.Join("; ", problems)}";
    }

    private static IEnumerable<string> Describe(X509Chain chain, X509Certificate2 certificate, DateTimeOffset now, string? caFile)
    {
        var flags = chain.ChainStatus.Aggregate(X509ChainStatusFlags.NoError, (all, s) => all | s.Status);
        if (flags.HasFlag(X509ChainStatusFlags.NotTimeValid))
            yield return certificate.NotAfter.ToUniversalTime() < now.UtcDateTime
                ? $"it expired on {certificate.NotAfter.ToUniversalTime():yyyy-MM-dd HH:mm:ss}Z"
                : $"it is not valid before {certificate.NotBefore.ToUniversalTime():yyyy-MM-dd HH:mm:ss}Z";
        if ((flags & (X509ChainStatusFlags.UntrustedRoot | X509ChainStatusFlags.PartialChain)) != 0)
            yield return caFile is null
                ? $"its issuer '{certificate.Issuer}' is not trusted by this machine"
                : $"it is not signed by the CA in {caFile} (its issuer is '{certificate.Issuer}')";
        var other = flags & ~(X509ChainStatusFlags.NotTimeValid | X509ChainStatusFlags.UntrustedRoot | X509ChainStatusFlags.PartialChain);
        if (other != X509ChainStatusFlags.NoError)
            yield return string.Join(", ", chain.ChainStatus.Where(s => (s.Status & other) != 0).Select(s => s.StatusInformation.Trim()).Distinct());
    }

    private static string Names(X509Certificate2 certificate)
    {
        var names = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>()
            .SelectMany(san => san.EnumerateDnsNames().Concat(san.EnumerateIPAddresses().Select(ip => ip.ToString())))
            .ToList();
        return names.Count > 0 ? string.Join(", ", names) : $"'{certificate.GetNameInfo(X509NameType.SimpleName, false)}'";
    }
}
