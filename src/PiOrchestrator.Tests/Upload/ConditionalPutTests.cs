using System.Net;
using System.Security.Cryptography;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.DependencyInjection;
using PiOrchestrator.Evidence;
using PiOrchestrator.Store;
using PiOrchestrator.Tests.Fixtures;
using PiOrchestrator.Upload;

namespace PiOrchestrator.Tests.Upload;

/// <summary>Puts never replace an object the agent did not write (If-None-Match: *), against the patched s3rver.</summary>
public class ConditionalPutTests
{
    private const string Bucket = "evidence";

    private static S3ObjectStore Store(S3Server s3) => new(Microsoft.Extensions.Options.Options.Create(new S3Options
    {
        Endpoint = s3.Endpoint, Bucket = Bucket, AccessKey = S3Server.AccessKey, SecretKey = S3Server.SecretKey,
    }), TimeProvider.System);

    private static EvidenceRecord Row(byte[] jpeg, string key) => new()
    {
        EvidenceId = Guid.CreateVersion7(), SessionId = "sess-1", ContainerId = "ctr-001", DeviceId = "cam", Tag = CaptureTag.BeforeOpen,
        Status = CaptureStatus.Captured, CapturedAt = DateTimeOffset.UtcNow, CreatedAt = DateTimeOffset.UtcNow,
        Sha256 = Convert.ToHexStringLower(SHA256.HashData(jpeg)), ObjectKey = key, ImageSizeBytes = jpeg.Length,
    };

    [Fact]
    public async Task The_test_server_refuses_a_put_over_an_existing_key_with_412_as_S3_does()
    {
        await using var s3 = await S3Server.StartAsync();
        using var client = s3.Client();
        await client.PutBucketAsync(Bucket);
        await client.PutObjectAsync(new PutObjectRequest { BucketName = Bucket, Key = "k.jpg", ContentBody = "first", IfNoneMatch = "*" });
        var refused = await Assert.ThrowsAsync<AmazonS3Exception>(() =>
            client.PutObjectAsync(new PutObjectRequest { BucketName = Bucket, Key = "k.jpg", ContentBody = "second", IfNoneMatch = "*" }));
        Assert.Equal(HttpStatusCode.PreconditionFailed, refused.StatusCode);
        Assert.Equal("PreconditionFailed", refused.ErrorCode);
        Assert.Equal("first"u8.ToArray(), await s3.ReadAsync(Bucket, "k.jpg"));
    }

    [Fact]
    public async Task The_test_server_stores_nothing_of_a_put_cut_short_as_S3_does()
    {
        // An agent killed mid-upload: S3 keeps no part of the body, so the retry's conditional put finds the key free.
        await using var s3 = await S3Server.StartAsync();
        using var client = s3.Client();
        await client.PutBucketAsync(Bucket);
        var request = new PutObjectRequest { BucketName = Bucket, Key = "cut.jpg", InputStream = new CutShortStream(TestJpegs.Make(1), 4096) };
        request.Headers.ContentLength = TestJpegs.Make(1).Length;
        await Assert.ThrowsAnyAsync<Exception>(() => client.PutObjectAsync(request));

        var listed = await client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = Bucket });
        Assert.Empty(listed.S3Objects ?? []);
        await client.PutObjectAsync(new PutObjectRequest { BucketName = Bucket, Key = "cut.jpg", ContentBody = "whole", IfNoneMatch = "*" });
        Assert.Equal("whole"u8.ToArray(), await s3.ReadAsync(Bucket, "cut.jpg"));
    }

    /// <summary>A body that breaks after <paramref name="cutAt"/> bytes, as a process killed mid-upload leaves it.</summary>
    private sealed class CutShortStream(byte[] bytes, int cutAt) : Stream
    {
        private int _position;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => bytes.Length;
        public override long Position { get => _position; set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_position >= cutAt) throw new IOException("the uploading process was killed");
            var n = Math.Min(count, cutAt - _position);
            Array.Copy(bytes, _position, buffer, offset, n);
            _position += n;
            return n;
        }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    [Fact]
    public async Task The_same_bytes_at_the_key_are_ours_anything_else_is_named_and_left_alone()
    {
        await using var s3 = await S3Server.StartAsync();
        using var client = s3.Client();
        await client.PutBucketAsync(Bucket);
        using var store = Store(s3);
        var jpeg = TestJpegs.Make(1);
        var row = Row(jpeg, "evidence/ctr-001/sess-1/BEFORE_OPEN_20260220T100005_01234567.jpg");

        Assert.Equal(new PutResult(ObjectCheck.Ok), await store.PutAndVerifyAsync(row, row.ObjectKey!, jpeg, CancellationToken.None));
        // A retry whose first answer was lost: the object is there with our bytes.
        Assert.Equal(new PutResult(ObjectCheck.Ok), await store.PutAndVerifyAsync(row, row.ObjectKey!, jpeg, CancellationToken.None));

        // Another writer's object, of another length and of the same length.
        var other = TestJpegs.Make(2, 640, 480);
        var sameLength = (byte[])jpeg.Clone();
        sameLength[^3] ^= 0x55;
        foreach (var (key, foreign) in new[] { ("evidence/a.jpg", other), ("evidence/b.jpg", sameLength) })
        {
            await client.PutObjectAsync(new PutObjectRequest { BucketName = Bucket, Key = key, InputStream = new MemoryStream(foreign) });
            var result = await store.PutAndVerifyAsync(row, key, jpeg, CancellationToken.None);
            Assert.Equal(ObjectCheck.Mismatch, result.Check);
            Assert.Contains($"{foreign.Length} bytes", result.Occupant);
            Assert.Equal(foreign, await s3.ReadAsync(Bucket, key));
        }
        Assert.Contains(Convert.ToHexStringLower(SHA256.HashData(sameLength)), (await store.PutAndVerifyAsync(row, "evidence/b.jpg", jpeg, CancellationToken.None)).Occupant);

        // Small objects (chain.tsr) follow the same rule.
        Assert.True(await store.PutBytesAsync("evidence/t.tsr", [1, 2, 3], "application/timestamp-reply", CancellationToken.None));
        Assert.True(await store.PutBytesAsync("evidence/t.tsr", [1, 2, 3], "application/timestamp-reply", CancellationToken.None));
        Assert.False(await store.PutBytesAsync("evidence/t.tsr", [1, 2, 4], "application/timestamp-reply", CancellationToken.None));
        Assert.Equal(new byte[] { 1, 2, 3 }, await s3.ReadAsync(Bucket, "evidence/t.tsr"));
    }

    [Theory]
    [InlineData("evidence/ctr-001/../BEFORE_OPEN_x.jpg")]
    [InlineData("evidence/ctr-001/./x.jpg")]
    [InlineData("evidence//x.jpg")]
    public async Task A_key_S3_would_rewrite_is_never_sent(string key)
    {
        // No server at all: the refusal comes before any request.
        using var store = new S3ObjectStore(Microsoft.Extensions.Options.Options.Create(new S3Options
        {
            Endpoint = $"http://127.0.0.1:{TestPorts.Free()}", Bucket = Bucket, AccessKey = "a", SecretKey = "b",
        }), TimeProvider.System);
        var jpeg = TestJpegs.Make(3);
        var ex = await Assert.ThrowsAsync<NonCanonicalKeyException>(() => store.PutAndVerifyAsync(Row(jpeg, key), key, jpeg, CancellationToken.None));
        Assert.True(S3ObjectStore.IsPermanent(ex));
        await Assert.ThrowsAsync<NonCanonicalKeyException>(() => store.PutBytesAsync(key, [1], "application/octet-stream", CancellationToken.None));
    }

    [Fact]
    public async Task Rows_an_older_version_stored_under_dot_keys_are_neither_uploaded_nor_deleted_over_another_object()
    {
        await using var s3 = await S3Server.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        using var client = s3.Client();
        await client.PutBucketAsync(Bucket);
        // Where S3 puts evidence/ctr-001/../X.jpg: another session's objects may be there.
        var foreign = TestJpegs.Make(7);
        foreach (var name in new[] { "evidence/BEFORE_OPEN_legacy.jpg", "evidence/AFTER_CLOSE_legacy.jpg" })
            await client.PutObjectAsync(new PutObjectRequest { BucketName = Bucket, Key = name, InputStream = new MemoryStream(foreign) });
        await using var app = new AgentApplication(camera.Url, new Dictionary<string, string?>
        {
            ["S3:Endpoint"] = s3.Endpoint, ["S3:Bucket"] = Bucket, ["S3:AccessKey"] = S3Server.AccessKey, ["S3:SecretKey"] = S3Server.SecretKey,
            ["S3:RetryBaseDelayMs"] = "100", ["S3:BreakSeconds"] = "1", ["S3:RetentionDays"] = "1",
        });
        using var http = app.CreateClient();
        var jpeg = TestJpegs.Make(8);
        var now = app.Time.GetUtcNow();
        var pending = app.Store.SaveEvidence(Row(jpeg, "evidence/ctr-001/../BEFORE_OPEN_legacy.jpg") with
        {
            SessionId = "..", CapturedAt = now, CreatedAt = now, BytesHeld = true,
        }, jpeg);
        var uploaded = app.Store.SaveEvidence(Row(jpeg, "evidence/ctr-001/../AFTER_CLOSE_legacy.jpg") with
        {
            SessionId = "..", Tag = CaptureTag.AfterClose, CapturedAt = now, CreatedAt = now, UploadStatus = UploadStatus.Uploaded,
        }, []);

        await Eventually.UntilAsync(() => Task.FromResult(app.Store.GetEvidence(pending.EvidenceId)!.UploadStatus == UploadStatus.Failed),
            TimeSpan.FromSeconds(30), "the upload of the dot key to be refused");
        Assert.Contains("not canonical", app.Store.GetEvidence(pending.EvidenceId)!.UploadError);

        app.Time.Advance(TimeSpan.FromDays(2));
        await app.Services.GetRequiredService<RetentionService>().RunOnceAsync(CancellationToken.None);
        Assert.NotNull(app.Store.GetEvidence(uploaded.EvidenceId)!.PurgedAt);
        Assert.Equal(foreign, await s3.ReadAsync(Bucket, "evidence/BEFORE_OPEN_legacy.jpg"));
        Assert.Equal(foreign, await s3.ReadAsync(Bucket, "evidence/AFTER_CLOSE_legacy.jpg"));
        Assert.Equal(2, (await s3.ListAsync(Bucket)).Count);
        // The photo never uploaded stays on the agent.
        Assert.Equal(jpeg, app.Store.ReadImage(pending.EvidenceId));
    }

    [Fact]
    public void A_collision_moves_the_capture_to_keys_of_its_own_then_stops()
    {
        var jpeg = TestJpegs.Make(4);
        var id = Guid.CreateVersion7();
        var at = new DateTimeOffset(2026, 2, 20, 10, 0, 5, TimeSpan.Zero);
        var row = Row(jpeg, EvidenceRecord.ObjectKeyFor("ctr-001", "sess-1", CaptureTag.BeforeOpen, at, id)) with { EvidenceId = id, CapturedAt = at };
        var first = row.NextKeyAfterCollision();
        Assert.Equal($"evidence/ctr-001/sess-1/BEFORE_OPEN_20260220T100005_{id:N}.jpg", first);
        var second = (row with { ObjectKey = first }).NextKeyAfterCollision();
        Assert.Equal($"evidence/ctr-001/sess-1/BEFORE_OPEN_20260220T100005_{id:N}_{row.Sha256![..16]}.jpg", second);
        Assert.Null((row with { ObjectKey = second }).NextKeyAfterCollision());
        // The same row always arrives at the same keys (a retry after a crash finds its own object).
        Assert.Equal(first, row.NextKeyAfterCollision());
        Assert.True(PiOrchestrator.Http.Validation.IsCanonicalKey(first) && PiOrchestrator.Http.Validation.IsCanonicalKey(second));
    }
}
