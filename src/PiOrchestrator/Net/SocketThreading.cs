using System.Net;
using System.Net.Sockets;
using System.Reflection;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;

namespace PiOrchestrator.Net;

/// <summary>
/// How the agent's sockets use threads. .NET normally hands every socket completion from its epoll thread to the
/// thread pool, and Kestrel hands the request on again and queues the send to a third: a dashboard poll costs
/// three thread hand-offs, which is most of what separates Kestrel from nginx on the 304 path (bench/RESULTS.md).
/// The agent runs socket completions inline on the socket engine's threads (one per core) and sends a response
/// from the thread that wrote it. Safe because only short, non-blocking transport code runs on those threads:
/// Kestrel still hands every request to the thread pool, and every outgoing connection (camera, S3, the MQTT
/// broker) resumes on the thread pool after each read or write (<see cref="ThreadPoolResumingStream"/>).
/// </summary>
public static class SocketThreading
{
    private const string InlineCompletionsVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>
    /// Turns inline socket completions on for the agent's process. Must run before its first socket exists: .NET
    /// reads the variable once, when its socket engine starts. An operator's own setting of the variable wins.
    /// </summary>
    public static void UseInlineCompletions()
    {
        // Only the agent's own process: test hosts run Program inside theirs, with their own sockets.
        if (Assembly.GetEntryAssembly() != typeof(SocketThreading).Assembly) return;
        if (Environment.GetEnvironmentVariable(InlineCompletionsVariable) is null)
            Environment.SetEnvironmentVariable(InlineCompletionsVariable, "1");
    }

    /// <summary>Whether socket completions run inline in this process (read the way .NET reads it).</summary>
    public static bool InlineCompletions => Environment.GetEnvironmentVariable(InlineCompletionsVariable) == "1";

    public static IServiceCollection AddSocketThreading(this IServiceCollection services) =>
        // With inline completions, Kestrel's send queue would only add a hand-off: the response goes out from the
        // request's own thread-pool thread instead. Without them, Kestrel's defaults.
        services.Configure<SocketTransportOptions>(transport =>
        {
            if (InlineCompletions) transport.IOQueueCount = 0;
        });

    /// <summary>
    /// <see cref="SocketsHttpHandler.ConnectCallback"/> for every outgoing HTTP client: the default TCP connect,
    /// with a stream that resumes its callers on the thread pool.
    /// </summary>
    public static ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken ct) =>
        ConnectAsync(context.DnsEndPoint, ct);

    /// <summary>A TCP connection (IPv6 and IPv4, no Nagle delay) whose callers resume on the thread pool.</summary>
    public static ValueTask<Stream> ConnectAsync(DnsEndPoint endPoint, CancellationToken ct) => ConnectAsync(endPoint, socketStream => socketStream, ct);

    /// <summary>As <see cref="ConnectAsync(DnsEndPoint, CancellationToken)"/>, with <paramref name="configure"/> run on the socket before it connects.</summary>
    public static ValueTask<Stream> ConnectAsync(DnsEndPoint endPoint, Action<Socket> configure, CancellationToken ct) =>
        ConnectAsync(endPoint, socketStream => socketStream, ct, configure);

    /// <summary>
    /// As <see cref="ConnectAsync(DnsEndPoint, CancellationToken)"/>, with <paramref name="underneath"/> put between the
    /// socket's stream and the thread-pool hop (tests put a simulated inline-completing socket there).
    /// </summary>
    internal static async ValueTask<Stream> ConnectAsync(DnsEndPoint endPoint, Func<Stream, Stream> underneath, CancellationToken ct, Action<Socket>? configure = null)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            configure?.Invoke(socket);
            await socket.ConnectAsync(endPoint, ct).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        finally
        {
            await ThreadPoolResumingStream.ToThreadPool();
        }
        return new ThreadPoolResumingStream(underneath(new NetworkStream(socket, ownsSocket: true)));
    }
}
