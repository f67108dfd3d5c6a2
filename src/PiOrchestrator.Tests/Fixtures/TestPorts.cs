using System.Net;
using System.Net.Sockets;

namespace PiOrchestrator.Tests.Fixtures;

public static class TestPorts
{
    // Below the kernel's ephemeral range (ip_local_port_range, 32768-60999 by default), from which it picks the source
    // port of every outgoing connection and the port of every bind to 0: a port taken from there and released could be
    // handed to a client socket or another listener before the server meant for it binds, and a test then talks to
    // the wrong server (seen on a loaded machine: an S3 test's PUT answered 404 by an agent). Each test process
    // starts at a random point of this range and walks it, and a port is offered only while nothing listens on it.
    private const int First = 20000, Count = 12000;
    private static int _next = Random.Shared.Next(Count);

    /// <summary>A loopback port nobody listens on right now and that the kernel does not hand out by itself.</summary>
    public static int Free()
    {
        for (var tries = 0; tries < Count; tries++)
        {
            var port = First + (int)((uint)Interlocked.Increment(ref _next) % Count);
            try
            {
                using var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
                return port;
            }
            catch (SocketException)
            {
            }
        }
        throw new InvalidOperationException($"no free loopback port in {First}-{First + Count - 1}");
    }
}

public sealed class TempDirectory : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("piorch-test-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
    }
}
