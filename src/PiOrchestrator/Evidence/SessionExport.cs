using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using PiOrchestrator.Upload;

namespace PiOrchestrator.Evidence;

public sealed record ExportCaptureDto(
    string EvidenceId, string SessionId, string ContainerId, string CaptureTag, string Status, string? FailureReason, string? CapturedAt,
    string? Sha256, string? Signature, string? KeyId, bool? ClockSynchronized, string? File, string? NotIncluded);

public sealed record ExportManifestDto(
    string Format, string SessionId, string ContainerId, string Status, DateTimeOffset StartedAt, DateTimeOffset? ClosedAt, string? ChainHead,
    string DeviceId, string KeyId, DateTimeOffset ExportedAt, IReadOnlyList<ExportCaptureDto> Captures);

/// <summary>The manifest's JSON: indented for a reader, snake_case and UTC like the API.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true, Converters = [typeof(Api.UtcDateTimeConverter)])]
[JsonSerializable(typeof(ExportManifestDto))]
internal sealed partial class ExportJsonContext : JsonSerializerContext;

/// <summary>
/// A session as a zip anyone can check with sha256sum and openssl: the JPEGs as stored (unchecked, so the checks in
/// VERIFY.txt see exactly what this Pi or the bucket holds), manifest.json, device.pem, one .sig per JPEG, VERIFY.txt.
/// </summary>
public sealed class SessionExport(EvidenceStore store, DeviceKey key, S3ObjectStore s3, Microsoft.Extensions.Options.IOptions<TsaOptions> tsa, ILogger<SessionExport> log)
{
    public async Task<byte[]> BuildAsync(SessionRecord session, DateTimeOffset now, CancellationToken ct)
    {
        var captures = new List<ExportCaptureDto>();
        var files = new List<(string Name, byte[] Bytes, EvidenceRecord Row)>();
        foreach (var e in store.GetEvidenceForSession(session.SessionId))
        {
            var capturedAt = e.CapturedAt.UtcDateTime.ToString(Api.UtcDateTimeConverter.Format, CultureInfo.InvariantCulture);
            string? file = null, notIncluded = null;
            if (e.IsCaptured)
            {
                var (bytes, why) = await ReadStoredAsync(e, ct);
                if (bytes is not null)
                {
                    file = e.ObjectKey![(e.ObjectKey!.LastIndexOf('/') + 1)..];
                    files.Add((file, bytes, e));
                }
                notIncluded = why;
            }
            captures.Add(new ExportCaptureDto(e.EvidenceId.ToString("D"), e.SessionId, e.ContainerId, EvidenceNames.Of(e.Tag), EvidenceNames.Of(e.Status),
                e.FailureReason, capturedAt, e.Sha256, e.Signature, e.KeyId, e.ClockSynchronized, file, notIncluded));
        }
        var manifest = new ExportManifestDto(CaptureSignature.Version, session.SessionId, session.ContainerId, SessionRecord.Of(session.Phase),
            session.StartedAt, session.ClosedAt, session.ChainHead, key.DeviceId, key.KeyId, now, captures);

        using var buffer = new MemoryStream();
        using (var zip = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        {
            // JPEGs do not compress; storing them keeps the export quick on a Pi.
            foreach (var (name, bytes, row) in files)
            {
                Add(zip, name, bytes, CompressionLevel.NoCompression);
                if (row.Signature is not null) Add(zip, name + ".sig", Convert.FromBase64String(row.Signature), CompressionLevel.NoCompression);
            }
            Add(zip, "manifest.json", JsonSerializer.SerializeToUtf8Bytes(manifest, ExportJsonContext.Default.ExportManifestDto), CompressionLevel.Optimal);
            // The public key each capture names (device.pem for the session's first); a key not kept is absent, and
            // VERIFY.txt says so instead of checking that capture against another key.
            var keyFiles = KeyFiles(files.Select(f => f.Row));
            var onRecord = store.GetDeviceKeys().ToDictionary(k => k.KeyId, StringComparer.Ordinal);
            foreach (var (keyId, keyFile) in keyFiles)
                if (onRecord.TryGetValue(keyId, out var record)) Add(zip, keyFile, Encoding.ASCII.GetBytes(record.PublicKeyPem), CompressionLevel.Optimal);
            if (!keyFiles.Keys.Any(onRecord.ContainsKey)) Add(zip, "device.pem", Encoding.ASCII.GetBytes(key.PublicKeyPem), CompressionLevel.Optimal);
            Add(zip, "SHA256SUMS", Encoding.ASCII.GetBytes(string.Concat(files.Select(f => $"{f.Row.Sha256}  {f.Name}\n"))), CompressionLevel.Optimal);
            var reply = session.ChainHead is not null && File.Exists(tsa.Value.CaFile) ? store.GetTimestamp(session.SessionId)?.Reply : null;
            if (reply is not null)
            {
                Add(zip, "chain.tsr", reply, CompressionLevel.Optimal);
                Add(zip, "tsa-ca.pem", File.ReadAllBytes(tsa.Value.CaFile), CompressionLevel.Optimal);
            }
            Add(zip, "VERIFY.txt", Encoding.UTF8.GetBytes(VerifyText(manifest, files.Where(f => f.Row.Signature is not null).Select(f => (f.Name, f.Row)), reply is not null,
                keyFiles.Where(k => onRecord.ContainsKey(k.Key)).ToDictionary(k => k.Key, k => k.Value, StringComparer.Ordinal))), CompressionLevel.Optimal);
        }
        return buffer.ToArray();
    }

    /// <summary>The bytes as stored here, else as the bucket holds them; neither is checked against the row (the export's own checks do that).</summary>
    private async Task<(byte[]? Bytes, string? WhyNot)> ReadStoredAsync(EvidenceRecord e, CancellationToken ct)
    {
        if (e.BytesHeld && store.ReadImage(e.EvidenceId) is { } local) return (local, null);
        if (e.PurgedAt is not null) return (null, "purged by retention");
        if (!s3.Configured || e.UploadStatus != UploadStatus.Uploaded) return (null, "not held on this agent and not in object storage");
        try
        {
            return await s3.GetAsync(e.ObjectKey!, e.ImageSizeBytes ?? 0, ct) is { } remote ? (remote, null) : (null, "missing from object storage");
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            log.LogWarning("Export of {Key}: object storage not reachable: {Error}", e.ObjectKey, s3.Describe(ex));
            return (null, "object storage not reachable");
        }
    }

    /// <summary>The public-key file for each key that signed one of the captures: device.pem for the first, device-{key id}.pem for others (a session across a rotation).</summary>
    private static Dictionary<string, string> KeyFiles(IEnumerable<EvidenceRecord> rows)
    {
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var keyId in rows.Where(r => r.Signature is not null && r.KeyId is not null).Select(r => r.KeyId!).Distinct(StringComparer.Ordinal))
            files[keyId] = files.Count == 0 ? "device.pem" : $"device-{keyId[..16]}.pem";
        return files;
    }

    private static void Add(ZipArchive zip, string name, byte[] bytes, CompressionLevel level)
    {
        using var entry = zip.CreateEntry(name, level).Open();
        entry.Write(bytes);
    }

    /// <summary>
    /// Commands a claims handler runs in the unzipped folder; each must succeed. The signed line is rebuilt with the
    /// sha256 of the file itself, so the signature covers the bytes in hand, not a copy of their hash.
    /// </summary>
    internal static string VerifyText(ExportManifestDto m, IEnumerable<(string File, EvidenceRecord Row)> signed, bool stamped, IReadOnlyDictionary<string, string> keyFiles)
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
        if (stamped)
            text.Append($"""
                #
                # 4. The session's hash chain head ({m.ChainHead}, in manifest.json) existed when the time-stamping
                #    authority signed chain.tsr (prints "Verification: OK"); tsa-ca.pem is the CA the Pi trusts for it.
                openssl ts -verify -digest {m.ChainHead} -in chain.tsr -CAfile tsa-ca.pem

                """);
        return text.ToString();
    }
}
