using System.Net;
using System.Security.Cryptography;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.Options;
using PiOrchestrator.Store;

namespace PiOrchestrator.Upload;

/// <summary>What a read of an object found.</summary>
public enum ObjectCheck { Ok, Mismatch, Missing }

/// <summary>What a conditional put left at its key; <paramref name="Occupant"/> describes another's object found there.</summary>
public sealed record PutResult(ObjectCheck Check, string? Occupant = null);

/// <summary>A key S3 would store under another name (a dot or empty segment): never written.</summary>
public sealed class NonCanonicalKeyException(string key)
    : Exception($"object key '{Http.Validation.PrintableKey(key)}' is not canonical (an empty, '.' or '..' segment, or a character outside [A-Za-z0-9._:/-]): S3 would store it under another key, so it is not uploaded");

/// <summary>
/// The bucket, through AWSSDK.S3 with the settings MinIO and s3rver need: path-style addressing, no chunked
/// payload signing (s3rver 3 stores the chunk framing as data), our own sha256 checksum instead of the SDK's.
/// </summary>
public sealed class S3ObjectStore : IDisposable
{
    private readonly S3Options _options;
    private readonly AmazonS3Client? _client;
    private readonly S3HttpClientFactory? _http;

    public S3ObjectStore(IOptions<S3Options> options, TimeProvider time)
    {
        _options = options.Value;
        if (!_options.Configured) return;
        var config = new AmazonS3Config
        {
            ServiceURL = _options.Endpoint,
            ForcePathStyle = true,
            AuthenticationRegion = _options.Region,
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
            Timeout = TimeSpan.FromSeconds(_options.RequestTimeoutSeconds),
            // Retries are the uploader's, with its own backoff and circuit breaker.
            MaxErrorRetry = 0,
        };
        // The CA file was validated at start (S3OptionsValidator); it is trusted for this endpoint only.
        var authority = _options.Endpoint.StartsWith("https:", StringComparison.OrdinalIgnoreCase) && !string.IsNullOrEmpty(_options.CaFile)
            ? new Tls.SiteCertificateAuthority(_options.CaFile)
            : null;
        _http = new S3HttpClientFactory(authority, time);
        config.HttpClientFactory = _http;
        _client = new AmazonS3Client(new BasicAWSCredentials(_options.AccessKey, _options.SecretKey), config);
    }

    public bool Configured => _client is not null;

    public string Bucket => _options.Bucket;

    private AmazonS3Client Client => _client ?? throw new InvalidOperationException("S3:Endpoint is not configured");

    /// <summary>HeadBucket, then PutBucket if it is missing and creation is allowed.</summary>
    public async Task EnsureBucketAsync(CancellationToken ct)
    {
        try
        {
            await Client.HeadBucketAsync(new HeadBucketRequest { BucketName = _options.Bucket }, ct);
        }
        catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound && _options.CreateBucket)
        {
            await Client.PutBucketAsync(new PutBucketRequest { BucketName = _options.Bucket, UseClientRegion = true }, ct);
        }
    }

    /// <summary>
    /// Puts the bytes at <paramref name="key"/> with their sha256 (checksum and metadata), only if no object is there
    /// (<c>If-None-Match: *</c>), then reads the object's head back: the stored length and, for this single-part
    /// upload, the ETag (its MD5) must match what was sent. When an object is already there, it is ours (a retry
    /// after a lost answer) only if it holds the same bytes; anything else is named in <see cref="PutResult.Occupant"/>
    /// and left as it is.
    /// </summary>
    public async Task<PutResult> PutAndVerifyAsync(EvidenceRecord e, string key, byte[] jpeg, CancellationToken ct)
    {
        EnsureCanonical(key);
        var md5 = MD5.HashData(jpeg);
        var put = new PutObjectRequest
        {
            BucketName = _options.Bucket,
            Key = key,
            InputStream = new MemoryStream(jpeg, writable: false),
            AutoCloseStream = true,
            ContentType = e.ContentType,
            UseChunkEncoding = false,
            ChecksumSHA256 = Convert.ToBase64String(Convert.FromHexString(e.Sha256!)),
            MD5Digest = Convert.ToBase64String(md5),
            IfNoneMatch = "*",
        };
        put.Metadata["sha256"] = e.Sha256;
        put.Metadata["evidence_id"] = e.EvidenceId.ToString("D");
        put.Metadata["session_id"] = e.SessionId;
        put.Metadata["container_id"] = e.ContainerId;
        put.Metadata["capture_tag"] = EvidenceNames.Of(e.Tag);
        put.Metadata["captured_at"] = e.CapturedAt.UtcDateTime.ToString(Http.UtcDateTimeConverter.Format);
        if (e.Signature is not null)
        {
            put.Metadata["signature"] = e.Signature;
            put.Metadata["key_id"] = e.KeyId;
        }
        try
        {
            await Client.PutObjectAsync(put, ct);
        }
        catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.PreconditionFailed)
        {
            return await ExistingAsync(key, jpeg, ct);
        }
        return new PutResult(await HeadMatchesAsync(key, jpeg.Length, Convert.ToHexStringLower(md5), ct));
    }

    /// <summary>
    /// A small object beside the captures (a session's chain.tsr), checked by S3 against its sha256, never over an
    /// object already there; true when the key holds these bytes now, false when it holds something else.
    /// </summary>
    public async Task<bool> PutBytesAsync(string key, byte[] bytes, string contentType, CancellationToken ct)
    {
        EnsureCanonical(key);
        var put = new PutObjectRequest
        {
            BucketName = _options.Bucket,
            Key = key,
            InputStream = new MemoryStream(bytes, writable: false),
            AutoCloseStream = true,
            ContentType = contentType,
            UseChunkEncoding = false,
            ChecksumSHA256 = Convert.ToBase64String(SHA256.HashData(bytes)),
            MD5Digest = Convert.ToBase64String(MD5.HashData(bytes)),
            IfNoneMatch = "*",
        };
        try
        {
            await Client.PutObjectAsync(put, ct);
            return true;
        }
        catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.PreconditionFailed)
        {
            return (await ExistingAsync(key, bytes, ct)).Check == ObjectCheck.Ok;
        }
    }

    /// <summary>
    /// What is at a key a conditional put found taken: the same bytes (ours: Ok) or another object, described by its
    /// length and sha256. Only an object of our length is read, at most one byte past it.
    /// </summary>
    private async Task<PutResult> ExistingAsync(string key, byte[] ours, CancellationToken ct)
    {
        GetObjectMetadataResponse head;
        try
        {
            head = await Client.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = _options.Bucket, Key = key }, ct);
        }
        catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound)
        {
            // Deleted since the put was refused: the next attempt puts it.
            throw new UploadVerificationException($"object at {key} existed at the put and is gone now");
        }
        var claimed = head.Metadata["x-amz-meta-sha256"];
        if (head.ContentLength != ours.Length)
            return new PutResult(ObjectCheck.Mismatch, $"{head.ContentLength} bytes, sha256 {(string.IsNullOrEmpty(claimed) ? "not given" : claimed + " (as its metadata says)")}");
        var bytes = await GetAsync(key, ours.Length, ct)
                    ?? throw new UploadVerificationException($"object at {key} existed at the put and is gone now");
        if (bytes.AsSpan().SequenceEqual(ours)) return new PutResult(ObjectCheck.Ok);
        return new PutResult(ObjectCheck.Mismatch, $"{bytes.Length} bytes, sha256 {Convert.ToHexStringLower(SHA256.HashData(bytes))}");
    }

    /// <summary>Every key this agent writes is checked here: a key S3 would rewrite would land on another object.</summary>
    private static void EnsureCanonical(string key)
    {
        if (!Http.Validation.IsCanonicalKey(key)) throw new NonCanonicalKeyException(key);
    }

    public async Task<ObjectCheck> HeadMatchesAsync(string key, long length, string md5Hex, CancellationToken ct)
    {
        try
        {
            var head = await Client.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = _options.Bucket, Key = key }, ct);
            var etag = head.ETag?.Trim('"') ?? "";
            return head.ContentLength == length && string.Equals(etag, md5Hex, StringComparison.OrdinalIgnoreCase) ? ObjectCheck.Ok : ObjectCheck.Mismatch;
        }
        catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound)
        {
            return ObjectCheck.Missing;
        }
    }

    /// <summary>
    /// The object's bytes, or null when it does not exist. At most one byte more than the row's size is read: a
    /// longer object cannot be the evidence (its sha256 check fails), and a hostile or broken endpoint must not grow
    /// memory with an endless body.
    /// </summary>
    public async Task<byte[]?> GetAsync(string key, long expectedLength, CancellationToken ct)
    {
        try
        {
            using var response = await Client.GetObjectAsync(new GetObjectRequest { BucketName = _options.Bucket, Key = key }, ct);
            // Evidence JPEGs are at most a few MB: buffer them whole, because nothing may be sent before the sha256 is checked.
            var limit = (int)Math.Clamp(expectedLength + 1, 1, int.MaxValue);
            var buffer = new byte[limit];
            var read = 0;
            while (read < limit)
            {
                var n = await response.ResponseStream.ReadAsync(buffer.AsMemory(read), ct);
                if (n == 0) break;
                read += n;
            }
            return read == limit ? buffer : buffer[..read];
        }
        catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    public Task DeleteAsync(string key, CancellationToken ct)
    {
        EnsureCanonical(key);
        return Client.DeleteObjectAsync(new DeleteObjectRequest { BucketName = _options.Bucket, Key = key }, ct);
    }

    /// <summary>A presigned GET valid for <see cref="S3Options.PresignSeconds"/>, with the endpoint's own scheme.</summary>
    public string PresignGet(string key, DateTimeOffset now) =>
        Client.GetPreSignedURL(new GetPreSignedUrlRequest
        {
            BucketName = _options.Bucket,
            Key = key,
            Verb = HttpVerb.GET,
            Expires = now.AddSeconds(_options.PresignSeconds).UtcDateTime,
            Protocol = _options.Endpoint.StartsWith("https:", StringComparison.OrdinalIgnoreCase) ? Protocol.HTTPS : Protocol.HTTP,
        });

    /// <summary>Errors that no retry will fix for this object (the row becomes failed, with the reason).</summary>
    public static bool IsPermanent(Exception ex) =>
        ex is NonCanonicalKeyException or KeyCollisionException
        || ex is AmazonS3Exception { StatusCode: HttpStatusCode.Forbidden, ErrorCode: "AccessDenied" }
            or AmazonS3Exception { StatusCode: HttpStatusCode.BadRequest, ErrorCode: "InvalidArgument" or "EntityTooLarge" or "KeyTooLongError" };

    /// <summary>Credentials the server refuses: a configuration problem for the technician, rows stay pending.</summary>
    public bool IsCredentialProblem(Exception ex) =>
        !IsClockProblem(ex)
        && ex is AmazonS3Exception { ErrorCode: "InvalidAccessKeyId" or "SignatureDoesNotMatch" or "InvalidToken" or "ExpiredToken" }
            // A HEAD answer has no body, so a refused HeadBucket is a bare 403.
            or AmazonS3Exception { StatusCode: HttpStatusCode.Forbidden, ErrorCode: "Forbidden" };

    /// <summary>S3 refuses a request signed further than this from its own clock (RequestTimeTooSkewed).</summary>
    public static readonly TimeSpan SigningClockWindow = TimeSpan.FromMinutes(15);

    /// <summary>
    /// A refusal while this agent's clock is further from S3's than S3 accepts (a Pi booted without NTP): the clock,
    /// not the credentials. AWSSDK signs the next attempt with the server's time, so it passes.
    /// </summary>
    public bool IsClockProblem(Exception ex) =>
        ex is AmazonS3Exception { StatusCode: HttpStatusCode.Forbidden } && _http?.ServerClockOffset is { } offset && offset.Duration() > SigningClockWindow;

    /// <summary>The failure in words; a rejected certificate says why it was rejected.</summary>
    public string Describe(Exception ex)
    {
        for (var inner = ex; inner is not null; inner = inner.InnerException)
        {
            if (inner is System.Security.Authentication.AuthenticationException tls)
                return $"TLS to {_options.Endpoint} failed: {_http?.LastProblem ?? tls.Message}"
                       + (string.IsNullOrEmpty(_options.CaFile) ? " (a private MinIO needs S3:CaFile, its CA's certificate)" : "");
        }
        if (IsClockProblem(ex) && _http?.ServerClockOffset is { } offset)
            return $"S3 refused the request: this agent's clock is {TimeSpan.FromMinutes(Math.Round(offset.Duration().TotalMinutes))} " +
                   $"{(offset > TimeSpan.Zero ? "behind" : "ahead of")} S3's, which refuses requests signed more than " +
                   $"{SigningClockWindow.TotalMinutes:F0} minutes off (the next attempt is signed with S3's time; NTP should set the clock; " +
                   "a refusal that outlasts that is the credentials: check S3:AccessKey and S3:SecretKey)";
        return DescribeResponse(ex);
    }

    private static string DescribeResponse(Exception ex) => ex switch
    {
        AmazonS3Exception { StatusCode: HttpStatusCode.Forbidden, ErrorCode: "Forbidden" } =>
            "403 Forbidden: the server refused the request (wrong S3:AccessKey/S3:SecretKey, or no access to the bucket)",
        AmazonS3Exception s3 => $"{(int)s3.StatusCode} {s3.ErrorCode}: {s3.Message}",
        AmazonServiceException service when service.InnerException is HttpRequestException http => http.Message,
        HttpRequestException http => http.Message,
        _ => ex.Message,
    };

    public void Dispose() => _client?.Dispose();
}
