using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;

namespace PiOrchestrator.Store;

/// <summary>Hot JPEGs in memory, bounded by bytes (<c>Storage:MemoryCacheMegabytes</c>); SQLite holds the truth.</summary>
public sealed class ImageCache : IDisposable
{
    private readonly MemoryCache? _cache;
    private long _bytes;

    public ImageCache(IOptions<StorageOptions> options)
    {
        var limit = (long)options.Value.MemoryCacheMegabytes * 1024 * 1024;
        if (limit > 0)
            _cache = new MemoryCache(new MemoryCacheOptions { SizeLimit = limit, CompactionPercentage = 0.25 });
        LimitBytes = limit;
    }

    public long LimitBytes { get; }

    public static string ThumbnailKey(string objectKey) => "thumb:" + objectKey;

    public long Bytes => Interlocked.Read(ref _bytes);

    public bool TryGet(string key, out byte[] bytes)
    {
        if (_cache is not null && _cache.TryGetValue(key, out byte[]? hit) && hit is not null)
        {
            bytes = hit;
            return true;
        }
        bytes = [];
        return false;
    }

    public void Set(string key, byte[] bytes)
    {
        if (_cache is null || bytes.Length > LimitBytes / 4) return;
        var options = new MemoryCacheEntryOptions { Size = bytes.Length, SlidingExpiration = TimeSpan.FromHours(1) };
        options.RegisterPostEvictionCallback((_, value, _, _) => Interlocked.Add(ref _bytes, -((byte[])value!).Length));
        Interlocked.Add(ref _bytes, bytes.Length);
        _cache.Set(key, bytes, options);
    }

    public void Remove(string key) => _cache?.Remove(key);

    public void Dispose() => _cache?.Dispose();
}
