using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;

namespace PiOrchestrator.Tests.Systemd;

/// <summary>The test's own unix datagram socket standing in for systemd's NOTIFY_SOCKET; keeps every message with its time.</summary>
public sealed class NotifySocket : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _reader;

    /// <param name="address">A path to bind again (systemd back after a restart); a new one by default.</param>
    public NotifySocket(bool abstractNamespace = false, string? address = null)
    {
        var name = $"piorch-notify-{Guid.NewGuid():N}";
        Address = address ?? (abstractNamespace ? "@" + name : Path.Combine(Path.GetTempPath(), name + ".sock"));
        _socket.Bind(new UnixDomainSocketEndPoint(Address.StartsWith('@') ? "\0" + Address[1..] : Address));
        _reader = Task.Run(ReadAsync);
    }

    /// <summary>The NOTIFY_SOCKET value to give the agent.</summary>
    public string Address { get; }

    public ConcurrentQueue<(DateTimeOffset At, string Message)> Messages { get; } = new();

    public IEnumerable<string> Lines => Messages.SelectMany(m => m.Message.Split('\n'));

    public int Count(string line) => Lines.Count(l => l == line);

    private async Task ReadAsync()
    {
        var buffer = new byte[4096];
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                var n = await _socket.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                Messages.Enqueue((DateTimeOffset.UtcNow, Encoding.UTF8.GetString(buffer, 0, n)));
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _socket.Dispose();
        if (!Address.StartsWith('@')) File.Delete(Address);
    }
}
