using System.Collections.Concurrent;
using System.Security.Cryptography;
using PiOrchestrator.Upload;

namespace PiOrchestrator.Evidence;

/// <summary>
/// Re-reads uploaded objects from S3 for <c>/verify</c>, bounded: a result is reused for <see cref="Fresh"/> and at
/// most <see cref="Parallel"/> read-backs run at once, so polling verify (it needs no key) cannot turn every request
/// into megabytes of S3 traffic.
/// </summary>
public sealed class ObjectReadBacks(S3ObjectStore s3, TimeProvider time)
{
    public static readonly TimeSpan Fresh = TimeSpan.FromMinutes(5);
    private const int Parallel = 2;
    private const int MaxRemembered = 4096;
    private readonly ConcurrentDictionary<Guid, (string Result, DateTimeOffset At)> _results = new();
    private readonly SemaphoreSlim _slots = new(Parallel, Parallel);

    /// <summary>ok, mismatch, missing or unreachable.</summary>
    public async Task<string> CheckAsync(EvidenceRecord evidence, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        if (_results.TryGetValue(evidence.EvidenceId, out var known) && now - known.At < Fresh) return known.Result;
        await _slots.WaitAsync(ct);
        try
        {
            var result = await ReadBackAsync(evidence, ct);
            if (_results.Count >= MaxRemembered) _results.Clear();
            _results[evidence.EvidenceId] = (result, time.GetUtcNow());
            return result;
        }
        finally
        {
            _slots.Release();
        }
    }

    private async Task<string> ReadBackAsync(EvidenceRecord e, CancellationToken ct)
    {
        try
        {
            var bytes = await s3.GetAsync(e.ObjectKey!, e.ImageSizeBytes ?? 0, ct);
            return bytes is null ? "missing" : Convert.ToHexStringLower(SHA256.HashData(bytes)) == e.Sha256 ? "ok" : "mismatch";
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            return "unreachable";
        }
    }
}
