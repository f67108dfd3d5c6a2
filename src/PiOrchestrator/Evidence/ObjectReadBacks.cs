using System.Security.Cryptography;
using PiOrchestrator.Store;
using PiOrchestrator.Upload;

namespace PiOrchestrator.Evidence;

/// <summary>
/// What the bucket holds for a capture: <see cref="Verdict"/> ok, mismatch, missing or unreachable, and for ok and
/// mismatch the bytes it sent.
/// </summary>
public sealed record ObjectReadBack(string Verdict, byte[]? Bytes, string? Error = null);

/// <summary>
/// Re-reads uploaded objects from S3 for <c>/verify</c> and the export, bounded: one read of an object serves every
/// caller that asks while it runs or within <see cref="Fresh"/> after, and at most <see cref="Parallel"/> reads run at
/// once, so polling verify or exporting a session many times (neither needs a key) cannot turn every request into
/// megabytes of S3 traffic. The bytes read are kept for reuse up to <see cref="HeldBytesLimit"/> in all; past it the
/// oldest keep only their verdict. An unreachable S3 sends nothing, so that verdict is not kept: the next caller tries again.
/// </summary>
public sealed class ObjectReadBacks : IDisposable
{
    public static readonly TimeSpan Fresh = TimeSpan.FromMinutes(5);
    public const long HeldBytesLimit = 32L * 1024 * 1024;
    private const int Parallel = 2;
    private const int MaxRemembered = 4096;

    private sealed class Entry
    {
        public Task<ObjectReadBack> Read = null!;
        public DateTimeOffset? DoneAt;
        public long Held;
    }

    private readonly Lock _lock = new();
    private readonly Dictionary<Guid, Entry> _entries = [];
    private long _held;
    private readonly SemaphoreSlim _slots = new(Parallel, Parallel);
    // A read serves every caller waiting on it, so one caller going away does not cancel it; stopping the agent does.
    private readonly CancellationTokenSource _stopping = new();
    private readonly S3ObjectStore _s3;
    private readonly TimeProvider _time;
    // Expired reads give their bytes back even when nobody asks again.
    private readonly ITimer _sweep;

    public ObjectReadBacks(S3ObjectStore s3, TimeProvider time)
    {
        _s3 = s3;
        _time = time;
        _sweep = time.CreateTimer(_ => { lock (_lock) ForgetExpired(time.GetUtcNow()); }, null, Fresh, Fresh);
    }

    /// <summary>ok, mismatch, missing or unreachable.</summary>
    public async Task<string> CheckAsync(EvidenceRecord evidence, CancellationToken ct) => (await ReadAsync(evidence, false, ct)).Verdict;

    /// <summary>The object's verdict with its bytes (for ok and mismatch), read again only when no fresh read holds them.</summary>
    public Task<ObjectReadBack> ReadAsync(EvidenceRecord evidence, CancellationToken ct) => ReadAsync(evidence, true, ct);

    private Task<ObjectReadBack> ReadAsync(EvidenceRecord evidence, bool needBytes, CancellationToken ct)
    {
        Task<ObjectReadBack> read;
        lock (_lock)
        {
            var now = _time.GetUtcNow();
            if (!_entries.TryGetValue(evidence.EvidenceId, out var entry) || !Serves(entry, now, needBytes))
            {
                if (entry is not null) Forget(evidence.EvidenceId, entry);
                if (_entries.Count >= MaxRemembered) ForgetFinished(now);
                entry = new Entry();
                _entries[evidence.EvidenceId] = entry;
                entry.Read = ReadOnceAsync(evidence, entry);
            }
            read = entry.Read;
        }
        return read.WaitAsync(ct);
    }

    private static bool Serves(Entry entry, DateTimeOffset now, bool needBytes)
    {
        if (entry.DoneAt is not { } at) return true;
        if (now - at >= Fresh) return false;
        var result = entry.Read.Result;
        return !needBytes || result.Bytes is not null || result.Verdict is not ("ok" or "mismatch");
    }

    private async Task<ObjectReadBack> ReadOnceAsync(EvidenceRecord e, Entry entry)
    {
        // Yield first: the caller stores this task in the entry before anything here runs.
        await Task.Yield();
        ObjectReadBack result;
        await _slots.WaitAsync(_stopping.Token);
        try
        {
            var bytes = await _s3.GetAsync(e.ObjectKey!, e.ImageSizeBytes ?? 0, _stopping.Token);
            result = bytes is null ? new("missing", null)
                : new(Convert.ToHexStringLower(SHA256.HashData(bytes)) == e.Sha256 ? "ok" : "mismatch", bytes);
        }
        catch (Exception ex) when (!_stopping.IsCancellationRequested)
        {
            result = new("unreachable", null, _s3.Describe(ex));
        }
        finally
        {
            _slots.Release();
        }
        lock (_lock)
        {
            var now = _time.GetUtcNow();
            entry.DoneAt = now;
            var remembered = _entries.TryGetValue(e.EvidenceId, out var current) && current == entry;
            if (remembered && result.Verdict == "unreachable")
            {
                _entries.Remove(e.EvidenceId);
            }
            else if (remembered && result.Bytes is { } kept)
            {
                ForgetExpired(now);
                MakeRoom(kept.Length);
                if (_held + kept.Length <= HeldBytesLimit)
                {
                    entry.Held = kept.Length;
                    _held += kept.Length;
                }
                else
                {
                    // Too big to keep: those already waiting get the bytes; later callers read again.
                    entry.Read = Task.FromResult(result with { Bytes = null });
                }
            }
        }
        return result;
    }

    /// <summary>Drops the bytes of the oldest finished reads (their verdicts stay) until <paramref name="bytes"/> more fit.</summary>
    private void MakeRoom(long bytes)
    {
        if (_held + bytes <= HeldBytesLimit) return;
        foreach (var entry in _entries.Values.Where(x => x.Held > 0).OrderBy(x => x.DoneAt).ToList())
        {
            _held -= entry.Held;
            entry.Held = 0;
            entry.Read = Task.FromResult(entry.Read.Result with { Bytes = null });
            if (_held + bytes <= HeldBytesLimit) return;
        }
    }

    /// <summary>Forgets expired reads, and every finished one if that is not enough.</summary>
    private void ForgetFinished(DateTimeOffset now)
    {
        ForgetExpired(now);
        if (_entries.Count < MaxRemembered) return;
        foreach (var (id, entry) in _entries.Where(x => x.Value.DoneAt is not null).ToList()) Forget(id, entry);
    }

    private void ForgetExpired(DateTimeOffset now)
    {
        foreach (var (id, entry) in _entries.Where(x => x.Value.DoneAt is { } at && now - at >= Fresh).ToList()) Forget(id, entry);
    }

    private void Forget(Guid id, Entry entry)
    {
        _held -= entry.Held;
        entry.Held = 0;
        _entries.Remove(id);
    }

    public void Dispose()
    {
        _sweep.Dispose();
        _stopping.Cancel();
        _stopping.Dispose();
    }
}
