namespace PiOrchestrator.Upload;

/// <summary>How uploads are going, for status and the technician: one log line per failure streak, one on recovery.</summary>
public sealed class UploadState(TimeProvider time, ILogger<UploadState> log)
{
    private readonly Lock _lock = new();
    private int _streak;
    private DateTimeOffset? _streakSince;

    public bool? Reachable { get; private set; }
    public string? LastError { get; private set; }
    public DateTimeOffset? LastErrorAt { get; private set; }
    public DateTimeOffset? LastSuccessAt { get; private set; }
    public long Uploaded => Interlocked.Read(ref _uploaded);
    private long _uploaded;

    public void RecordSuccess()
    {
        Interlocked.Increment(ref _uploaded);
        lock (_lock)
        {
            var now = time.GetUtcNow();
            if (_streak > 0)
                log.LogInformation("S3 uploads recovered after {Failures} failed attempt(s) since {Since:u}", _streak, _streakSince);
            _streak = 0;
            _streakSince = null;
            Reachable = true;
            LastSuccessAt = now;
        }
    }

    public void RecordFailure(string error, bool credentialProblem, bool unreachable)
    {
        lock (_lock)
        {
            var now = time.GetUtcNow();
            if (_streak == 0)
            {
                _streakSince = now;
                if (credentialProblem)
                    log.LogError("S3 refuses this agent's credentials ({Error}): check S3:AccessKey and S3:SecretKey; captures stay pending and are kept", error);
                else
                    log.LogWarning("S3 upload failing ({Error}); retrying with backoff, captures are kept until uploaded", error);
            }
            else
            {
                log.LogDebug("S3 upload attempt failed again ({Error}), streak {Streak}", error, _streak + 1);
            }
            _streak++;
            Reachable = !unreachable;
            LastError = error;
            LastErrorAt = now;
        }
    }

    /// <summary>The endpoint answered (HeadBucket or a put), whatever it answered.</summary>
    public void RecordReachable(bool reachable)
    {
        lock (_lock) Reachable = reachable;
    }
}
