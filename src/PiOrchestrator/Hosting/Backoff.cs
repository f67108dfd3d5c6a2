using Polly;
using Polly.Retry;

namespace PiOrchestrator.Hosting;

/// <summary>
/// How the agent waits on something that is away (the broker, S3, the TSA): Polly's exponential backoff, starting at
/// <paramref name="First"/>, doubling, capped at <paramref name="Max"/>, with Polly's jitter when asked. A loop that
/// retries in place runs <see cref="Forever"/>; a retry whose failures are counted in the store asks <see cref="Delay"/>.
/// </summary>
public sealed record Backoff(TimeSpan First, TimeSpan Max, bool Jitter = false)
{
    /// <summary>Polly retries, as many as it takes, of what <paramref name="shouldHandle"/> picks.</summary>
    public RetryStrategyOptions<T> Forever<T>(Func<RetryPredicateArguments<T>, ValueTask<bool>> shouldHandle,
        Func<OnRetryArguments<T>, ValueTask>? onRetry = null) => Fill(new RetryStrategyOptions<T>(), shouldHandle, onRetry);

    /// <inheritdoc cref="Forever{T}"/>
    public RetryStrategyOptions Forever(Func<RetryPredicateArguments<object>, ValueTask<bool>> shouldHandle,
        Func<OnRetryArguments<object>, ValueTask>? onRetry = null) => Fill(new RetryStrategyOptions(), shouldHandle, onRetry);

    private TOptions Fill<TOptions, T>(TOptions options, Func<RetryPredicateArguments<T>, ValueTask<bool>> shouldHandle,
        Func<OnRetryArguments<T>, ValueTask>? onRetry) where TOptions : RetryStrategyOptions<T>
    {
        options.MaxRetryAttempts = int.MaxValue;
        options.Delay = First;
        options.MaxDelay = Max;
        options.BackoffType = DelayBackoffType.Exponential;
        options.UseJitter = Jitter;
        options.ShouldHandle = shouldHandle;
        options.OnRetry = onRetry;
        return options;
    }

    /// <summary>
    /// The wait after <paramref name="failures"/> failures in a row, as Polly gives it without jitter. Polly's jitter
    /// follows the previous delay, which a retry kept in the store does not keep: jitter takes up to a quarter off instead.
    /// </summary>
    public TimeSpan Delay(int failures)
    {
        var delay = Math.Min(Max.TotalMilliseconds, First.TotalMilliseconds * Math.Pow(2, failures));
        return TimeSpan.FromMilliseconds(Jitter ? delay * (1 - 0.25 * Random.Shared.NextDouble()) : delay);
    }
}
