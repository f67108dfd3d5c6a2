using System.Net.Sockets;
using Microsoft.Extensions.Hosting.Systemd;

namespace PiOrchestrator.Systemd;

/// <summary>
/// The library's <see cref="SystemdNotifier"/>, minus its exception when <c>$NOTIFY_SOCKET</c> has gone (systemd
/// restarted, a test's socket closed): one warning per outage instead of an exception in a lifetime callback or
/// the watchdog loop. A message that cannot be sent has nobody to read it anyway.
/// </summary>
public sealed class TolerantSystemdNotifier(SystemdNotifier notifier, ILogger<TolerantSystemdNotifier> log) : ISystemdNotifier
{
    private int _failing;

    public bool IsEnabled => notifier.IsEnabled;

    public void Notify(ServiceState state)
    {
        try
        {
            notifier.Notify(state);
            if (Interlocked.Exchange(ref _failing, 0) == 1)
                log.LogInformation("systemd notify socket reachable again");
        }
        catch (Exception ex) when (ex is SocketException or ArgumentException)
        {
            if (Interlocked.Exchange(ref _failing, 1) == 0)
                log.LogWarning("systemd notify socket {Socket} unreachable ({Reason}); notifications are dropped until it answers again",
                    Environment.GetEnvironmentVariable("NOTIFY_SOCKET"), ex.Message);
        }
    }
}
