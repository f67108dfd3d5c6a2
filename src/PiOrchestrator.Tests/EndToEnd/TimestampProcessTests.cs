using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using PiOrchestrator.Tests.Fixtures;
using Xunit.Abstractions;

namespace PiOrchestrator.Tests.EndToEnd;

/// <summary>The time-stamp queue and its settings in the agent as a process (native in the native run).</summary>
[Trait("Agent", "Process")]
public class TimestampProcessTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_stamp_queued_while_the_TSA_is_down_survives_a_restart_and_lands_when_it_is_back()
    {
        using var data = new TempDirectory();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        await using var tsa = await TestTsa.StartAsync();
        tsa.Available = false;
        var environment = new Dictionary<string, string>
        {
            ["PIORCH_Storage__DataDirectory"] = data.Path,
            ["PIORCH_Mqtt__Host"] = "127.0.0.1",
            ["PIORCH_Mqtt__Port"] = broker.Port.ToString(),
            ["PIORCH_Mqtt__ClientId"] = "piorch-tsa-" + Guid.NewGuid().ToString("N")[..8],
            ["PIORCH_Capture__AfterCloseDelayMs"] = "50",
            ["PIORCH_Containers__0__Id"] = "ctr-001",
            ["PIORCH_Containers__0__CameraId"] = "espcam-a1b2c3",
            ["PIORCH_Containers__0__CameraUrl"] = camera.Url,
            ["PIORCH_Tsa__Url"] = tsa.Url,
            ["PIORCH_Tsa__CaFile"] = tsa.CaFile,
            ["PIORCH_Tsa__RetryMaxSeconds"] = "1",
        };
        var port = TestPorts.Free();
        string sessionId;
        await using (var first = AgentProcess.Start(environment, port))
        {
            await first.WaitReadyAsync();
            await first.WaitForOutputAsync("MQTT connected");
            await broker.PublishAsync("containers/ctr-001/door", "opened");
            await broker.PublishAsync("containers/ctr-001/door", "closed");
            sessionId = (await Eventually.UntilAsync(async () =>
                (await first.GetDataAsync("/api/v1/sessions?status=complete")).GetProperty("sessions").EnumerateArray()
                    .Select(s => s.GetProperty("id").GetString()).FirstOrDefault(), TimeSpan.FromSeconds(20), "a door cycle"))!;
            await first.WaitForOutputAsync("postponed");
            Assert.Equal("pending", (await first.GetDataAsync($"/api/v1/sessions/{sessionId}")).GetProperty("timestamp").GetProperty("status").GetString());
            Assert.Equal(0, await first.StopAsync());
        }

        tsa.Available = true;
        await using var second = AgentProcess.Start(environment, port);
        await second.WaitReadyAsync();
        await Eventually.UntilAsync(async () =>
            (await second.GetDataAsync($"/api/v1/sessions/{sessionId}")).GetProperty("timestamp").GetProperty("status").GetString() == "ok",
            TimeSpan.FromSeconds(30), "the queued stamp to land after the restart");
        Assert.Equal("ok", (await second.GetDataAsync($"/api/v1/sessions/{sessionId}/verify")).GetProperty("timestamp").GetString());
    }

    [Fact]
    public async Task A_TSA_url_without_its_CA_stops_the_agent_with_a_configuration_error()
    {
        using var data = new TempDirectory();
        await using var agent = AgentProcess.Start(new Dictionary<string, string>
        {
            ["PIORCH_Storage__DataDirectory"] = data.Path,
            ["PIORCH_Mqtt__Enabled"] = "false",
            ["PIORCH_Tsa__Url"] = "ftp://tsa.example",
        });
        Assert.Equal(78, await agent.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        var lines = agent.Output.Split('\n').Where(l => l.Contains("configuration error")).ToList();
        Assert.Contains(lines, l => l.Contains("Tsa:Url 'ftp://tsa.example'"));
        Assert.Contains(lines, l => l.Contains("Tsa:CaFile must be set"));
    }

    /// <summary>Peak resident memory a Pi can afford for the whole agent while a TSA is hostile.</summary>

    private static Dictionary<string, string> TsaOnly(string data, FakeCamera camera, TestTsa tsa, string caFile) => new()
    {
        ["PIORCH_Storage__DataDirectory"] = data,
        ["PIORCH_Mqtt__Enabled"] = "false",
        ["PIORCH_Capture__FlushFrames"] = "0",
        ["PIORCH_Containers__0__Id"] = "ctr-001",
        ["PIORCH_Containers__0__CameraId"] = "espcam-a1b2c3",
        ["PIORCH_Containers__0__CameraUrl"] = camera.Url,
        ["PIORCH_Tsa__Url"] = tsa.Url,
        ["PIORCH_Tsa__CaFile"] = caFile,
        ["PIORCH_Tsa__RetryMaxSeconds"] = "1",
    };

    /// <summary>A test capture: a session of its own, complete at once, whose chain head is queued for a stamp.</summary>
    private static async Task<string> CaptureSessionAsync(AgentProcess agent)
    {
        using var response = await agent.Http.PostAsync("/api/v1/containers/ctr-001/captures", null);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("data").GetProperty("session_id").GetString()!;
    }

    private static async Task<JsonElement> StampOf(AgentProcess agent, string sessionId) =>
        (await agent.GetDataAsync($"/api/v1/sessions/{sessionId}")).GetProperty("timestamp");

    /// <summary>
    /// The stored row, read as an auditor would: the reply and token columns' sizes and the last error; null until the
    /// session is queued (just after it completes).
    /// </summary>
    private static (long? Reply, long? Token, string? LastError, int Attempts)? StoredStamp(string data, string sessionId)
    {
        using var db = new SqliteConnection($"Data Source={Path.Combine(data, "evidence.db")};Mode=ReadOnly;Pooling=False");
        db.Open();
        using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT length(reply), length(token), last_error, attempts FROM session_timestamps WHERE session_id = $id";
        cmd.Parameters.AddWithValue("$id", sessionId);
        using var r = cmd.ExecuteReader();
        if (!r.Read()) return null;
        return (r.IsDBNull(0) ? null : r.GetInt64(0), r.IsDBNull(1) ? null : r.GetInt64(1), r.IsDBNull(2) ? null : r.GetString(2), r.GetInt32(3));
    }

    [Fact]
    public async Task A_TSA_answering_a_gigabyte_of_zeros_is_read_to_64_KiB_refused_and_retried_and_nothing_is_stored()
    {
        using var data = new TempDirectory();
        await using var camera = await FakeCamera.StartAsync();
        await using var tsa = await TestTsa.StartAsync();
        tsa.Mode = TsaReplyMode.Zeros;
        tsa.HostileBytes = 1L << 30;
        await using var agent = AgentProcess.Start(TsaOnly(data.Path, camera, tsa, tsa.CaFile));
        await agent.WaitReadyAsync();
        var cpuBefore = ProcFs.CpuTime(agent.ProcessId);
        var sessionId = await CaptureSessionAsync(agent);

        // Refused, then asked again (the retry meets the same TSA): the stamp stays pending and nothing of it is kept.
        await Eventually.UntilAsync(() => tsa.Answered >= 3, TimeSpan.FromSeconds(60), "three answers from the hostile TSA");
        await agent.WaitForOutputAsync("TSA reply refused: longer than 64 KiB");
        await Eventually.UntilAsync(() => StoredStamp(data.Path, sessionId)?.Attempts >= 3, TimeSpan.FromSeconds(30), "three refusals recorded");
        var stored = StoredStamp(data.Path, sessionId)!.Value;
        Assert.Null(stored.Reply);
        Assert.Null(stored.Token);
        Assert.Contains("longer than 64 KiB", stored.LastError);
        Assert.Equal("pending", (await StampOf(agent, sessionId)).GetProperty("status").GetString());
        Assert.Equal("pending", (await agent.GetDataAsync($"/api/v1/sessions/{sessionId}/verify")).GetProperty("timestamp").GetString());

        var peak = ProcFs.PeakRssBytes(agent.ProcessId);
        var cpu = ProcFs.CpuTime(agent.ProcessId) - cpuBefore;
        var database = new DirectoryInfo(data.Path).GetFiles("evidence.db*").Sum(f => f.Length);
        output.WriteLine($"hostile TSA, {tsa.Answered} answers of up to 1 GiB of zeros: agent took {tsa.HostileBytesSent / 1024} KiB in all; " +
                         $"VmHWM {peak / 1024 / 1024} MB, CPU {cpu.TotalSeconds:F2} s, evidence.db with WAL {database / 1024} KiB");
        Assert.True(peak < ProcFs.PeakRssLimitBytes, $"peak RSS {peak / 1024 / 1024} MB");
        Assert.True(cpu < TimeSpan.FromSeconds(10), $"CPU time {cpu.TotalSeconds:F1} s");
        // Before the cap a whole gigabyte was read per attempt; now a few socket buffers' worth at most.
        Assert.True(tsa.HostileBytesSent < tsa.Answered * 16L * 1024 * 1024, $"{tsa.HostileBytesSent} bytes taken from {tsa.Answered} answers");
        Assert.True(database < 16 * 1024 * 1024, $"evidence.db {database} bytes");

        // When the TSA behaves again, the same stamp lands.
        tsa.Mode = TsaReplyMode.Valid;
        await Eventually.UntilAsync(async () => (await StampOf(agent, sessionId)).GetProperty("status").GetString() == "ok",
            TimeSpan.FromSeconds(30), "the stamp to land once the TSA behaves");
        Assert.InRange(StoredStamp(data.Path, sessionId)?.Reply ?? 0, 1, 64 * 1024);
    }

    [Fact]
    public async Task A_valid_token_followed_by_junk_is_refused_and_nothing_of_it_is_stored()
    {
        using var data = new TempDirectory();
        await using var camera = await FakeCamera.StartAsync();
        await using var tsa = await TestTsa.StartAsync();
        tsa.Mode = TsaReplyMode.ValidThenJunk;
        tsa.HostileBytes = 100;
        await using var agent = AgentProcess.Start(TsaOnly(data.Path, camera, tsa, tsa.CaFile));
        await agent.WaitReadyAsync();
        var sessionId = await CaptureSessionAsync(agent);

        // A little junk, within the cap: refused for what follows the reply.
        await Eventually.UntilAsync(() => StoredStamp(data.Path, sessionId)?.LastError?.Contains("100 bytes follow the time-stamp reply") == true,
            TimeSpan.FromSeconds(30), "the reply with junk refused");
        var (reply, token, _, _) = StoredStamp(data.Path, sessionId)!.Value;
        Assert.Null(reply);
        Assert.Null(token);
        Assert.Equal("pending", (await StampOf(agent, sessionId)).GetProperty("status").GetString());

        // 200 MiB of junk after a valid token: refused at the cap, read no further.
        tsa.HostileBytes = 200L * 1024 * 1024;
        await Eventually.UntilAsync(() => StoredStamp(data.Path, sessionId)?.LastError?.Contains("longer than 64 KiB") == true,
            TimeSpan.FromSeconds(30), "the reply with 200 MiB of junk refused");
        (reply, token, _, _) = StoredStamp(data.Path, sessionId)!.Value;
        Assert.Null(reply);
        Assert.Null(token);
        Assert.Equal("pending", (await StampOf(agent, sessionId)).GetProperty("status").GetString());
        Assert.Equal("pending", (await agent.GetDataAsync($"/api/v1/sessions/{sessionId}/verify")).GetProperty("timestamp").GetString());
        var peak = ProcFs.PeakRssBytes(agent.ProcessId);
        output.WriteLine($"valid token + junk: agent took {tsa.HostileBytesSent / 1024} KiB of junk over {tsa.Answered} answers; VmHWM {peak / 1024 / 1024} MB");
        Assert.True(peak < ProcFs.PeakRssLimitBytes, $"peak RSS {peak / 1024 / 1024} MB");

        tsa.Mode = TsaReplyMode.Valid;
        await Eventually.UntilAsync(async () => (await StampOf(agent, sessionId)).GetProperty("status").GetString() == "ok",
            TimeSpan.FromSeconds(30), "the stamp to land once the TSA behaves");
    }

    [Fact]
    public async Task Old_stamps_keep_the_CA_they_were_checked_against_when_Tsa_CaFile_changes()
    {
        using var data = new TempDirectory();
        await using var camera = await FakeCamera.StartAsync();
        await using var tsa = await TestTsa.StartAsync();
        var caSha = Convert.ToHexStringLower(SHA256.HashData(X509CertificateLoader.LoadCertificateFromFile(tsa.CaFile).RawData));
        var otherSha = Convert.ToHexStringLower(SHA256.HashData(X509CertificateLoader.LoadCertificateFromFile(tsa.OtherCaFile).RawData));
        var caDisplay = string.Join(':', Convert.ToHexString(Convert.FromHexString(caSha)).Chunk(2).Select(c => new string(c)));
        var port = TestPorts.Free();
        string sessionId;
        await using (var first = AgentProcess.Start(TsaOnly(data.Path, camera, tsa, tsa.CaFile), port))
        {
            await first.WaitReadyAsync();
            sessionId = await CaptureSessionAsync(first);
            await Eventually.UntilAsync(async () => (await StampOf(first, sessionId)).GetProperty("status").GetString() == "ok",
                TimeSpan.FromSeconds(30), "the stamp");
            Assert.Equal(caSha, (await StampOf(first, sessionId)).GetProperty("ca_sha256").GetString());
            Assert.Equal(0, await first.StopAsync());
        }

        // The site points Tsa:CaFile at another CA (a new TSA, or someone with root on the Pi).
        await using var second = AgentProcess.Start(TsaOnly(data.Path, camera, tsa, tsa.OtherCaFile), port);
        await second.WaitReadyAsync();
        var stamp = await StampOf(second, sessionId);
        Assert.Equal("ok", stamp.GetProperty("status").GetString());
        Assert.Equal(caSha, stamp.GetProperty("ca_sha256").GetString());
        var verify = await second.GetDataAsync($"/api/v1/sessions/{sessionId}/verify");
        Assert.Equal("ok", verify.GetProperty("timestamp").GetString());
        Assert.True(verify.GetProperty("ok").GetBoolean(), verify.GetRawText());

        // The export carries the CA and chain of stamping time, prints that CA's fingerprint, and its commands pass.
        using var export = new TempDirectory();
        await File.WriteAllBytesAsync(Path.Combine(export.Path, "export.zip"), await second.Http.GetByteArrayAsync($"/api/v1/sessions/{sessionId}/export"));
        var (exit, text) = await Shell.RunAsync(export.Path, "unzip", "-q", "export.zip");
        Assert.True(exit == 0, text);
        Assert.Equal(await File.ReadAllTextAsync(tsa.CaFile), await File.ReadAllTextAsync(Path.Combine(export.Path, "tsa-ca.pem")));
        Assert.Contains("CN=Test TSA", (await Shell.RunAsync(export.Path, "openssl", "x509", "-in", "tsa-chain.pem", "-noout", "-subject")).Output.Replace(" = ", "="));
        var verifyText = await File.ReadAllTextAsync(Path.Combine(export.Path, "VERIFY.txt"));
        Assert.Contains(caDisplay, verifyText);
        Assert.Contains("Compare it with the CA fingerprint the TSA publishes", verifyText);
        var fingerprint = Assert.Single(verifyText.Split('\n'), l => l.StartsWith("openssl x509"));
        (exit, text) = await Shell.RunAsync(export.Path, "sh", "-c", fingerprint);
        Assert.True(exit == 0, text);
        Assert.Contains(caDisplay, text);
        var tsVerify = Assert.Single(verifyText.Split('\n'), l => l.StartsWith("openssl ts -verify"));
        (exit, text) = await Shell.RunAsync(export.Path, "sh", "-c", tsVerify);
        Assert.True(exit == 0, text);
        Assert.Contains("Verification: OK", text);

        // A stamp taken under the new CA, which does not vouch for this TSA: failed in /sessions, bad in /verify.
        var later = await CaptureSessionAsync(second);
        await Eventually.UntilAsync(async () => (await StampOf(second, later)).GetProperty("status").GetString() == "failed",
            TimeSpan.FromSeconds(30), "the stamp under the other CA refused");
        Assert.Equal(otherSha, (await StampOf(second, later)).GetProperty("ca_sha256").GetString());
        Assert.Equal("bad", (await second.GetDataAsync($"/api/v1/sessions/{later}/verify")).GetProperty("timestamp").GetString());
        output.WriteLine($"stamped under CA {caSha[..16]}…, verified after Tsa:CaFile changed to {otherSha[..16]}…: /sessions ok, /verify ok; VERIFY.txt prints {caDisplay[..23]}…");
    }

    [Fact]
    public async Task A_stamp_stored_before_its_CA_was_kept_is_anchored_to_the_configured_CA_at_the_next_start()
    {
        using var data = new TempDirectory();
        await using var camera = await FakeCamera.StartAsync();
        await using var tsa = await TestTsa.StartAsync();
        var caSha = Convert.ToHexStringLower(SHA256.HashData(X509CertificateLoader.LoadCertificateFromFile(tsa.CaFile).RawData));
        var port = TestPorts.Free();
        string sessionId;
        await using (var first = AgentProcess.Start(TsaOnly(data.Path, camera, tsa, tsa.CaFile), port))
        {
            await first.WaitReadyAsync();
            sessionId = await CaptureSessionAsync(first);
            await Eventually.UntilAsync(async () => (await StampOf(first, sessionId)).GetProperty("status").GetString() == "ok",
                TimeSpan.FromSeconds(30), "the stamp");
            Assert.Equal(0, await first.StopAsync());
        }
        // As a database written before the trust material was kept.
        using (var db = new SqliteConnection($"Data Source={Path.Combine(data.Path, "evidence.db")};Pooling=False"))
        {
            db.Open();
            using var cmd = db.CreateCommand();
            cmd.CommandText = "UPDATE session_timestamps SET tsa_chain_pem = NULL, tsa_ca_pem = NULL, tsa_ca_sha256 = NULL";
            Assert.Equal(1, cmd.ExecuteNonQuery());
        }

        await using var second = AgentProcess.Start(TsaOnly(data.Path, camera, tsa, tsa.CaFile), port);
        await second.WaitReadyAsync();
        await Eventually.UntilAsync(async () => (await StampOf(second, sessionId)).GetProperty("ca_sha256").GetString() == caSha,
            TimeSpan.FromSeconds(30), "the old stamp anchored to the configured CA");
        Assert.Equal("ok", (await StampOf(second, sessionId)).GetProperty("status").GetString());
        Assert.Equal("ok", (await second.GetDataAsync($"/api/v1/sessions/{sessionId}/verify")).GetProperty("timestamp").GetString());
        Assert.Equal(1, tsa.Answered);
    }
}
