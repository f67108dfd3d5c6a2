using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Options;

namespace PiOrchestrator.Http;

/// <summary>
/// A token bucket per client address: <see cref="ApiOptions.RateLimitBurst"/> requests at once, refilled at
/// <see cref="ApiOptions.RateLimitPerSecond"/>. A bucket is refilled from the time elapsed when a request comes, so
/// there is no timer, no lease and no allocation per request (ASP.NET's partitioned limiter cost a lock, a lease
/// and two state machines on every dashboard poll). Buckets that have refilled completely are forgotten from time
/// to time, so a stream of new addresses cannot grow the table without bound.
/// </summary>
public sealed class ClientRateLimiter(Func<(double PerSecond, int Burst)> limits, TimeProvider time)
{
    /// <summary>The limit every request passes (Api:RateLimitPerSecond, Api:RateLimitBurst).</summary>
    public ClientRateLimiter(IOptions<ApiOptions> options, TimeProvider time)
        : this(() => (options.Value.RateLimitPerSecond, options.Value.RateLimitBurst), time)
    {
    }

    /// <summary>Above this many tracked clients, full buckets are swept (at most once a second) before a new one is added.</summary>
    internal const int SweepAboveClients = 4096;

    private const int SweepSeconds = 30;

    private readonly ConcurrentDictionary<IPAddress, Bucket> _buckets = new();
    private long _nextSweep = time.GetTimestamp() + SweepSeconds * time.TimestampFrequency;
    private long _nextCrowdedSweep;
    private int _sweeping;

    internal int TrackedClients => _buckets.Count;

    /// <summary>Takes one request from <paramref name="client"/>'s bucket; when it is empty, says how long until it is not.</summary>
    public bool TryAcquire(IPAddress client, out TimeSpan retryAfter)
    {
        retryAfter = TimeSpan.Zero;
        var settings = limits();
        if (settings.PerSecond <= 0) return true;

        var now = time.GetTimestamp();
        var perTick = settings.PerSecond / time.TimestampFrequency;
        if (now >= Volatile.Read(ref _nextSweep)) Sweep(now, perTick, settings.Burst);
        if (!_buckets.TryGetValue(client, out var bucket))
        {
            // Rare (a new client): counting the table takes all its locks, so only here.
            if (now >= Volatile.Read(ref _nextCrowdedSweep) && _buckets.Count >= SweepAboveClients)
            {
                Volatile.Write(ref _nextCrowdedSweep, now + time.TimestampFrequency);
                Sweep(now, perTick, settings.Burst);
            }
            bucket = _buckets.GetOrAdd(client, static (_, state) => new Bucket(state.Burst, state.Now), (settings.Burst, Now: now));
        }
        if (bucket.TryTake(now, perTick, settings.Burst, out var waitTicks)) return true;
        retryAfter = TimeSpan.FromSeconds(Math.Max(1, Math.Ceiling(waitTicks / time.TimestampFrequency)));
        return false;
    }

    /// <summary>Forgets clients whose bucket is full again: they are indistinguishable from new ones.</summary>
    private void Sweep(long now, double perTick, int burst)
    {
        if (Interlocked.Exchange(ref _sweeping, 1) == 1) return;
        try
        {
            Volatile.Write(ref _nextSweep, now + SweepSeconds * time.TimestampFrequency);
            foreach (var (client, bucket) in _buckets)
                if (bucket.IsFull(now, perTick, burst))
                    _buckets.TryRemove(new KeyValuePair<IPAddress, Bucket>(client, bucket));
        }
        finally
        {
            Volatile.Write(ref _sweeping, 0);
        }
    }

    private sealed class Bucket(double tokens, long stamp)
    {
        private readonly Lock _lock = new();
        private double _tokens = tokens;
        private long _stamp = stamp;

        public bool TryTake(long now, double perTick, int burst, out double waitTicks)
        {
            lock (_lock)
            {
                Refill(now, perTick, burst);
                if (_tokens >= 1)
                {
                    _tokens -= 1;
                    waitTicks = 0;
                    return true;
                }
                waitTicks = (1 - _tokens) / perTick;
                return false;
            }
        }

        public bool IsFull(long now, double perTick, int burst)
        {
            lock (_lock)
            {
                Refill(now, perTick, burst);
                return _tokens >= burst;
            }
        }

        private void Refill(long now, double perTick, int burst)
        {
            if (now <= _stamp) return;
            _tokens = Math.Min(burst, _tokens + (now - _stamp) * perTick);
            _stamp = now;
        }
    }
}
