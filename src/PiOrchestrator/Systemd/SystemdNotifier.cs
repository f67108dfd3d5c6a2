using System.Net.Sockets;
using System.Text;

namespace PiOrchestrator.Systemd;

/// <summary>
/// The sd_notify protocol spoken directly on <c>$NOTIFY_SOCKET</c> (a unix datagram socket; a leading '@' is the
/// abstract namespace). libsystemd's sd_notify would not see variables set after start, and this is simpler to test.
/// Without NOTIFY_SOCKET (not under systemd) nothing is sent.
/// </summary>
public sealed class SystemdNotifier : IDisposable
{
    private readonly Socket? _socket;
    private readonly UnixDomainSocketEndPoint? _endPoint;
    private readonly Lock _lock = new();

    public SystemdNotifier()
    {
        var path = Environment.GetEnvironmentVariable("NOTIFY_SOCKET");
        if (string.IsNullOrEmpty(path)) return;
        _endPoint = new UnixDomainSocketEndPoint(path[0] == '@' ? "\0" + path[1..] : path);
        _socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        WatchdogInterval = ReadWatchdogInterval();
    }

    public bool Enabled => _socket is not null;

    /// <summary>Half of WATCHDOG_USEC when systemd asked for pings (and they are for this process), else null.</summary>
    public TimeSpan? WatchdogInterval { get; }

    public bool Notify(string state)
    {
        if (_socket is null) return false;
        try
        {
            lock (_lock) _socket.SendTo(Encoding.UTF8.GetBytes(state), _endPoint!);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static TimeSpan? ReadWatchdogInterval()
    {
        if (!long.TryParse(Environment.GetEnvironmentVariable("WATCHDOG_USEC"), out var usec) || usec <= 0) return null;
        var pid = Environment.GetEnvironmentVariable("WATCHDOG_PID");
        if (!string.IsNullOrEmpty(pid) && pid != Environment.ProcessId.ToString()) return null;
        return TimeSpan.FromMicroseconds(usec / 2.0);
    }

    public void Dispose() => _socket?.Dispose();
}
