using System.Net.Http.Json;
using System.Net.Security;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using PiOrchestrator.Evidence;
using PiOrchestrator.Store;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Upload;

/// <summary>
/// Uploads to s3rver over HTTPS (its own --key/--cert, certificates made by openssl) with S3:CaFile trusted for that
/// endpoint only: an untrusted certificate keeps every capture pending with the reason in status, and the same
/// rows upload once the CA is configured; the image proxy and presigned URLs work over https.
/// </summary>
public sealed class S3TlsTests
{
    private const string Bucket = "site-evidence";

    private static Dictionary<string, string?> Settings(S3Server s3, string dataDirectory, string? caFile) => new()
    {
        ["Storage:DataDirectory"] = dataDirectory,
        ["S3:Endpoint"] = s3.Endpoint,
        ["S3:Bucket"] = Bucket,
        ["S3:AccessKey"] = S3Server.AccessKey,
        ["S3:SecretKey"] = S3Server.SecretKey,
        ["S3:CaFile"] = caFile,
        ["S3:RetryBaseDelayMs"] = "100",
        ["S3:BreakSeconds"] = "1",
    };

    private static async Task<JsonElement> UploadStatusAsync(HttpClient http) =>
        (await AgentApplication.Json(await http.GetAsync("/api/v1/status"))).GetProperty("data").GetProperty("upload");

    private static Task<string> WaitForUploadErrorAsync(HttpClient http, string part) =>
        Eventually.UntilAsync(async () =>
        {
            var upload = await UploadStatusAsync(http);
            return upload.GetProperty("last_error").GetString() is { } error && error.Contains(part, StringComparison.Ordinal) ? error : null;
        }, TimeSpan.FromSeconds(20), $"the upload status to say '{part}'");

    [Fact]
    public async Task An_untrusted_certificate_keeps_captures_pending_until_the_site_ca_is_configured_then_they_upload()
    {
        using var certificates = await TestCertificates.CreateAsync();
        await using var s3 = await S3Server.StartHttpsAsync(certificates, certificates.ServerCert);
        await using var camera = await FakeCamera.StartAsync();
        using var data = new TempDirectory();

        string sessionId;
        await using (var untrusting = new AgentApplication(camera.Url, Settings(s3, data.Path, caFile: null)))
        {
            using var http = untrusting.CreateClient();
            sessionId = await untrusting.DoorCycleAsync();
            var error = await WaitForUploadErrorAsync(http, "TLS to https://localhost");
            Assert.Contains("its issuer 'CN=Test Site CA' is not trusted by this machine", error);
            Assert.Contains("S3:CaFile", error);
            var upload = await UploadStatusAsync(http);
            Assert.Equal(2, upload.GetProperty("queue_depth").GetInt64());
            Assert.False(upload.GetProperty("s3_reachable").GetBoolean());
            Assert.All(untrusting.Store.GetEvidenceForSession(sessionId), e => Assert.Equal(UploadStatus.Pending, e.UploadStatus));
        }
        Assert.Empty(await s3.ListAsync(Bucket).ContinueWith(t => t.IsFaulted ? [] : t.Result));

        await using var trusting = new AgentApplication(camera.Url, Settings(s3, data.Path, certificates.CaFile));
        using var client = trusting.CreateClient();
        await Eventually.UntilAsync(() => Task.FromResult(trusting.Store.PendingUploads().Count == 0), TimeSpan.FromSeconds(30), "the pending captures to upload over https");
        var rows = trusting.Store.GetEvidenceForSession(sessionId);
        Assert.All(rows, e => Assert.Equal(UploadStatus.Uploaded, e.UploadStatus));
        foreach (var row in rows)
            Assert.Equal(row.Sha256, Convert.ToHexStringLower(SHA256.HashData(await s3.ReadAsync(Bucket, row.ObjectKey!))));

        // Past the local 24 h the image proxy reads the bytes back from S3 over https.
        trusting.Time.Advance(TimeSpan.FromHours(25));
        await trusting.Services.GetRequiredService<RetentionService>().RunOnceAsync(CancellationToken.None);
        var before = rows.Single(r => r.Tag == CaptureTag.BeforeOpen);
        Assert.False(trusting.Store.GetEvidence(before.EvidenceId)!.BytesHeld);
        var bytes = await client.GetByteArrayAsync($"/api/v1/evidence/image?key={Uri.EscapeDataString(before.ObjectKey!)}");
        Assert.Equal(before.Sha256, Convert.ToHexStringLower(SHA256.HashData(bytes)));

        // A presigned URL carries https and works for a client that trusts the same CA.
        var download = (await AgentApplication.Json(await client.GetAsync($"/api/v1/evidence/{before.EvidenceId}/download"))).GetProperty("data");
        var url = download.GetProperty("url").GetString()!;
        Assert.StartsWith($"https://localhost:{s3.Port}/", url);
        var authority = new PiOrchestrator.Tls.SiteCertificateAuthority(certificates.CaFile);
        using var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, cert, chain, errors) => authority.Check(cert, chain, errors, DateTimeOffset.UtcNow) is null,
            },
        };
        using var plain = new HttpClient(handler);
        Assert.Equal(before.Sha256, Convert.ToHexStringLower(SHA256.HashData(await plain.GetByteArrayAsync(url))));
    }

    [Fact]
    public async Task A_certificate_from_another_ca_is_refused_with_the_ca_file_named_and_nothing_is_lost()
    {
        using var certificates = await TestCertificates.CreateAsync();
        await using var s3 = await S3Server.StartHttpsAsync(certificates, certificates.OtherCaServerCert);
        await using var camera = await FakeCamera.StartAsync();
        using var data = new TempDirectory();
        await using var app = new AgentApplication(camera.Url, Settings(s3, data.Path, certificates.CaFile));
        using var http = app.CreateClient();
        var sessionId = await app.DoorCycleAsync();
        var error = await WaitForUploadErrorAsync(http, $"not signed by the CA in {certificates.CaFile}");
        Assert.Contains("Some Other CA", error);
        Assert.All(app.Store.GetEvidenceForSession(sessionId), e =>
        {
            Assert.Equal(UploadStatus.Pending, e.UploadStatus);
            Assert.True(e.BytesHeld);
        });
        // The image is still served from the agent's own copy.
        var row = app.Store.GetEvidenceForSession(sessionId)[0];
        using var image = await http.GetAsync($"/api/v1/evidence/image?key={Uri.EscapeDataString(row.ObjectKey!)}");
        Assert.Equal(200, (int)image.StatusCode);
    }

    [Fact]
    public async Task An_expired_s3_certificate_is_named_as_expired()
    {
        using var certificates = await TestCertificates.CreateAsync();
        await using var s3 = await S3Server.StartHttpsAsync(certificates, certificates.ExpiredServerCert);
        await using var camera = await FakeCamera.StartAsync();
        using var data = new TempDirectory();
        await using var app = new AgentApplication(camera.Url, Settings(s3, data.Path, certificates.CaFile));
        using var http = app.CreateClient();
        await app.DoorCycleAsync();
        await WaitForUploadErrorAsync(http, "expired on 2021-01-01");
    }
}
