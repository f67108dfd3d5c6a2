using System.Security.Cryptography;
using Amazon.S3.Model;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.EndToEnd;

/// <summary>
/// The export as a claims handler meets it: downloaded from the agent (a process, native in the native run), unzipped
/// with unzip, and checked by running VERIFY.txt's own commands with sh, sha256sum and openssl (the chain head
/// time-stamped by a real openssl TSA).
/// </summary>
[Trait("Agent", "Process")]
public class EvidenceExportProcessTests
{
    private const string Bucket = "evidence";

    [Fact]
    public async Task An_export_passes_its_own_commands_and_one_changed_byte_fails_them_and_verify()
    {
        using var data = new TempDirectory();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var s3 = await S3Server.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        await using var tsa = await TestTsa.StartAsync();
        var environment = new Dictionary<string, string>
        {
            ["PIORCH_Storage__DataDirectory"] = data.Path,
            ["PIORCH_Mqtt__Host"] = "127.0.0.1",
            ["PIORCH_Mqtt__Port"] = broker.Port.ToString(),
            ["PIORCH_Mqtt__ClientId"] = "piorch-export-" + Guid.NewGuid().ToString("N")[..8],
            ["PIORCH_Capture__AfterCloseDelayMs"] = "50",
            ["PIORCH_Containers__0__Id"] = "ctr-001",
            ["PIORCH_Containers__0__CameraId"] = "espcam-a1b2c3",
            ["PIORCH_Containers__0__CameraUrl"] = camera.Url,
            ["PIORCH_S3__Endpoint"] = s3.Endpoint,
            ["PIORCH_S3__Bucket"] = Bucket,
            ["PIORCH_S3__AccessKey"] = S3Server.AccessKey,
            ["PIORCH_S3__SecretKey"] = S3Server.SecretKey,
            ["PIORCH_Tsa__Url"] = tsa.Url,
            ["PIORCH_Tsa__CaFile"] = tsa.CaFile,
        };
        await using var agent = AgentProcess.Start(environment);
        await agent.WaitReadyAsync();
        await agent.WaitForOutputAsync("MQTT connected");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(data.Path, "device-key.pem")));
        var keyId = (await agent.GetDataAsync("/api/v1/device")).GetProperty("key_id").GetString()!;

        await broker.PublishAsync("containers/ctr-001/door", "opened");
        await broker.PublishAsync("containers/ctr-001/door", "closed");
        var sessionId = await Eventually.UntilAsync(async () =>
            (await agent.GetDataAsync("/api/v1/sessions?status=complete")).GetProperty("sessions").EnumerateArray().Select(s => s.GetProperty("id").GetString()).FirstOrDefault(),
            TimeSpan.FromSeconds(20), "a door cycle");
        await Eventually.UntilAsync(async () =>
            (await agent.GetDataAsync("/api/v1/status")).GetProperty("upload").GetProperty("queue_depth").GetInt64() == 0,
            TimeSpan.FromSeconds(30), "both captures uploaded");
        await Eventually.UntilAsync(async () =>
            (await agent.GetDataAsync($"/api/v1/sessions/{sessionId}")).GetProperty("timestamp").GetProperty("status").GetString() == "ok",
            TimeSpan.FromSeconds(30), "the chain head time-stamped");
        // No /verify before the change: it reuses an object's read-back for 5 minutes.

        using (var good = new TempDirectory())
        {
            var results = await ExportAndRunVerifyAsync(agent, sessionId!, good.Path);
            Assert.Contains(results, r => r.Command.StartsWith("openssl pkey") && r.Output.Contains(keyId));
            Assert.Equal(2, results.Count(r => r.Command.Contains("openssl dgst")));
            Assert.All(results, r => Assert.True(r.ExitCode == 0, $"{r.Command}\n{r.Output}"));
            Assert.Equal(2, results.Single(r => r.Command.StartsWith("sha256sum -c")).Output.Split('\n').Count(l => l.EndsWith(": OK")));
            Assert.All(results.Where(r => r.Command.Contains("openssl dgst")), r => Assert.Contains("Verified OK", r.Output));
            Assert.Contains("Verification: OK", results.Single(r => r.Command.StartsWith("openssl ts -verify")).Output);
        }

        // One byte of the BEFORE_OPEN photo changed, on the Pi's disk and in the bucket; its sha256 left as recorded.
        var before = (await agent.GetDataAsync($"/api/v1/sessions/{sessionId}/evidence?include_image=false")).GetProperty("captures")
            .EnumerateArray().Single(c => c.GetProperty("capture_tag").GetString() == "BEFORE_OPEN");
        var evidenceId = before.GetProperty("evidence_id").GetString()!;
        var objectKey = before.GetProperty("object_key").GetString()!;
        var file = objectKey[(objectKey.LastIndexOf('/') + 1)..];
        var bytes = await s3.ReadAsync(Bucket, objectKey);
        bytes[bytes.Length / 2] ^= 0x01;
        using (var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(data.Path, "evidence.db")};Pooling=False"))
        {
            db.Open();
            using var cmd = db.CreateCommand();
            cmd.CommandText = "UPDATE evidence_bytes SET data = $data WHERE evidence_id = $id";
            cmd.Parameters.AddWithValue("$data", bytes);
            cmd.Parameters.AddWithValue("$id", evidenceId);
            Assert.Equal(1, cmd.ExecuteNonQuery());
        }
        using (var client = s3.Client())
            await client.PutObjectAsync(new PutObjectRequest { BucketName = Bucket, Key = objectKey, InputStream = new MemoryStream(bytes), UseChunkEncoding = false });

        var verify = await agent.GetDataAsync($"/api/v1/sessions/{sessionId}/verify");
        Assert.False(verify.GetProperty("ok").GetBoolean());
        var tampered = verify.GetProperty("captures").EnumerateArray().Single(c => c.GetProperty("evidence_id").GetString() == evidenceId);
        Assert.Equal("mismatch", tampered.GetProperty("local").GetString());
        Assert.Equal("mismatch", tampered.GetProperty("object").GetString());

        using (var bad = new TempDirectory())
        {
            var results = await ExportAndRunVerifyAsync(agent, sessionId!, bad.Path);
            var sums = results.Single(r => r.Command.StartsWith("sha256sum -c"));
            Assert.NotEqual(0, sums.ExitCode);
            Assert.Contains($"{file}: FAILED", sums.Output);
            var signature = results.Single(r => r.Command.Contains($"-signature {file}.sig"));
            Assert.NotEqual(0, signature.ExitCode);
            Assert.Contains("Verification failure", signature.Output);
            var other = results.Single(r => r.Command.Contains("openssl dgst") && !r.Command.Contains(file));
            Assert.True(other.ExitCode == 0, other.Output);
        }
    }

    /// <summary>Downloads the export, unzips it, and runs every command line of VERIFY.txt with sh, as written.</summary>
    internal static async Task<List<(string Command, int ExitCode, string Output)>> ExportAndRunVerifyAsync(AgentProcess agent, string sessionId, string directory)
    {
        using var response = await agent.Http.GetAsync($"/api/v1/sessions/{sessionId}/export");
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/zip", response.Content.Headers.ContentType?.MediaType);
        await File.WriteAllBytesAsync(Path.Combine(directory, "export.zip"), await response.Content.ReadAsByteArrayAsync());
        var (exit, output) = await Shell.RunAsync(directory, "unzip", "-q", "export.zip");
        Assert.True(exit == 0, output);
        foreach (var name in new[] { "manifest.json", "device.pem", "VERIFY.txt", "SHA256SUMS" })
            Assert.True(File.Exists(Path.Combine(directory, name)), $"the export lacks {name}");
        var results = new List<(string, int, string)>();
        foreach (var line in File.ReadAllLines(Path.Combine(directory, "VERIFY.txt")))
        {
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var (code, text) = await Shell.RunAsync(directory, "sh", "-c", line);
            results.Add((line, code, text));
        }
        return results;
    }
}
