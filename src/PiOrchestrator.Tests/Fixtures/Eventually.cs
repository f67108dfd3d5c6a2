namespace PiOrchestrator.Tests.Fixtures;

/// <summary>Waits on a condition with a deadline; never a fixed sleep.</summary>
public static class Eventually
{
    public static async Task<T> UntilAsync<T>(Func<Task<T?>> probe, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        Exception? last = null;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if (await probe() is { } value)
                {
                    RecordWait(what, System.Diagnostics.Stopwatch.GetElapsedTime(started), timeout);
                    return value;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
            {
                last = ex;
            }
            await Task.Delay(25);
        }
        throw new TimeoutException($"timed out after {timeout.TotalSeconds:F0} s waiting for {what}{(last is null ? "" : $" (last error: {last.Message})")}"
            + AgentProcess.DiagnosticsOfThisTest());
    }

    private static readonly string? WaitLog = System.Environment.GetEnvironmentVariable("PIORCH_TEST_WAIT_LOG");
    private static readonly Lock WaitLogLock = new();

    /// <summary>
    /// Each wait that took over a second, with the share of its deadline it used, to the file PIORCH_TEST_WAIT_LOG
    /// names (scripts/test.sh lists the closest calls): a deadline a loaded machine comes near shows before it fails.
    /// </summary>
    private static void RecordWait(string what, TimeSpan took, TimeSpan timeout)
    {
        if (WaitLog is null || took < TimeSpan.FromSeconds(1)) return;
        var line = FormattableString.Invariant($"{took / timeout:F2}\t{took.TotalSeconds:F1} s of {timeout.TotalSeconds:F0} s\t{what}\n");
        lock (WaitLogLock) File.AppendAllText(WaitLog, line);
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
