using Microsoft.Extensions.Options;
using PiOrchestrator.Site;

namespace PiOrchestrator.Capture;

/// <summary>
/// When a session's next DURING_OPEN frame is due: one every <see cref="Interval"/> up to <see cref="MaxFrames"/>,
/// then each further wait twice the one before (a door left open all day still gets a frame now and then, at a
/// bounded cost), never longer than <see cref="LongestWait"/>.
/// </summary>
public sealed record TimelapseSchedule(TimeSpan Interval, int MaxFrames)
{
    /// <summary>The shortest interval accepted: an ESP32-CAM's grab (LED delay, exposure, transfer) takes about this long.</summary>
    public const double ShortestInterval = 0.25;

    public static readonly TimeSpan LongestWait = TimeSpan.FromHours(1);

    /// <summary>The container's schedule, or null when its timelapse is off.</summary>
    public static TimelapseSchedule? For(CaptureOptions options, ContainerOptions container) =>
        (container.DuringOpenIntervalSeconds ?? options.DuringOpenIntervalSeconds) is > 0 and var seconds
            ? new TimelapseSchedule(TimeSpan.FromSeconds(seconds), options.DuringOpenMaxFrames)
            : null;

    /// <summary>The wait from the start of one frame to the next, once <paramref name="framesStored"/> frames are stored.</summary>
    public TimeSpan WaitAfter(int framesStored)
    {
        var beyond = framesStored - MaxFrames;
        if (beyond < 0) return Interval;
        // In seconds first: doubled often enough, a long interval would overflow a TimeSpan.
        var seconds = Interval.TotalSeconds * Math.Pow(2, Math.Min(beyond + 1, 30));
        return seconds > LongestWait.TotalSeconds ? (Interval > LongestWait ? Interval : LongestWait) : TimeSpan.FromSeconds(seconds);
    }
}

/// <summary>
/// The stop switch of one session's timelapse: a frame is stored only while the run is not stopped, and stopping
/// waits for a store under way, so no frame is ever stored after the door's close was handled.
/// </summary>
public sealed class FrameRun : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _lock = new();
    private bool _stopped;

    public CancellationToken Stopping => _stop.Token;

    public bool Stopped
    {
        get { lock (_lock) return _stopped; }
    }

    public void Stop()
    {
        lock (_lock) _stopped = true;
        try
        {
            _stop.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>Runs <paramref name="store"/> unless stopped; false when stopped.</summary>
    public bool StoreUnlessStopped(Action store)
    {
        lock (_lock)
        {
            if (_stopped) return false;
            store();
            return true;
        }
    }

    public void Dispose() => _stop.Dispose();
}

/// <summary>The interval, global and per container: 0 (off) or at least <see cref="TimelapseSchedule.ShortestInterval"/> s.</summary>
internal sealed class TimelapseSettingCheck : IValidateOptions<SiteOptions>, IValidateOptions<CaptureOptions>
{
    public ValidateOptionsResult Validate(string? name, SiteOptions options)
    {
        var problems = new List<string>();
        for (var i = 0; i < options.Containers.Count; i++)
            if (Problem(options.Containers[i].DuringOpenIntervalSeconds) is { } problem)
                problems.Add($"Containers:{i}:DuringOpenIntervalSeconds {problem}");
        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }

    public ValidateOptionsResult Validate(string? name, CaptureOptions options) =>
        Problem(options.DuringOpenIntervalSeconds) is { } problem
            ? ValidateOptionsResult.Fail($"Capture:DuringOpenIntervalSeconds {problem}")
            : ValidateOptionsResult.Success;

    private static string? Problem(double? seconds) => seconds switch
    {
        null or 0 => null,
        double.NaN or < TimelapseSchedule.ShortestInterval or > 3600 =>
            $"must be 0 (off) or between {TimelapseSchedule.ShortestInterval} and 3600 seconds, not {seconds}",
        _ => null,
    };
}
