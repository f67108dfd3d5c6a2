using System.Net;
using System.Net.Sockets;

namespace PiOrchestrator.Tests.Fixtures;

/// <summary>
/// A TCP relay on a free loopback port in front of a server (s3rver), counting the bytes the server sends back: what
/// its clients really received over the wire, whatever the server logs.
/// </summary>
public sealed class CountingTcpProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _targetPort;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _relays = [];
    private readonly Task _accepting;
    private long _fromServer;

    private CountingTcpProxy(int targetPort)
    {
        _targetPort = targetPort;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public static CountingTcpProxy Start(int targetPort) => new(targetPort);

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;
    public string Url => $"http://127.0.0.1:{Port}";
    public long BytesFromServer => Interlocked.Read(ref _fromServer);

    public void ResetCount() => Interlocked.Exchange(ref _fromServer, 0);

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                lock (_relays) _relays.Add(RelayAsync(client));
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException) { }
    }

    private async Task RelayAsync(TcpClient client)
    {
        using (client)
        using (var server = new TcpClient())
        {
            try
            {
                await server.ConnectAsync(IPAddress.Loopback, _targetPort, _stop.Token);
                using var done = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                var up = PumpAsync(client.GetStream(), server.GetStream(), counted: false, done.Token);
                var down = PumpAsync(server.GetStream(), client.GetStream(), counted: true, done.Token);
                // Either side closing ends the connection, as it would without the relay.
                await Task.WhenAny(up, down);
                done.Cancel();
                await Task.WhenAll(up, down);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or IOException) { }
        }
    }

    private async Task PumpAsync(NetworkStream from, NetworkStream to, bool counted, CancellationToken ct)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            int n;
            while ((n = await from.ReadAsync(buffer, ct)) > 0)
            {
                if (counted) Interlocked.Add(ref _fromServer, n);
                await to.WriteAsync(buffer.AsMemory(0, n), ct);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or ObjectDisposedException) { }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        await _accepting;
        Task[] relays;
        lock (_relays) relays = [.. _relays];
        await Task.WhenAll(relays);
        _stop.Dispose();
    }
}
