using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace PiOrchestrator.Capture;

/// <summary>
/// The agent's TCP connections to its cameras, so that a capture that got no answer can say whether the camera was
/// there. An ESP32-CAM whose sockets are all taken (esp_http_server's default is 7, with no LRU purge) stops
/// accepting, and a new connection completes its handshake and waits in the backlog unanswered: connected, no answer,
/// is <c>busy</c>. No connection at all is <c>offline</c>.
/// <para>
/// A connection kept alive to a camera that lost power would look connected for ever, so each socket gives up on
/// data the camera has not acknowledged within <see cref="UnacknowledgedLimit"/> (TCP_USER_TIMEOUT: lwIP acknowledges
/// a request even while the firmware's single server task is busy elsewhere, so a busy camera never trips it) and
/// probes an idle connection with keep-alives.
/// </para>
/// </summary>
public sealed class CameraConnections
{
    /// <summary>How long sent data may go unacknowledged before the connection counts as dead.</summary>
    public static readonly TimeSpan UnacknowledgedLimit = TimeSpan.FromSeconds(3);

    // Linux's TCP_USER_TIMEOUT (include/uapi/linux/tcp.h); .NET names no constant for it.
    private const int TcpUserTimeout = 18;

    private readonly ConcurrentDictionary<Socket, string> _sockets = new();

    /// <summary>Sets a camera socket up before it connects (<see cref="OutgoingHttp.Handler"/>) and keeps it in view.</summary>
    public void Track(Socket socket, string host, int port)
    {
        foreach (var (old, _) in _sockets)
            if (old.SafeHandle.IsClosed) _sockets.TryRemove(old, out _);
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, 15);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, 3);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, 2);
        if (OperatingSystem.IsLinux())
            socket.SetRawSocketOption((int)SocketOptionLevel.Tcp, TcpUserTimeout, BitConverter.GetBytes((int)UnacknowledgedLimit.TotalMilliseconds));
        _sockets[socket] = KeyOf(host, port);
    }

    /// <summary>Whether the agent holds a live TCP connection to the camera at <paramref name="cameraUrl"/>.</summary>
    public bool IsConnected(Uri cameraUrl)
    {
        var endPoint = KeyOf(cameraUrl.IdnHost, cameraUrl.Port);
        foreach (var (socket, key) in _sockets)
        {
            if (key != endPoint) continue;
            if (socket.SafeHandle.IsClosed)
            {
                _sockets.TryRemove(socket, out _);
                continue;
            }
            try
            {
                if (socket.Connected && (int)socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error)! == 0) return true;
            }
            catch (ObjectDisposedException)
            {
                _sockets.TryRemove(socket, out _);
            }
        }
        return false;
    }

    private static string KeyOf(string host, int port) => $"{host.Trim('[', ']').ToLowerInvariant()}:{port}";
}
