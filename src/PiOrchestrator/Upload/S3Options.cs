using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace PiOrchestrator.Upload;

public sealed class S3Options
{
    /// <summary>MinIO / S3 endpoint (http://minio.lan:9000). Empty: nothing is uploaded and bytes stay local.</summary>
    public string Endpoint { get; set; } = "";

    [RegularExpression("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", ErrorMessage = "must be a valid S3 bucket name (3-63 of a-z 0-9 . -)")]
    public string Bucket { get; set; } = "evidence";

    /// <summary>PEM file of the site CA that signed an https endpoint's certificate; trusted for this endpoint only.</summary>
    public string? CaFile { get; set; }

    public string AccessKey { get; set; } = "";

    /// <summary>Prefer the systemd credential <c>s3-secret-key</c> (see README) to keeping it in a file under /etc.</summary>
    public string SecretKey { get; set; } = "";

    public string Region { get; set; } = "us-east-1";

    /// <summary>Create the bucket when HeadBucket says it does not exist.</summary>
    public bool CreateBucket { get; set; } = true;

    /// <summary>
    /// Objects older than this are deleted and their rows marked purged. Empty: never. Fractions allowed (short values
    /// for tests and soak runs).
    /// </summary>
    [Range(0.00001, 36500)]
    public double? RetentionDays { get; set; }

    [Range(1, 16)]
    public int ParallelUploads { get; set; } = 2;

    [Range(1, 600)]
    public int RequestTimeoutSeconds { get; set; } = 30;

    [Range(60, 604800)]
    public int PresignSeconds { get; set; } = 900;

    /// <summary>First retry pause; it doubles (with jitter) up to 5 minutes.</summary>
    [Range(10, 60_000)]
    public int RetryBaseDelayMs { get; set; } = 1000;

    /// <summary>How long the circuit stays open after S3 failed three times running.</summary>
    [Range(1, 3600)]
    public int BreakSeconds { get; set; } = 30;

    public bool Configured => !string.IsNullOrWhiteSpace(Endpoint);
}

/// <summary>The attribute checks of <see cref="S3Options"/>, generated at compile time (no reflection, safe to trim).</summary>
[OptionsValidator]
internal sealed partial class S3OptionsAnnotations : IValidateOptions<S3Options>
{
}
