using System.Runtime.InteropServices;
using Microsoft.Extensions.Hosting.Systemd;
using PiOrchestrator.Hosting;

namespace PiOrchestrator.Systemd;

/// <summary>
/// STATUS= a one-line summary whenever it changes, WATCHDOG=1 at half of WATCHDOG_USEC only while every loop keeps
/// its heartbeat. READY=1 (once Kestrel listens; the store is open by then) and STOPPING=1 come from the library's
/// <see cref="SystemdLifetime"/>.
/// </summary>
public sealed class SystemdService(
    ISystemdNotifier notifier,
    LoopHeartbeats heartbeats,
    IHostApplicationLifetime lifetime,
    IHostLifetime hostLifetime,
    IEnumerable<ISummaryPart> parts,
    TimeProvider time,
    ILogger<SystemdService> log) : BackgroundService
{
    private static readonly TimeSpan StatusEvery = TimeSpan.FromSeconds(2);
    private static readonly ServiceState WatchdogPing = new("WATCHDOG=1");
    private readonly ISummaryPart[] _parts = parts.OrderBy(p => p.Order).ToArray();
    private string? _lastStatus;
    private bool _withholding;
    private readonly List<PosixSignalRegistration> _signals = [];

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        lifetime.ApplicationStopping.Register(() => notifier.Notify(new ServiceState("STATUS=stopping")));
        // SystemdLifetime stops gracefully on SIGTERM only; Ctrl+C (SIGINT) and SIGQUIT would kill the agent at once
        // where the default console lifetime lets captures in flight finish.
        if (hostLifetime is SystemdLifetime)
            foreach (var signal in new[] { PosixSignal.SIGINT, PosixSignal.SIGQUIT })
                _signals.Add(PosixSignalRegistration.Create(signal, context =>
                {
                    context.Cancel = true;
                    lifetime.StopApplication();
                }));
        return base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!notifier.IsEnabled) return;
        var ping = WatchdogInterval();
        if (ping is { } interval)
            log.LogInformation("systemd watchdog: pinging every {Seconds:F1} s while loops {Loops} keep their heartbeats", interval.TotalSeconds, string.Join(", ", heartbeats.Loops));
        var tick = ping is { } p && p < StatusEvery ? p : StatusEvery;
        using var timer = new PeriodicTimer(tick, time);
        var gate = ping is { } pingEvery ? new WatchdogGate(time, pingEvery) : null;
        try
        {
            do
            {
                var status = Summary();
                if (status != _lastStatus)
                {
                    notifier.Notify(new ServiceState("STATUS=" + status));
                    _lastStatus = status;
                }
                if (gate is not null && gate.Due())
                {
                    var stalled = heartbeats.Stalled();
                    if (stalled.Count == 0)
                    {
                        notifier.Notify(WatchdogPing);
                        gate.Pinged();
                        if (_withholding) log.LogInformation("All loops turn again; systemd watchdog pings resumed");
                        _withholding = false;
                    }
                    else if (!_withholding)
                    {
                        _withholding = true;
                        log.LogCritical("Loop(s) {Loops} stopped turning: withholding systemd watchdog pings so the agent is restarted", string.Join(", ", stalled));
                    }
                }
            } while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Half of WATCHDOG_USEC when systemd asked for pings and they are for this process, else null.</summary>
    internal static TimeSpan? WatchdogInterval()
    {
        if (!long.TryParse(Environment.GetEnvironmentVariable("WATCHDOG_USEC"), out var usec) || usec <= 0) return null;
        var pid = Environment.GetEnvironmentVariable("WATCHDOG_PID");
        if (!string.IsNullOrEmpty(pid) && pid != Environment.ProcessId.ToString()) return null;
        return TimeSpan.FromMicroseconds(usec / 2.0);
    }

    /// <summary>"mqtt connected; cameras 2/2 online; upload queue 0; loops ok" — what `systemctl status` shows.</summary>
    public string Summary()
    {
        var stalled = heartbeats.Stalled();
        return string.Join("; ", _parts.Select(p => p.Describe())
            .Append(stalled.Count == 0 ? "loops ok" : "stalled: " + string.Join(",", stalled)));
    }

    public override void Dispose()
    {
        foreach (var signal in _signals) signal.Dispose();
        base.Dispose();
    }
}

/// <summary>
/// When the next WATCHDOG=1 is due, on the monotonic clock: a wall-clock step (NTP after a power cut) neither
/// withholds the pings (systemd would kill a healthy agent) nor sends them early.
/// </summary>
public sealed class WatchdogGate(TimeProvider time, TimeSpan every)
{
    private static readonly TimeSpan Jitter = TimeSpan.FromMilliseconds(50);
    private long? _last;

    public bool Due() => _last is not { } last || time.GetElapsedTime(last) >= every - Jitter;

    public void Pinged() => _last = time.GetTimestamp();
}
