using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using PiOrchestrator.Hosting;
using PiOrchestrator.Site;

namespace PiOrchestrator.Store;

/// <summary>
/// The Pi's evidence-signing key: ECDSA P-256, made on first start in the data directory (mode 0600) or handed over
/// by systemd as the credential <c>device-key</c>. The private half never leaves this class: no log, status or answer
/// shows it, only <see cref="KeyId"/> and the public key. A new key is made only while no capture is signed with
/// another (or when <see cref="EvidenceOptions.RotateDeviceKey"/> asks for it): a missing, corrupt or unreadable key
/// file is otherwise a configuration error, never a silent replacement that would make older evidence look tampered.
/// </summary>
public sealed class DeviceKey : IDisposable
{
    public const string FileName = "device-key.pem";
    public const string CredentialName = "device-key";

    private readonly ECDsa _key;

    public DeviceKey(IOptions<StorageOptions> storage, IOptions<AgentIdentity> agent, IOptions<EvidenceOptions> evidence, ILogger<DeviceKey> log)
        : this(storage.Value.ResolveDataDirectory(), Environment.GetEnvironmentVariable("CREDENTIALS_DIRECTORY"), agent.Value.AgentId, log,
            evidence.Value.RotateDeviceKey)
    {
    }

    public DeviceKey(string dataDirectory, string? credentialsDirectory, string deviceId, ILogger log, bool rotate = false)
    {
        DeviceId = deviceId;
        var credential = string.IsNullOrEmpty(credentialsDirectory) ? null : Path.Combine(credentialsDirectory, CredentialName);
        string path;
        if (credential is not null && File.Exists(credential))
        {
            path = credential;
            Source = "credential";
        }
        else
        {
            path = Path.Combine(dataDirectory, FileName);
            Source = "data directory";
            if (!File.Exists(path))
            {
                var (signed, lastKeyId) = EvidenceStore.SignedCaptures(dataDirectory);
                if (signed > 0 && !rotate)
                    throw new ConfigurationException($"the device key {path} is missing but {signed} capture(s) are signed with key " +
                        $"{lastKeyId}: restore the file, or start once with Evidence:RotateDeviceKey=true to make a new key");
                Create(dataDirectory, path, log);
                if (signed > 0)
                    log.LogWarning("Evidence:RotateDeviceKey: made a new device key; key {Old} stays on record for the {Count} capture(s) it signed. " +
                        "Unset the option", lastKeyId, signed);
            }
            else if (rotate)
            {
                log.LogWarning("Evidence:RotateDeviceKey is set but {Path} is present: nothing rotated. Unset the option " +
                    "(to rotate, move the key file away and start once with it)", path);
            }
        }
        _key = Load(path);
        CreatedAt = new DateTimeOffset(File.GetLastWriteTimeUtc(path), TimeSpan.Zero);
        SubjectPublicKeyInfo = _key.ExportSubjectPublicKeyInfo();
        KeyId = Convert.ToHexStringLower(SHA256.HashData(SubjectPublicKeyInfo));
        PublicKeyPem = PemEncoding.WriteString("PUBLIC KEY", SubjectPublicKeyInfo) + "\n";
        log.LogInformation("Evidence signing key {KeyId} from the {Source}", KeyId, Source);
    }

    public string DeviceId { get; }

    /// <summary>Hex sha256 of the public key's SubjectPublicKeyInfo DER.</summary>
    public string KeyId { get; }

    public string PublicKeyPem { get; }

    public byte[] SubjectPublicKeyInfo { get; }

    /// <summary>When the key file was written (the credential file's time for a handed-over key).</summary>
    public DateTimeOffset CreatedAt { get; }

    /// <summary>"data directory" or "credential".</summary>
    public string Source { get; }

    /// <summary>DER-encoded ECDSA signature over SHA-256 of <paramref name="data"/>, as openssl dgst -sign writes it.</summary>
    public byte[] Sign(ReadOnlySpan<byte> data) =>
        _key.SignData(data, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);

    public bool Verify(ReadOnlySpan<byte> data, ReadOnlySpan<byte> derSignature) =>
        _key.VerifyData(data, derSignature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);

    public void Dispose() => _key.Dispose();

    private static ECDsa Load(string path)
    {
        string pem;
        try
        {
            pem = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ConfigurationException($"the device key {path} cannot be read ({ex.GetType().Name}): check its owner and mode (0600, the agent's user)");
        }
        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(pem);
            key.ExportParameters(includePrivateParameters: true); // a public key alone cannot sign
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
            key.Dispose();
            // The message names the file only: the exception text could quote the key.
            throw new ConfigurationException($"the device key {path} is not a PEM EC private key: restore it from a backup");
        }
        if (key.ExportParameters(false).Curve.Oid.Value != ECCurve.NamedCurves.nistP256.Oid.Value)
        {
            key.Dispose();
            throw new ConfigurationException($"the device key {path} is not a P-256 key (the evidence format names ECDSA P-256)");
        }
        return key;
    }

    /// <summary>Written to a temp file created 0600, synced, then renamed: a crash leaves no half key.</summary>
    private static void Create(string directory, string path, ILogger log)
    {
        Directory.CreateDirectory(directory);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var pem = PemEncoding.WriteString("PRIVATE KEY", key.ExportPkcs8PrivateKey()) + "\n";
        var temp = path + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, Options = FileOptions.WriteThrough };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var file = new FileStream(temp, options))
        {
            file.Write(System.Text.Encoding.ASCII.GetBytes(pem));
            file.Flush(flushToDisk: true);
        }
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(temp, path);
        log.LogInformation("Made a new evidence signing key in {Path}", path);
    }
}
