using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using PiOrchestrator.Store;
using PiOrchestrator.Upload;

namespace PiOrchestrator.Evidence;

public sealed record ExportCaptureDto(
    string EvidenceId, string SessionId, string ContainerId, string CaptureTag, string Status, string? FailureReason, string? CapturedAt,
    string? Sha256, string? Signature, string? KeyId, bool? ClockSynchronized, string? File, string? NotIncluded, int? Sequence = null);

public sealed record ExportManifestDto(
    string Format, string SessionId, string ContainerId, string Status, DateTimeOffset StartedAt, DateTimeOffset? ClosedAt, string? ChainHead,
    string DeviceId, string KeyId, DateTimeOffset ExportedAt, IReadOnlyList<ExportCaptureDto> Captures, string AuditFile);

/// <summary>The manifest's JSON: indented for a reader, snake_case and UTC like the API.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true, Converters = [typeof(Http.UtcDateTimeConverter)])]
[JsonSerializable(typeof(ExportManifestDto))]
[JsonSerializable(typeof(IReadOnlyList<AuditEventDto>))]
internal sealed partial class ExportJsonContext : JsonSerializerContext;

/// <summary>
/// A session as a zip anyone can check with sha256sum and openssl: the JPEGs as stored (unchecked, so the checks in
/// VERIFY.txt see exactly what this Pi or the bucket holds), manifest.json, device.pem, one .sig per JPEG, audit.json
/// (who opened, ended or took test captures in the session), VERIFY.txt.
/// The zip is written as it is made, straight to the response: a JPEG goes from the store in bounded pieces, or from
/// the shared S3 read-back (<see cref="ObjectReadBacks"/>), and nothing holds the whole archive.
/// </summary>
public sealed class SessionExport(EvidenceStore store, DeviceKey key, ObjectReadBacks readBacks, S3ObjectStore s3, ILogger<SessionExport> log)
{
    private const int CopyBufferBytes = 64 * 1024;
    public const string AuditFile = "audit.json";

    public async Task WriteAsync(SessionRecord session, DateTimeOffset now, Stream output, CancellationToken ct)
    {
        var body = new DeferredSyncWrites(output);
        var zip = await ZipArchive.CreateAsync(body, ZipArchiveMode.Create, leaveOpen: true, entryNameEncoding: null, ct);
        await using (zip)
        {
            var captures = new List<ExportCaptureDto>();
            var files = new List<(string Name, EvidenceRecord Row)>();
            foreach (var e in store.GetEvidenceForSession(session.SessionId))
            {
                var capturedAt = e.CapturedAt.UtcDateTime.ToString(Http.UtcDateTimeConverter.Format, CultureInfo.InvariantCulture);
                string? file = null, notIncluded = null;
                if (e.IsCaptured)
                {
                    var name = e.ObjectKey![(e.ObjectKey!.LastIndexOf('/') + 1)..];
                    notIncluded = await AddStoredAsync(zip, name, e, ct);
                    if (notIncluded is null)
                    {
                        file = name;
                        files.Add((name, e));
                        if (e.Signature is not null) await AddAsync(zip, name + ".sig", Convert.FromBase64String(e.Signature), CompressionLevel.NoCompression, ct);
                    }
                }
                captures.Add(new ExportCaptureDto(e.EvidenceId.ToString("D"), e.SessionId, e.ContainerId, EvidenceNames.Of(e.Tag), EvidenceNames.Of(e.Status),
                    e.FailureReason, capturedAt, e.Sha256, e.Signature, e.KeyId, e.ClockSynchronized, file, notIncluded, e.Sequence));
            }
            var manifest = new ExportManifestDto(CaptureSignature.Version, session.SessionId, session.ContainerId, SessionRecord.Of(session.Phase),
                session.StartedAt, session.ClosedAt, session.ChainHead, key.DeviceId, key.KeyId, now, captures, AuditFile);

            await AddAsync(zip, "manifest.json", JsonSerializer.SerializeToUtf8Bytes(manifest, ExportJsonContext.Default.ExportManifestDto), CompressionLevel.Optimal, ct);
            // Always present: an empty list says no one acted on the session through the API.
            IReadOnlyList<AuditEventDto> audit = [.. store.ListAudit(session.SessionId).Select(AuditApi.ToDto)];
            await AddAsync(zip, AuditFile, JsonSerializer.SerializeToUtf8Bytes(audit, ExportJsonContext.Default.IReadOnlyListAuditEventDto), CompressionLevel.Optimal, ct);
            // The public key each capture names (device.pem for the session's first); a key not kept is absent, and
            // VERIFY.txt says so instead of checking that capture against another key.
            var keyFiles = KeyFiles(files.Select(f => f.Row));
            var onRecord = store.GetDeviceKeys().ToDictionary(k => k.KeyId, StringComparer.Ordinal);
            foreach (var (keyId, keyFile) in keyFiles)
                if (onRecord.TryGetValue(keyId, out var record)) await AddAsync(zip, keyFile, Encoding.ASCII.GetBytes(record.PublicKeyPem), CompressionLevel.Optimal, ct);
            if (!keyFiles.Keys.Any(onRecord.ContainsKey)) await AddAsync(zip, "device.pem", Encoding.ASCII.GetBytes(key.PublicKeyPem), CompressionLevel.Optimal, ct);
            await AddAsync(zip, "SHA256SUMS", Encoding.ASCII.GetBytes(string.Concat(files.Select(f => $"{f.Row.Sha256}  {f.Name}\n"))), CompressionLevel.Optimal, ct);
            // The TSA chain and CA kept with the token when it arrived, not whatever Tsa:CaFile names today.
            var stamp = session.ChainHead is not null && store.GetTimestamp(session.SessionId) is { Status: "ok", Reply: not null, TsaCaPem: not null } kept ? kept : null;
            if (stamp is not null)
            {
                await AddAsync(zip, "chain.tsr", stamp.Reply!, CompressionLevel.Optimal, ct);
                if (stamp.TsaChainPem is { Length: > 0 } chain) await AddAsync(zip, "tsa-chain.pem", Encoding.ASCII.GetBytes(chain), CompressionLevel.Optimal, ct);
                await AddAsync(zip, "tsa-ca.pem", Encoding.ASCII.GetBytes(stamp.TsaCaPem!), CompressionLevel.Optimal, ct);
            }
            await AddAsync(zip, "VERIFY.txt", Encoding.UTF8.GetBytes(VerifyText(manifest, files.Where(f => f.Row.Signature is not null).Select(f => (f.Name, f.Row)), stamp,
                keyFiles.Where(k => onRecord.ContainsKey(k.Key)).ToDictionary(k => k.Key, k => k.Value, StringComparer.Ordinal))), CompressionLevel.Optimal, ct);
        }
        // The central directory, written as the archive closed.
        await body.FlushAsync(ct);
    }

    /// <summary>
    /// The JPEG as stored here, else as the bucket holds it, added as <paramref name="name"/>; neither is checked against
    /// the row (the export's own checks do that). Null when added, else why not.
    /// </summary>
    private async Task<string?> AddStoredAsync(ZipArchive zip, string name, EvidenceRecord e, CancellationToken ct)
    {
        if (e.BytesHeld && store.OpenImage(e.EvidenceId) is { } local)
        {
            using (local)
            {
                // JPEGs do not compress; storing them keeps the export quick on a Pi.
                var entry = await zip.CreateEntry(name, CompressionLevel.NoCompression).OpenAsync(ct);
                await using (entry) await local.Bytes.CopyToAsync(entry, CopyBufferBytes, ct);
            }
            return null;
        }
        if (e.PurgedAt is not null) return "purged by retention";
        if (!s3.Configured || e.UploadStatus != UploadStatus.Uploaded) return "not held on this agent and not in object storage";
        var remote = await readBacks.ReadAsync(e, ct);
        if (remote.Bytes is { } bytes)
        {
            await AddAsync(zip, name, bytes, CompressionLevel.NoCompression, ct);
            return null;
        }
        if (remote.Verdict == "missing") return "missing from object storage";
        log.LogWarning("Export of {Key}: object storage not reachable: {Error}", e.ObjectKey, remote.Error);
        return "object storage not reachable";
    }

    /// <summary>The public-key file for each key that signed one of the captures: device.pem for the first, device-{key id}.pem for others (a session across a rotation).</summary>
    private static Dictionary<string, string> KeyFiles(IEnumerable<EvidenceRecord> rows)
    {
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var keyId in rows.Where(r => r.Signature is not null && r.KeyId is not null).Select(r => r.KeyId!).Distinct(StringComparer.Ordinal))
            files[keyId] = files.Count == 0 ? "device.pem" : $"device-{keyId[..16]}.pem";
        return files;
    }

    private static async Task AddAsync(ZipArchive zip, string name, byte[] bytes, CompressionLevel level, CancellationToken ct)
    {
        var entry = await zip.CreateEntry(name, level).OpenAsync(ct);
        await using (entry) await entry.WriteAsync(bytes, ct);
    }

    /// <summary>
    /// Commands a claims handler runs in the unzipped folder; each must succeed. The signed line is rebuilt with the
    /// sha256 of the file itself, so the signature covers the bytes in hand, not a copy of their hash.
    /// </summary>
    internal static string VerifyText(ExportManifestDto m, IEnumerable<(string File, EvidenceRecord Row)> signed, SessionTimestamp? stamp,
        IReadOnlyDictionary<string, string> keyFiles)
    {
        var text = new StringBuilder();
        text.Append($"""
            # Evidence export of session {m.SessionId}, container {m.ContainerId}, from device {m.DeviceId}.
            # Check it in this folder with standard tools (coreutils, openssl). Every command must succeed.
            #
            # 1. The device key: the sha256 printed must be a key_id recorded for this device (when it was installed,
            #    or at a key rotation; the device lists them all); a key that does not match proves nothing.

            """);
        foreach (var keyFile in keyFiles.Values.DefaultIfEmpty("device.pem"))
            text.Append($"openssl pkey -pubin -in {keyFile} -outform DER | sha256sum\n");
        text.Append($"""
            #
            # 2. Each JPEG against the sha256 in manifest.json (prints "OK" per file).
            sha256sum -c SHA256SUMS
            #
            # 3. Each JPEG's signature, over the line
            #    {CaptureSignature.Version}|evidence_id|session_id|container_id|capture_tag|captured_at|sha256 of the file
            #    (prints "Verified OK").

            """);
        foreach (var (file, e) in signed)
            text.Append(keyFiles.TryGetValue(e.KeyId ?? "", out var keyFile)
                ? $"printf '%s' \"{CaptureSignature.Line(e)[..^64]}$(sha256sum < {file} | cut -d' ' -f1)\" | openssl dgst -sha256 -verify {keyFile} -signature {file}.sig\n"
                : $"# {file}: signed with key {e.KeyId}, whose public key this device did not keep; its signature cannot be checked here.\n");
        text.Append($"""
            #
            # {m.AuditFile} lists who opened or ended this session or took its test capture, when and from which address,
            # as this Pi recorded them. It is not signed: it says what happened here, it proves nothing by itself.

            """);
        if (stamp is not null)
            text.Append($"""
                #
                # 4. The time-stamping authority's CA. tsa-ca.pem is the CA this Pi checked chain.tsr against when the
                #    token arrived; its SHA-256 fingerprint is
                #      {TsaAnchor.Display(stamp.TsaCaSha256!)}
                #    Compare it with the CA fingerprint the TSA publishes (its policy or website), not with anything
                #    in this folder: whoever controls the Pi could have put a CA of its own here. A CA that does not
                #    match proves nothing about the time.
                openssl x509 -in tsa-ca.pem -noout -fingerprint -sha256
                #
                # 5. The session's hash chain head ({m.ChainHead}, in manifest.json) existed when that authority
                #    signed chain.tsr (prints "Verification: OK"); tsa-chain.pem is the TSA's certificate chain as
                #    seen at stamping time.
                openssl ts -verify -digest {m.ChainHead} -in chain.tsr -CAfile tsa-ca.pem{(stamp.TsaChainPem is { Length: > 0 } ? " -untrusted tsa-chain.pem" : "")}

                """);
        return text.ToString();
    }
}
