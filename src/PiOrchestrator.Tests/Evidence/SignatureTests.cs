using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using PiOrchestrator.Store;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Evidence;

/// <summary>The device key and every good capture's signature, checked by a real openssl and by .NET.</summary>
public class SignatureTests : AgentWithCameraTests
{
    private async Task<JsonElement> Data(string path) => (await AgentApplication.Json(await Http.GetAsync(path))).GetProperty("data");

    [Fact]
    public void The_key_is_made_once_owner_only_and_kept_across_restarts()
    {
        using var dir = new TempDirectory();
        string keyId;
        using (var first = new DeviceKey(dir.Path, null, "pi-1", NullLogger.Instance)) keyId = first.KeyId;
        var file = Path.Combine(dir.Path, DeviceKey.FileName);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        Assert.False(File.Exists(file + ".tmp"));
        using var second = new DeviceKey(dir.Path, null, "pi-1", NullLogger.Instance);
        Assert.Equal(keyId, second.KeyId);
        using var publicKey = ECDsa.Create();
        publicKey.ImportSubjectPublicKeyInfo(second.SubjectPublicKeyInfo, out _);
        Assert.Equal(ECCurve.NamedCurves.nistP256.Oid.Value, publicKey.ExportParameters(false).Curve.Oid.Value);
    }

    [Fact]
    public async Task A_key_from_the_credentials_directory_is_used_instead_of_making_one()
    {
        using var dir = new TempDirectory();
        using var credentials = new TempDirectory();
        // A SEC1 key as `openssl ecparam -genkey` writes it: what a site would hand over with LoadCredential=.
        var (exit, output) = await Shell.RunAsync(credentials.Path, "openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "device-key");
        Assert.True(exit == 0, output);
        (exit, output) = await Shell.RunAsync(credentials.Path, "openssl", "pkey", "-in", "device-key", "-pubout", "-outform", "DER", "-out", "pub.der");
        Assert.True(exit == 0, output);
        using var key = new DeviceKey(dir.Path, credentials.Path, "pi-1", NullLogger.Instance);
        Assert.Equal("credential", key.Source);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(credentials.Path, "pub.der")))), key.KeyId);
        Assert.False(File.Exists(Path.Combine(dir.Path, DeviceKey.FileName)));
    }

    [Fact]
    public async Task A_key_on_another_curve_is_refused_at_start_without_quoting_it()
    {
        using var dir = new TempDirectory();
        var (exit, output) = await Shell.RunAsync(dir.Path, "openssl", "ecparam", "-name", "secp384r1", "-genkey", "-noout", "-out", DeviceKey.FileName);
        Assert.True(exit == 0, output);
        var error = Assert.Throws<PiOrchestrator.Hosting.ConfigurationException>(() => new DeviceKey(dir.Path, null, "pi-1", NullLogger.Instance));
        Assert.Contains("not a P-256 key", error.Message);
        Assert.DoesNotContain("PRIVATE", error.Message);
    }

    [Fact]
    public async Task A_public_key_alone_is_refused_as_the_device_key_naming_the_file()
    {
        using var dir = new TempDirectory();
        using (var key = System.Security.Cryptography.ECDsa.Create(ECCurve.NamedCurves.nistP256))
            await File.WriteAllTextAsync(Path.Combine(dir.Path, DeviceKey.FileName), key.ExportSubjectPublicKeyInfoPem());
        var error = Assert.Throws<PiOrchestrator.Hosting.ConfigurationException>(() => new DeviceKey(dir.Path, null, "pi-1", NullLogger.Instance));
        Assert.Contains(Path.Combine(dir.Path, DeviceKey.FileName), error.Message);
    }

    [Fact]
    public void A_rotated_key_stays_on_record_and_a_key_never_kept_is_reported_as_unknown()
    {
        using var dir = new TempDirectory();
        var options = Microsoft.Extensions.Options.Options.Create(new StorageOptions { DataDirectory = dir.Path });
        var row = new EvidenceRecord
        {
            EvidenceId = Guid.CreateVersion7(), SessionId = "s-1", ContainerId = "ctr-001", DeviceId = "espcam-a1b2c3", Tag = CaptureTag.Manual,
            Status = CaptureStatus.Captured, CapturedAt = DateTimeOffset.UtcNow, CreatedAt = DateTimeOffset.UtcNow, Sha256 = new string('a', 64),
            ObjectKey = "evidence/ctr-001/s-1/x.jpg", ImageSizeBytes = 3,
        };
        string oldKeyId;
        using (var first = new DeviceKey(dir.Path, null, "pi-1", NullLogger.Instance))
        using (var store = new EvidenceStore(options, NullLogger<EvidenceStore>.Instance, first))
        {
            oldKeyId = first.KeyId;
            store.SaveEvidence(row, [1, 2, 3]);
        }
        File.Delete(Path.Combine(dir.Path, DeviceKey.FileName));
        Assert.Throws<PiOrchestrator.Hosting.ConfigurationException>(() => new DeviceKey(dir.Path, null, "pi-1", NullLogger.Instance));
        using var second = new DeviceKey(dir.Path, null, "pi-1", NullLogger.Instance, rotate: true);
        using var rotated = new EvidenceStore(options, NullLogger<EvidenceStore>.Instance, second);
        Assert.Equal([oldKeyId, second.KeyId], rotated.GetDeviceKeys().Select(k => k.KeyId));
        Assert.NotNull(rotated.GetDeviceKeys()[0].ValidTo);
        Assert.Null(rotated.GetDeviceKeys()[1].ValidTo);
        Assert.Equal("ok", rotated.CheckSignature(rotated.GetEvidence(row.EvidenceId)!));

        using (var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={rotated.DatabasePath};Pooling=False"))
        {
            db.Open();
            using var cmd = db.CreateCommand();
            cmd.CommandText = "DELETE FROM device_keys WHERE key_id = $id";
            cmd.Parameters.AddWithValue("$id", oldKeyId);
            Assert.Equal(1, cmd.ExecuteNonQuery());
        }
        Assert.Equal("unknown_key", rotated.CheckSignature(rotated.GetEvidence(row.EvidenceId)!));
    }

    [Fact]
    public async Task Device_endpoint_gives_the_public_key_whose_hash_is_the_key_id_and_never_the_private_key()
    {
        using var response = await Http.GetAsync("/api/v1/device");
        var text = await response.Content.ReadAsStringAsync();
        Assert.DoesNotContain("PRIVATE", text);
        var device = JsonDocument.Parse(text).RootElement.GetProperty("data");
        var pem = device.GetProperty("public_key_pem").GetString()!;
        Assert.StartsWith("-----BEGIN PUBLIC KEY-----", pem);
        using var key = ECDsa.Create();
        key.ImportFromPem(pem);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(key.ExportSubjectPublicKeyInfo())), device.GetProperty("key_id").GetString());
        Assert.False(string.IsNullOrEmpty(device.GetProperty("device_id").GetString()));
        Assert.EndsWith("Z", device.GetProperty("created_at").GetString());
        Assert.DoesNotContain(App.Logs.Entries.Select(e => e.Message), m => m.Contains("PRIVATE KEY"));
    }

    [Fact]
    public async Task Every_capture_is_signed_over_its_canonical_line_and_openssl_and_dotnet_verify_it()
    {
        var sessionId = await App.DoorCycleAsync();
        var device = await Data("/api/v1/device");
        var pem = device.GetProperty("public_key_pem").GetString()!;
        var keyId = device.GetProperty("key_id").GetString();
        using var work = new TempDirectory();
        File.WriteAllText(Path.Combine(work.Path, "device.pem"), pem);
        using var dotnetKey = ECDsa.Create();
        dotnetKey.ImportFromPem(pem);

        var captures = (await Data($"/api/v1/sessions/{sessionId}/evidence?include_image=false")).GetProperty("captures").EnumerateArray().ToList();
        Assert.Equal(2, captures.Count);
        var pair = await Data($"/api/v1/sessions/{sessionId}/evidence/pair?include_image=false");
        foreach (var c in captures)
        {
            var id = c.GetProperty("evidence_id").GetString()!;
            var signature = c.GetProperty("signature").GetString()!;
            Assert.Equal(keyId, c.GetProperty("key_id").GetString());
            var single = await Data($"/api/v1/evidence/{id}");
            Assert.Equal(signature, single.GetProperty("signature").GetString());
            Assert.Equal(keyId, single.GetProperty("key_id").GetString());
            var side = c.GetProperty("capture_tag").GetString() == "BEFORE_OPEN" ? pair.GetProperty("before") : pair.GetProperty("after");
            Assert.Equal(signature, side.GetProperty("signature").GetString());

            var line = string.Join('|', "nexbasira-edge-capture-v1", id, c.GetProperty("session_id").GetString(), c.GetProperty("container_id").GetString(),
                c.GetProperty("capture_tag").GetString(), c.GetProperty("captured_at").GetString(), c.GetProperty("sha256").GetString());
            File.WriteAllBytes(Path.Combine(work.Path, "line"), Encoding.UTF8.GetBytes(line));
            File.WriteAllBytes(Path.Combine(work.Path, "sig.der"), Convert.FromBase64String(signature));
            var (exit, output) = await Shell.RunAsync(work.Path, "openssl", "dgst", "-sha256", "-verify", "device.pem", "-signature", "sig.der", "line");
            Assert.True(exit == 0, output);
            Assert.Contains("Verified OK", output);
            Assert.True(dotnetKey.VerifyData(Encoding.UTF8.GetBytes(line), Convert.FromBase64String(signature), HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence));

            // The same check fails for a line with another sha256: the signature binds the bytes' hash.
            File.WriteAllBytes(Path.Combine(work.Path, "line"), Encoding.UTF8.GetBytes(line[..^1] + (line[^1] == '0' ? '1' : '0')));
            (exit, output) = await Shell.RunAsync(work.Path, "openssl", "dgst", "-sha256", "-verify", "device.pem", "-signature", "sig.der", "line");
            Assert.NotEqual(0, exit);
            Assert.Contains("Verification failure", output);
        }
    }

    [Fact]
    public async Task Export_of_an_unknown_or_malformed_session_is_refused()
    {
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await Http.GetAsync("/api/v1/sessions/no-such-session/export")).StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, (await Http.GetAsync("/api/v1/sessions/bad%20id/export")).StatusCode);
    }

    [Fact]
    public async Task A_failed_capture_carries_no_signature()
    {
        Camera.Mode = CameraMode.Http500;
        var sessionId = await App.DoorCycleAsync();
        var rows = App.Store.GetEvidenceForSession(sessionId);
        Assert.NotEmpty(rows);
        Assert.All(rows, r => { Assert.False(r.IsCaptured); Assert.Null(r.Signature); Assert.Null(r.KeyId); });
    }

    [Fact]
    public void A_database_from_before_signatures_gains_the_columns_and_keeps_its_rows_unsigned()
    {
        using var dir = new TempDirectory();
        var options = Microsoft.Extensions.Options.Options.Create(new StorageOptions { DataDirectory = dir.Path });
        var old = new EvidenceRecord
        {
            EvidenceId = Guid.CreateVersion7(), SessionId = "s-old", ContainerId = "ctr-001", DeviceId = "espcam-a1b2c3", Tag = CaptureTag.Manual,
            Status = CaptureStatus.Captured, CapturedAt = DateTimeOffset.UtcNow, CreatedAt = DateTimeOffset.UtcNow, Sha256 = new string('a', 64),
            ObjectKey = "evidence/ctr-001/s-old/x.jpg", ImageSizeBytes = 3,
        };
        using (var store = new EvidenceStore(options, NullLogger<EvidenceStore>.Instance)) store.SaveEvidence(old, [1, 2, 3]);
        using (var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(dir.Path, "evidence.db")};Pooling=False"))
        {
            db.Open();
            using var cmd = db.CreateCommand();
            cmd.CommandText = "ALTER TABLE evidence DROP COLUMN signature; ALTER TABLE evidence DROP COLUMN key_id; ALTER TABLE evidence DROP COLUMN clock_synchronized; PRAGMA user_version=1;";
            cmd.ExecuteNonQuery();
        }
        using var key = new DeviceKey(dir.Path, null, "pi-1", NullLogger.Instance);
        using var upgraded = new EvidenceStore(options, NullLogger<EvidenceStore>.Instance, key);
        var row = upgraded.GetEvidence(old.EvidenceId)!;
        Assert.Null(row.Signature);
        Assert.Null(row.ClockSynchronized);
        var fresh = upgraded.SaveEvidence(old with { EvidenceId = Guid.CreateVersion7(), ObjectKey = "evidence/ctr-001/s-old/y.jpg" }, [1, 2, 3]);
        Assert.Equal("ok", upgraded.CheckSignature(upgraded.GetEvidence(fresh.EvidenceId)!));
    }

    [Fact]
    public async Task Verify_calls_a_jpeg_replaced_with_its_sha256_and_chain_rebuilt_a_bad_signature()
    {
        var sessionId = await App.DoorCycleAsync();
        var before = await Data($"/api/v1/sessions/{sessionId}/verify");
        Assert.True(before.GetProperty("ok").GetBoolean());
        Assert.All(before.GetProperty("captures").EnumerateArray(), c => Assert.Equal("ok", c.GetProperty("signature").GetString()));

        // What someone with write access to the disk can do: new bytes, their sha256, and a chain rebuilt to match.
        var rows = App.Store.GetEvidenceForSession(sessionId);
        var target = rows.Single(r => r.Tag == CaptureTag.BeforeOpen);
        var bytes = App.Store.ReadImage(target.EvidenceId)!;
        bytes[bytes.Length / 2] ^= 0x01;
        var forgedSha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        var forgedHead = HashChain.Head(sessionId, rows.Select(r => r.EvidenceId == target.EvidenceId ? r with { Sha256 = forgedSha } : r));
        using (var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={App.Store.DatabasePath};Pooling=False"))
        {
            db.Open();
            using var cmd = db.CreateCommand();
            cmd.CommandText = "UPDATE evidence_bytes SET data = $data WHERE evidence_id = $id; UPDATE evidence SET sha256 = $sha WHERE evidence_id = $id; " +
                              "UPDATE sessions SET chain_head = $head WHERE session_id = $session;";
            cmd.Parameters.AddWithValue("$data", bytes);
            cmd.Parameters.AddWithValue("$id", target.EvidenceId.ToString("D"));
            cmd.Parameters.AddWithValue("$sha", forgedSha);
            cmd.Parameters.AddWithValue("$head", forgedHead);
            cmd.Parameters.AddWithValue("$session", sessionId);
            cmd.ExecuteNonQuery();
        }

        var after = await Data($"/api/v1/sessions/{sessionId}/verify");
        Assert.True(after.GetProperty("chain_ok").GetBoolean());
        Assert.False(after.GetProperty("ok").GetBoolean());
        var byId = after.GetProperty("captures").EnumerateArray().ToDictionary(c => c.GetProperty("evidence_id").GetString()!);
        Assert.Equal("ok", byId[target.EvidenceId.ToString("D")].GetProperty("local").GetString());
        Assert.Equal("bad", byId[target.EvidenceId.ToString("D")].GetProperty("signature").GetString());
        Assert.Equal("ok", byId[rows.Single(r => r.Tag == CaptureTag.AfterClose).EvidenceId.ToString("D")].GetProperty("signature").GetString());
    }
}
