using System.Net;
using System.Net.Sockets;

namespace PiOrchestrator.Tests.Fixtures;

/// <summary>
/// A loopback TCP forwarder to <c>127.0.0.1:upstream</c> that the test opens and closes: while closed, every
/// connection is accepted and reset at once, as an unreachable server's would be. Lets a test act on a server
/// (seed an object) while the agent cannot reach it, without racing the agent's retries.
/// </summary>
public sealed class TcpGate : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _upstream;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private volatile bool _open;

    public TcpGate(int upstream, bool open = false)
    {
        _upstream = upstream;
        _open = open;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Connections made from now on reach the upstream.</summary>
    public void Open() => _open = true;

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try { client = await _listener.AcceptSocketAsync(_stop.Token); }
            catch (OperationCanceledException) { return; }
            catch (SocketException) { return; }
            if (!_open)
            {
                client.LingerState = new LingerOption(true, 0);
                client.Dispose();
                continue;
            }
            _ = ForwardAsync(client);
        }
    }

    private async Task ForwardAsync(Socket client)
    {
        using var downstream = new NetworkStream(client, ownsSocket: true);
        using var server = new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await server.ConnectAsync(IPAddress.Loopback, _upstream, _stop.Token);
            using var upstream = new NetworkStream(server, ownsSocket: false);
            // Either direction ending ends the pair, as a proxy closing both sides would.
            await Task.WhenAny(downstream.CopyToAsync(upstream, _stop.Token), upstream.CopyToAsync(downstream, _stop.Token));
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        _stop.Dispose();
    }
}
