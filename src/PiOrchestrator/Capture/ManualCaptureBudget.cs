using Microsoft.Extensions.Options;

namespace PiOrchestrator.Capture;

/// <summary>
/// How many test captures each container may take: a burst of <see cref="Burst"/>, then
/// <see cref="CaptureOptions.ManualCapturesPerHour"/>. Test photos are kept like evidence (never dropped before
/// upload), so a flood of them must not fill the store or crowd the sessions list.
/// </summary>
public sealed class ManualCaptureBudget(IOptions<CaptureOptions> options, TimeProvider time)
{
    public const int Burst = 5;
    private readonly Dictionary<string, (double Tokens, long At)> _containers = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    /// <summary>Takes one test capture from the container's budget; when it is spent, says how long until one is back.</summary>
    public bool TryTake(string containerId, out TimeSpan retryAfter)
    {
        retryAfter = TimeSpan.Zero;
        var perHour = options.Value.ManualCapturesPerHour;
        if (perHour == 0) return true;
        var perSecond = perHour / 3600.0;
        var now = time.GetTimestamp();
        lock (_lock)
        {
            var (tokens, at) = _containers.TryGetValue(containerId, out var known) ? known : (Burst, now);
            tokens = Math.Min(Burst, tokens + time.GetElapsedTime(at, now).TotalSeconds * perSecond);
            if (tokens < 1)
            {
                _containers[containerId] = (tokens, now);
                retryAfter = TimeSpan.FromSeconds(Math.Ceiling((1 - tokens) / perSecond));
                return false;
            }
            _containers[containerId] = (tokens - 1, now);
            return true;
        }
    }
}
