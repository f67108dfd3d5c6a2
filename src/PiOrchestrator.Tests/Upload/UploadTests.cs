using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Amazon.S3.Model;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using PiOrchestrator.Evidence;
using PiOrchestrator.Store;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Upload;

/// <summary>Store and forward against a real S3 server (s3rver), read back because the server verifies no checksum.</summary>
public class UploadTests
{
    private const string Bucket = "site-evidence";

    private static Dictionary<string, string?> S3Settings(S3Server s3, string accessKey = S3Server.AccessKey) => new()
    {
        ["S3:Endpoint"] = s3.Endpoint,
        ["S3:Bucket"] = Bucket,
        ["S3:AccessKey"] = accessKey,
        ["S3:SecretKey"] = S3Server.SecretKey,
        ["S3:RetryBaseDelayMs"] = "100",
        ["S3:BreakSeconds"] = "1",
    };

    /// <summary>A real S3 server, a fake camera and the agent in-process, configured to upload there.</summary>
    private sealed class Rig : IAsyncDisposable
    {
        public required S3Server S3 { get; init; }
        public required FakeCamera Camera { get; init; }
        public required AgentApplication App { get; init; }
        public required HttpClient Http { get; init; }

        public static async Task<Rig> StartAsync(Action<Dictionary<string, string?>>? configure = null, string accessKey = S3Server.AccessKey)
        {
            var s3 = await S3Server.StartAsync();
            var camera = await FakeCamera.StartAsync();
            var settings = S3Settings(s3, accessKey);
            configure?.Invoke(settings);
            var app = new AgentApplication(camera.Url, settings);
            return new Rig { S3 = s3, Camera = camera, App = app, Http = app.CreateClient() };
        }

        public async ValueTask DisposeAsync()
        {
            Http.Dispose();
            await App.DisposeAsync();
            await Camera.DisposeAsync();
            await S3.DisposeAsync();
        }
    }

    private static Task WaitUploadedAsync(AgentApplication app, int count) =>
        Eventually.UntilAsync(() => Task.FromResult(app.Store.PendingUploads().Count == 0 && UploadedRows(app).Count >= count),
            TimeSpan.FromSeconds(30), $"{count} uploaded capture(s)");

    /// <summary>Waits for the door cycle's two uploads, then moves past 24 h and runs retention: only S3 holds the bytes now.</summary>
    private static async Task UploadThenAgePastTheLocalTtlAsync(AgentApplication app)
    {
        await WaitUploadedAsync(app, 2);
        app.Time.Advance(TimeSpan.FromHours(25));
        await app.Services.GetRequiredService<RetentionService>().RunOnceAsync(CancellationToken.None);
    }

    private static List<EvidenceRecord> UploadedRows(AgentApplication app) =>
        app.Store.ListSessions(null, null, false, null, 100).Sessions
            .SelectMany(s => app.Store.GetEvidenceForSession(s.SessionId))
            .Where(e => e.UploadStatus == UploadStatus.Uploaded).ToList();

    private static async Task<JsonElement> Data(HttpClient http, string url)
    {
        using var response = await http.GetAsync(url);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(response.IsSuccessStatusCode, $"{url}: {(int)response.StatusCode} {body}");
        return body.GetProperty("data");
    }

    [Fact]
    public async Task Captures_land_at_their_object_key_with_the_same_sha256_and_metadata()
    {
        await using var rig = await Rig.StartAsync();
        var (s3, app, http) = (rig.S3, rig.App, rig.Http);
        var sessionId = await app.DoorCycleAsync();
        await WaitUploadedAsync(app, 2);

        var rows = app.Store.GetEvidenceForSession(sessionId);
        var objects = await s3.ListAsync(Bucket);
        Assert.Equal(rows.Select(r => r.ObjectKey).Order(), objects.Select(o => o.Key).Order());
        using var client = s3.Client();
        foreach (var row in rows)
        {
            var bytes = await s3.ReadAsync(Bucket, row.ObjectKey!);
            Assert.Equal(row.Sha256, Convert.ToHexStringLower(SHA256.HashData(bytes)));
            var head = await client.GetObjectMetadataAsync(Bucket, row.ObjectKey);
            Assert.Equal(row.Sha256, head.Metadata["sha256"]);
            Assert.Equal(row.EvidenceId.ToString(), head.Metadata["evidence_id"]);
            Assert.Equal(sessionId, head.Metadata["session_id"]);
            Assert.Equal("ctr-001", head.Metadata["container_id"]);
            Assert.Equal(EvidenceNames.Of(row.Tag), head.Metadata["capture_tag"]);
            Assert.Equal(row.Signature, head.Metadata["signature"]);
            Assert.Equal(row.KeyId, head.Metadata["key_id"]);
            Assert.NotNull(row.Signature);
            Assert.NotNull(row.UploadedAt);
        }
        var captures = (await Data(http, $"/api/v1/sessions/{sessionId}/evidence")).GetProperty("captures");
        Assert.All(captures.EnumerateArray(), c => Assert.Equal("uploaded", c.GetProperty("upload_status").GetString()));
        var status = await Data(http, "/api/v1/status");
        Assert.True(status.GetProperty("upload").GetProperty("s3_reachable").GetBoolean());
        Assert.Equal(0, status.GetProperty("upload").GetProperty("queue_depth").GetInt64());
    }

    [Fact]
    public async Task A_chunk_encoded_upload_would_be_caught_by_the_length_and_md5_check()
    {
        await using var s3 = await S3Server.StartAsync(S3ServerKind.Legacy);
        using var client = s3.Client();
        await client.PutBucketAsync(Bucket);
        var jpeg = TestJpegs.Make(3);
        var md5 = Convert.ToHexStringLower(MD5.HashData(jpeg));
        await client.PutObjectAsync(new PutObjectRequest
        {
            BucketName = Bucket, Key = "chunked.jpg", InputStream = new MemoryStream(jpeg), UseChunkEncoding = true,
        });
        var store = new PiOrchestrator.Upload.S3ObjectStore(Microsoft.Extensions.Options.Options.Create(new PiOrchestrator.Upload.S3Options
        {
            Endpoint = s3.Endpoint, Bucket = Bucket, AccessKey = S3Server.AccessKey, SecretKey = S3Server.SecretKey,
        }), TimeProvider.System);

        // s3rver 3.7.1 keeps the aws-chunked framing as data: the stored object is not the JPEG.
        Assert.NotEqual(jpeg, await s3.ReadAsync(Bucket, "chunked.jpg"));
        Assert.Equal(PiOrchestrator.Upload.ObjectCheck.Mismatch, await store.HeadMatchesAsync("chunked.jpg", jpeg.Length, md5, CancellationToken.None));

        // The agent's own put (no chunk encoding) stores the exact bytes on the same server.
        var row = new EvidenceRecord
        {
            EvidenceId = Guid.CreateVersion7(), SessionId = "sess-1", ContainerId = "ctr-001", DeviceId = "cam", Tag = CaptureTag.BeforeOpen,
            Status = CaptureStatus.Captured, CapturedAt = DateTimeOffset.UtcNow, CreatedAt = DateTimeOffset.UtcNow,
            Sha256 = Convert.ToHexStringLower(SHA256.HashData(jpeg)), ObjectKey = "evidence/ctr-001/sess-1/ok.jpg", ImageSizeBytes = jpeg.Length,
        };
        Assert.Equal(PiOrchestrator.Upload.ObjectCheck.Ok, (await store.PutAndVerifyAsync(row, row.ObjectKey, jpeg, CancellationToken.None)).Check);
        Assert.Equal(jpeg, await s3.ReadAsync(Bucket, row.ObjectKey));
    }

    [Fact]
    public async Task S3_down_for_a_while_then_back_drains_the_queue_with_nothing_lost()
    {
        await using var rig = await Rig.StartAsync();
        var (s3, app, http) = (rig.S3, rig.App, rig.Http);
        await app.DoorCycleAsync();
        await WaitUploadedAsync(app, 2);

        await s3.StopAsync();
        for (var i = 0; i < 3; i++) await app.DoorCycleAsync();
        await Eventually.UntilAsync(async () =>
        {
            var upload = (await Data(http, "/api/v1/status")).GetProperty("upload");
            return upload.GetProperty("last_error").ValueKind == JsonValueKind.String && !upload.GetProperty("s3_reachable").GetBoolean();
        }, TimeSpan.FromSeconds(20), "status to show S3 unreachable");
        Assert.True(app.Store.PendingUploads().Count >= 6);
        var warnings = app.Logs.At(LogLevel.Warning).Count(m => m.Contains("S3 upload failing"));
        Assert.Equal(1, warnings);

        await s3.LaunchAsync();
        await WaitUploadedAsync(app, 8);
        var objects = await s3.ListAsync(Bucket);
        Assert.Equal(8, objects.Count);
        Assert.Contains(app.Logs.At(LogLevel.Information), m => m.Contains("S3 uploads recovered"));
    }

    [Fact]
    public async Task Wrong_credentials_are_a_clear_error_and_rows_stay_pending()
    {
        await using var rig = await Rig.StartAsync(accessKey: "NOT-THE-KEY");
        var (app, http) = (rig.App, rig.Http);
        await app.DoorCycleAsync();

        var upload = await Eventually.UntilAsync(async () =>
        {
            var u = (await Data(http, "/api/v1/status")).GetProperty("upload");
            return u.GetProperty("last_error").ValueKind == JsonValueKind.String ? (JsonElement?)u : null;
        }, TimeSpan.FromSeconds(20), "the credential error in status");
        Assert.Contains("403", upload!.Value.GetProperty("last_error").GetString());
        Assert.Contains(app.Logs.At(LogLevel.Error), m => m.Contains("refuses this agent's credentials"));
        Assert.Equal(2, app.Store.PendingUploads().Count);
        Assert.Empty(UploadedRows(app));
    }

    [Fact]
    public async Task After_24_hours_uploaded_bytes_go_and_the_image_proxy_serves_them_from_S3()
    {
        await using var rig = await Rig.StartAsync();
        var (s3, app, http) = (rig.S3, rig.App, rig.Http);
        var sessionId = await app.DoorCycleAsync();
        await UploadThenAgePastTheLocalTtlAsync(app);
        // A new agent process has no memory cache: clear it so only S3 can answer.
        var cache = app.Services.GetRequiredService<ImageCache>();
        var rows = app.Store.GetEvidenceForSession(sessionId);
        Assert.All(rows, r => Assert.False(r.BytesHeld));
        Assert.All(rows, r => Assert.Null(app.Store.ReadImage(r.EvidenceId)));
        Assert.All(rows, r => Assert.False(cache.TryGet(r.ObjectKey!, out _)));

        var captures = (await Data(http, $"/api/v1/sessions/{sessionId}/evidence")).GetProperty("captures");
        Assert.All(captures.EnumerateArray(), c => Assert.False(c.TryGetProperty("image_data", out _)));
        foreach (var row in rows)
        {
            var bytes = await http.GetByteArrayAsync($"/api/v1/evidence/image?key={Uri.EscapeDataString(row.ObjectKey!)}");
            Assert.Equal(row.Sha256, Convert.ToHexStringLower(SHA256.HashData(bytes)));
        }
    }

    [Fact]
    public async Task With_no_local_copy_and_S3_unreachable_the_image_is_503_with_retry_after()
    {
        await using var rig = await Rig.StartAsync();
        var (s3, app, http) = (rig.S3, rig.App, rig.Http);
        var sessionId = await app.DoorCycleAsync();
        await UploadThenAgePastTheLocalTtlAsync(app);
        await s3.StopAsync();

        var row = app.Store.GetEvidenceForSession(sessionId)[0];
        using var response = await http.GetAsync($"/api/v1/evidence/image?key={Uri.EscapeDataString(row.ObjectKey!)}");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.NotNull(response.Headers.RetryAfter);
        Assert.Equal("service_unavailable", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task Bytes_not_uploaded_are_never_dropped()
    {
        await using var camera = await FakeCamera.StartAsync();
        await using var app = new AgentApplication(camera.Url);
        using var http = app.CreateClient();
        var sessionId = await app.DoorCycleAsync();

        app.Time.Advance(TimeSpan.FromHours(48));
        await app.Services.GetRequiredService<RetentionService>().RunOnceAsync(CancellationToken.None);

        Assert.All(app.Store.GetEvidenceForSession(sessionId), r => Assert.NotNull(app.Store.ReadImage(r.EvidenceId)));
        var captures = (await Data(http, $"/api/v1/sessions/{sessionId}/evidence")).GetProperty("captures");
        Assert.All(captures.EnumerateArray(), c => Assert.True(c.TryGetProperty("image_data", out _)));
        Assert.Contains(app.Logs.At(LogLevel.Warning), m => m.Contains("still not uploaded"));
    }

    [Fact]
    public async Task A_tampered_object_gives_502_and_is_never_served()
    {
        await using var rig = await Rig.StartAsync();
        var (s3, app, http) = (rig.S3, rig.App, rig.Http);
        var sessionId = await app.DoorCycleAsync();
        await UploadThenAgePastTheLocalTtlAsync(app);

        var row = app.Store.GetEvidenceForSession(sessionId)[0];
        using (var client = s3.Client())
            await client.PutObjectAsync(new PutObjectRequest { BucketName = Bucket, Key = row.ObjectKey, InputStream = new MemoryStream(TestJpegs.Make(99)), UseChunkEncoding = false });

        using var response = await http.GetAsync($"/api/v1/evidence/image?key={Uri.EscapeDataString(row.ObjectKey!)}");
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("integrity_mismatch", body.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains(app.Logs.At(LogLevel.Error), m => m.Contains("Integrity mismatch") && m.Contains(row.ObjectKey!));

        var verify = await Data(http, $"/api/v1/sessions/{sessionId}/verify");
        Assert.True(verify.GetProperty("chain_ok").GetBoolean());
        Assert.False(verify.GetProperty("ok").GetBoolean());
        var objects = verify.GetProperty("captures").EnumerateArray().ToDictionary(c => c.GetProperty("evidence_id").GetString()!, c => c.GetProperty("object").GetString());
        Assert.Equal("mismatch", objects[row.EvidenceId.ToString()]);
        Assert.Equal(1, objects.Values.Count(v => v == "ok"));
    }

    [Fact]
    public async Task Download_gives_a_presigned_url_that_a_plain_client_can_fetch()
    {
        await using var rig = await Rig.StartAsync();
        var (s3, app, http) = (rig.S3, rig.App, rig.Http);
        var sessionId = await app.DoorCycleAsync();
        await WaitUploadedAsync(app, 2);
        var row = app.Store.GetEvidenceForSession(sessionId)[0];

        var single = await Data(http, $"/api/v1/evidence/{row.EvidenceId}");
        Assert.Equal(row.ObjectKey, single.GetProperty("object_key").GetString());
        var download = await Data(http, $"/api/v1/evidence/{row.EvidenceId}/download");
        Assert.Equal(900, download.GetProperty("expires_in_seconds").GetInt32());
        Assert.Equal(row.Sha256, download.GetProperty("sha256").GetString());
        Assert.Equal(row.ImageSizeBytes, download.GetProperty("byte_size").GetInt64());
        Assert.Equal("image/jpeg", download.GetProperty("mime").GetString());
        Assert.Equal("snapshot", download.GetProperty("kind").GetString());
        var url = download.GetProperty("url").GetString()!;
        Assert.StartsWith("http://127.0.0.1", url);
        using var plain = new HttpClient();
        var bytes = await plain.GetByteArrayAsync(url);
        Assert.Equal(row.Sha256, Convert.ToHexStringLower(SHA256.HashData(bytes)));
    }

    [Fact]
    public async Task Download_is_409_before_upload_and_410_after_retention_purges_the_object()
    {
        await using var rig = await Rig.StartAsync(settings => settings["S3:RetentionDays"] = "1");
        var (s3, app, http) = (rig.S3, rig.App, rig.Http);
        await s3.StopAsync();
        var sessionId = await app.DoorCycleAsync();
        var row = app.Store.GetEvidenceForSession(sessionId)[0];

        using (var early = await http.GetAsync($"/api/v1/evidence/{row.EvidenceId}/download"))
        {
            Assert.Equal(HttpStatusCode.Conflict, early.StatusCode);
            Assert.Equal("evidence_not_ready", (await early.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetProperty("code").GetString());
        }
        await s3.LaunchAsync();
        await WaitUploadedAsync(app, 2);

        app.Time.Advance(TimeSpan.FromDays(2));
        await app.Services.GetRequiredService<RetentionService>().RunOnceAsync(CancellationToken.None);
        Assert.Empty(await s3.ListAsync(Bucket));
        using (var gone = await http.GetAsync($"/api/v1/evidence/{row.EvidenceId}/download"))
            Assert.Equal(HttpStatusCode.Gone, gone.StatusCode);
        using var image = await http.GetAsync($"/api/v1/evidence/image?key={Uri.EscapeDataString(row.ObjectKey!)}");
        Assert.Equal(HttpStatusCode.Gone, image.StatusCode);
        Assert.Equal("retention_expired", (await image.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetProperty("code").GetString());
        Assert.NotNull((await Data(http, $"/api/v1/evidence/{row.EvidenceId}")).GetProperty("purged_at").GetString());
    }

    [Fact]
    public async Task After_purge_an_image_once_served_from_S3_is_410_and_its_thumbnail_is_not_written_back()
    {
        await using var rig = await Rig.StartAsync(settings => settings["S3:RetentionDays"] = "2");
        var (s3, app, http) = (rig.S3, rig.App, rig.Http);
        var sessionId = await app.DoorCycleAsync();
        await UploadThenAgePastTheLocalTtlAsync(app);
        var row = app.Store.GetEvidenceForSession(sessionId)[0];
        var url = $"/api/v1/evidence/image?key={Uri.EscapeDataString(row.ObjectKey!)}";
        // Served from S3 once: now in the memory cache, with a thumbnail made from it.
        using (var full = await http.GetAsync(url)) Assert.Equal(HttpStatusCode.OK, full.StatusCode);
        using (var thumb = await http.GetAsync(url + "&size=thumb")) Assert.Equal(HttpStatusCode.OK, thumb.StatusCode);

        app.Time.Advance(TimeSpan.FromDays(2));
        await app.Services.GetRequiredService<RetentionService>().RunOnceAsync(CancellationToken.None);
        Assert.Empty(await s3.ListAsync(Bucket));

        using (var full = await http.GetAsync(url)) Assert.Equal(HttpStatusCode.Gone, full.StatusCode);
        using (var thumb = await http.GetAsync(url + "&size=thumb")) Assert.Equal(HttpStatusCode.Gone, thumb.StatusCode);
        Assert.Null(app.Store.ReadThumbnail(row.EvidenceId));
    }

    [Fact]
    public async Task Retention_skips_objects_it_cannot_delete_and_still_removes_the_sessions_it_may()
    {
        await using var rig = await Rig.StartAsync(settings =>
        {
            settings["S3:RetentionDays"] = "1";
            settings["Storage:MetadataRetentionDays"] = "1";
        });
        var (s3, app, camera) = (rig.S3, rig.App, rig.Camera);
        var uploaded = await app.DoorCycleAsync();
        await WaitUploadedAsync(app, 2);
        // A session with no object in S3 at all (both captures failed).
        camera.Mode = CameraMode.Http500;
        var failed = await app.DoorCycleAsync("ctr-002");
        camera.Mode = CameraMode.Healthy;
        await s3.StopAsync();

        app.Time.Advance(TimeSpan.FromDays(2));
        await app.Services.GetRequiredService<RetentionService>().RunOnceAsync(CancellationToken.None);

        Assert.Null(app.Store.GetSession(failed));
        // Its objects are still in the bucket: the row is what lets the next pass purge them.
        Assert.NotNull(app.Store.GetSession(uploaded));
        Assert.All(app.Store.GetEvidenceForSession(uploaded), r => Assert.Null(r.PurgedAt));
        Assert.Single(app.Logs.At(LogLevel.Warning), m => m.Contains("could not delete 2 object(s)"));

        await s3.LaunchAsync();
        await app.Services.GetRequiredService<RetentionService>().RunOnceAsync(CancellationToken.None);
        Assert.Empty(await s3.ListAsync(Bucket));
        Assert.Null(app.Store.GetSession(uploaded));
    }

    [Fact]
    public async Task Old_sessions_are_removed_after_the_metadata_retention_but_not_unuploaded_ones()
    {
        await using var rig = await Rig.StartAsync(settings => settings["Storage:MetadataRetentionDays"] = "1");
        var (s3, app) = (rig.S3, rig.App);
        var uploaded = await app.DoorCycleAsync();
        await WaitUploadedAsync(app, 2);
        await s3.StopAsync();
        var stuck = await app.DoorCycleAsync("ctr-002");

        app.Time.Advance(TimeSpan.FromDays(2));
        await app.Services.GetRequiredService<RetentionService>().RunOnceAsync(CancellationToken.None);

        Assert.Null(app.Store.GetSession(uploaded));
        Assert.NotNull(app.Store.GetSession(stuck));
        Assert.All(app.Store.GetEvidenceForSession(stuck), r => Assert.NotNull(app.Store.ReadImage(r.EvidenceId)));
    }

    [Fact]
    public async Task The_verify_endpoint_recomputes_the_chain_and_rereads_objects()
    {
        await using var rig = await Rig.StartAsync();
        var (s3, app, http) = (rig.S3, rig.App, rig.Http);
        var sessionId = await app.DoorCycleAsync();
        await WaitUploadedAsync(app, 2);

        var verify = await Data(http, $"/api/v1/sessions/{sessionId}/verify");
        Assert.True(verify.GetProperty("ok").GetBoolean());
        Assert.Equal(verify.GetProperty("chain_head").GetString(), verify.GetProperty("recomputed_chain_head").GetString());
        Assert.All(verify.GetProperty("captures").EnumerateArray(), c =>
        {
            Assert.Equal("ok", c.GetProperty("local").GetString());
            Assert.Equal("ok", c.GetProperty("object").GetString());
        });
    }
}
