namespace PiOrchestrator.Tests.Fixtures;

/// <summary>Waits on a condition with a deadline; never a fixed sleep.</summary>
public static class Eventually
{
    public static async Task<T> UntilAsync<T>(Func<Task<T?>> probe, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        Exception? last = null;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if (await probe() is { } value) return value;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
            {
                last = ex;
            }
            await Task.Delay(25);
        }
        throw new TimeoutException($"timed out after {timeout.TotalSeconds:F0} s waiting for {what}{(last is null ? "" : $" (last error: {last.Message})")}");
    }

    public static async Task<bool> UntilAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        // Awaited, not continued: a timeout reaches the test as the TimeoutException that says what was awaited.
        await UntilAsync<object>(() => Task.FromResult<object?>(condition() ? true : null), timeout, what);
        return true;
    }

    public static Task UntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what) =>
        UntilAsync<object>(async () => await condition() ? true : null, timeout, what);
}
