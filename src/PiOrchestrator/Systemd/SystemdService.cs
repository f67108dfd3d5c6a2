using Microsoft.Extensions.Options;
using PiOrchestrator.Capture;
using PiOrchestrator.Evidence;
using PiOrchestrator.Mqtt;
using PiOrchestrator.Site;

namespace PiOrchestrator.Systemd;

/// <summary>
/// READY=1 once Kestrel listens (the store is open by then), STATUS= a one-line summary whenever it changes,
/// WATCHDOG=1 at half of WATCHDOG_USEC only while every loop keeps its heartbeat, STOPPING=1 on shutdown.
/// </summary>
public sealed class SystemdService(
    SystemdNotifier notifier,
    LoopHeartbeats heartbeats,
    IHostApplicationLifetime lifetime,
    MqttConnection mqtt,
    CameraHealth cameras,
    EvidenceStore store,
    IOptions<SiteOptions> site,
    TimeProvider time,
    ILogger<SystemdService> log) : BackgroundService
{
    private static readonly TimeSpan StatusEvery = TimeSpan.FromSeconds(2);
    private string? _lastStatus;
    private bool _withholding;

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        lifetime.ApplicationStarted.Register(() => notifier.Notify($"READY=1\nSTATUS={Summary()}\nMAINPID={Environment.ProcessId}"));
        lifetime.ApplicationStopping.Register(() => notifier.Notify("STOPPING=1\nSTATUS=stopping"));
        return base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!notifier.Enabled) return;
        var ping = notifier.WatchdogInterval;
        if (ping is { } interval)
            log.LogInformation("systemd watchdog: pinging every {Seconds:F1} s while loops {Loops} keep their heartbeats", interval.TotalSeconds, string.Join(", ", heartbeats.Loops));
        var tick = ping is { } p && p < StatusEvery ? p : StatusEvery;
        using var timer = new PeriodicTimer(tick, time);
        var lastPing = DateTimeOffset.MinValue;
        try
        {
            do
            {
                var now = time.GetUtcNow();
                var status = Summary();
                if (status != _lastStatus)
                {
                    notifier.Notify("STATUS=" + status);
                    _lastStatus = status;
                }
                if (ping is { } every && now - lastPing >= every - TimeSpan.FromMilliseconds(50))
                {
                    var stalled = heartbeats.Stalled();
                    if (stalled.Count == 0)
                    {
                        notifier.Notify("WATCHDOG=1");
                        lastPing = now;
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

    /// <summary>"mqtt connected; cameras 2/2 online; upload queue 0; loops ok" — what `systemctl status` shows.</summary>
    public string Summary()
    {
        var configured = site.Value.Containers.Select(c => c.CameraId).Distinct().ToList();
        var online = configured.Count(id => cameras.Get(id).Online == true);
        string queue;
        try
        {
            queue = store.PendingUploads().Count.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Microsoft.Data.Sqlite.SqliteException)
        {
            // A status line is no reason to stop the loop that feeds the watchdog.
            queue = "unknown";
        }
        var stalled = heartbeats.Stalled();
        return $"mqtt {mqtt.State.ToString().ToLowerInvariant()}; cameras {online}/{configured.Count} online; upload queue {queue}; " +
               (stalled.Count == 0 ? "loops ok" : "stalled: " + string.Join(",", stalled));
    }
}
