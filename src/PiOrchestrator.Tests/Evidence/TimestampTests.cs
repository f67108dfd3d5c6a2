using System.Text.Json;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Evidence;

/// <summary>RFC 3161 time stamps of each session's chain head, from a real openssl TSA, uploaded to a real s3rver.</summary>
public class TimestampTests
{
    private const string Bucket = "evidence";

    private static Dictionary<string, string?> Settings(S3Server s3, TestTsa tsa, string caFile) => new()
    {
        ["S3:Endpoint"] = s3.Endpoint,
        ["S3:Bucket"] = Bucket,
        ["S3:AccessKey"] = S3Server.AccessKey,
        ["S3:SecretKey"] = S3Server.SecretKey,
        ["S3:RetryBaseDelayMs"] = "100",
        ["Tsa:Url"] = tsa.Url,
        ["Tsa:CaFile"] = caFile,
        ["Tsa:RetryMaxSeconds"] = "1",
    };

    private static async Task<JsonElement> Data(HttpClient http, string path) =>
        (await AgentApplication.Json(await http.GetAsync(path))).GetProperty("data");

    private static async Task<JsonElement> TimestampOf(HttpClient http, string sessionId, string status) =>
        JsonDocument.Parse(await Eventually.UntilAsync(async () =>
        {
            var stamp = (await Data(http, $"/api/v1/sessions/{sessionId}")).GetProperty("timestamp");
            return stamp.GetProperty("status").GetString() == status ? stamp.GetRawText() : null;
        }, TimeSpan.FromSeconds(30), $"the session's time stamp to be {status}")).RootElement;

    [Fact]
    public async Task A_completed_session_gets_a_trusted_token_uploaded_as_chain_tsr_that_openssl_verifies()
    {
        await using var s3 = await S3Server.StartAsync();
        await using var tsa = await TestTsa.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        await using var app = new AgentApplication(camera.Url, Settings(s3, tsa, tsa.CaFile));
        using var http = app.CreateClient();
        var sessionId = await app.DoorCycleAsync();

        var stamp = await TimestampOf(http, sessionId, "ok");
        Assert.Contains("CN=Test TSA", stamp.GetProperty("tsa").GetString());
        Assert.EndsWith("Z", stamp.GetProperty("gen_time").GetString());
        var verify = await Data(http, $"/api/v1/sessions/{sessionId}/verify");
        Assert.Equal("ok", verify.GetProperty("timestamp").GetString());
        var chainHead = verify.GetProperty("chain_head").GetString()!;

        var key = $"evidence/ctr-001/{sessionId}/chain.tsr";
        await Eventually.UntilAsync(async () => (await s3.ListAsync(Bucket)).Any(o => o.Key == key), TimeSpan.FromSeconds(30), "chain.tsr in the bucket");
        using var work = new TempDirectory();
        await File.WriteAllBytesAsync(Path.Combine(work.Path, "chain.tsr"), await s3.ReadAsync(Bucket, key));
        var (exit, output) = await Shell.RunAsync(work.Path, "openssl", "ts", "-verify", "-digest", chainHead, "-in", "chain.tsr", "-CAfile", tsa.CaFile);
        Assert.True(exit == 0, output);
        Assert.Contains("Verification: OK", output);
        // Another chain head does not verify with this token.
        (exit, output) = await Shell.RunAsync(work.Path, "openssl", "ts", "-verify", "-digest", new string('0', 64), "-in", "chain.tsr", "-CAfile", tsa.CaFile);
        Assert.NotEqual(0, exit);

        // The export carries the token and its CA, and VERIFY.txt's time-stamp command passes.
        using var export = new TempDirectory();
        await File.WriteAllBytesAsync(Path.Combine(export.Path, "export.zip"), await http.GetByteArrayAsync($"/api/v1/sessions/{sessionId}/export"));
        (exit, output) = await Shell.RunAsync(export.Path, "unzip", "-q", "export.zip");
        Assert.True(exit == 0, output);
        var tsLine = Assert.Single(File.ReadAllLines(Path.Combine(export.Path, "VERIFY.txt")), l => l.StartsWith("openssl ts -verify"));
        (exit, output) = await Shell.RunAsync(export.Path, "sh", "-c", tsLine);
        Assert.True(exit == 0, output);
        Assert.Contains("Verification: OK", output);
    }

    [Fact]
    public async Task While_the_TSA_is_down_captures_go_on_and_the_stamp_waits_then_lands()
    {
        await using var s3 = await S3Server.StartAsync();
        await using var tsa = await TestTsa.StartAsync();
        tsa.Available = false;
        await using var camera = await FakeCamera.StartAsync();
        await using var app = new AgentApplication(camera.Url, Settings(s3, tsa, tsa.CaFile));
        using var http = app.CreateClient();
        var sessionId = await app.DoorCycleAsync();

        Assert.Equal("complete", (await Data(http, $"/api/v1/sessions/{sessionId}/evidence/pair")).GetProperty("pair_status").GetString());
        await Eventually.UntilAsync(() => app.Store.GetTimestamp(sessionId) is { Attempts: >= 2, LastError: not null }, TimeSpan.FromSeconds(30), "two refused attempts");
        Assert.Equal("pending", (await Data(http, $"/api/v1/sessions/{sessionId}")).GetProperty("timestamp").GetProperty("status").GetString());
        Assert.Equal("pending", (await Data(http, $"/api/v1/sessions/{sessionId}/verify")).GetProperty("timestamp").GetString());
        // A second session completes meanwhile: the TSA never holds captures up.
        var second = await app.DoorCycleAsync();

        tsa.Available = true;
        await TimestampOf(http, sessionId, "ok");
        await TimestampOf(http, second, "ok");
        Assert.Equal("ok", (await Data(http, $"/api/v1/sessions/{sessionId}/verify")).GetProperty("timestamp").GetString());
    }

    [Fact]
    public async Task A_token_from_a_TSA_the_CA_does_not_vouch_for_is_failed_and_verify_says_bad()
    {
        await using var s3 = await S3Server.StartAsync();
        await using var tsa = await TestTsa.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        await using var app = new AgentApplication(camera.Url, Settings(s3, tsa, tsa.OtherCaFile));
        using var http = app.CreateClient();
        var sessionId = await app.DoorCycleAsync();

        await TimestampOf(http, sessionId, "failed");
        Assert.Contains("not vouched for", app.Store.GetTimestamp(sessionId)!.LastError);
        var verify = await Data(http, $"/api/v1/sessions/{sessionId}/verify");
        Assert.Equal("bad", verify.GetProperty("timestamp").GetString());
        Assert.False(verify.GetProperty("ok").GetBoolean());
        // Once the session's captures have reached the bucket, the refused token has not followed them.
        await Eventually.UntilAsync(async () => (await s3.ListAsync(Bucket)).Count(o => o.Key.Contains(sessionId) && o.Key.EndsWith(".jpg")) == 2,
            TimeSpan.FromSeconds(30), "the session's captures in the bucket");
        Assert.DoesNotContain((await s3.ListAsync(Bucket)), o => o.Key.EndsWith("chain.tsr"));
    }
}
