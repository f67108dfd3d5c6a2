using System.Net;
using System.Net.Sockets;

namespace PiOrchestrator.Net;

/// <summary>
/// The one place the agent makes a handler for outgoing HTTP (camera, S3, the time-stamping authority, anything
/// later), so that none can skip <see cref="SocketThreading"/>: with inline socket completions a connection that
/// did not resume on the thread pool would run its caller's work (a TSA reply's X.509 check, a SQLite fsync) on a
/// socket engine thread. A test keeps every other file from making its own.
/// </summary>
public static class OutgoingHttp
{
    /// <summary>A handler whose connections resume on the thread pool and which follows no redirect (nothing outside is trusted to).</summary>
    /// <param name="configureSocket">Run on each new socket before it connects, with the address it is for.</param>
    public static SocketsHttpHandler Handler(Action<Socket, DnsEndPoint>? configureSocket = null) => new SocketsHttpHandler
    {
        ConnectCallback = configureSocket is null
            ? SocketThreading.ConnectAsync
            : (context, ct) => SocketThreading.ConnectAsync(context.DnsEndPoint, socket => configureSocket(socket, context.DnsEndPoint), ct),
        AllowAutoRedirect = false,
    };
}
