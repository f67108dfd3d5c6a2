using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace PiOrchestrator.Tests.Fixtures;

// esp-idf components/esp_http_server as the camera runs it: one task, select() over the listening socket and the open
// sessions, each request read, handled and answered before the next is looked at.
public sealed partial class FakeCamera
{
    private sealed class Session(Socket socket)
    {
        public Socket Socket { get; } = socket;
        public byte[] Buffer { get; } = new byte[8192];
        public int Count { get; set; }
        public Task<int>? Read { get; set; }
    }

    private readonly record struct Request(string Method, string Path, string Query, int HeadLength, int BodyLength);

    private readonly List<Session> _sessions = [];

    private async Task RunAsync(CancellationToken stop)
    {
        Task<Socket>? accept = null;
        var stopped = Task.Delay(Timeout.Infinite, stop);
        try
        {
            while (!stop.IsCancellationRequested)
            {
                // httpd_main.c httpd_server(): the listening socket joins select() only while httpd_is_sess_available()
                // (lru_purge_enable is false), so with every socket taken new connections wait in the backlog.
                if (accept is null && _sessions.Count < MaxOpenSockets)
                    accept = _listener.AcceptAsync(stop).AsTask();
                // httpd_sess.c httpd_sess_pending: bytes already read past the last request are served first.
                var ready = _sessions.FirstOrDefault(s => s.Count > 0);
                if (ready is null)
                {
                    foreach (var s in _sessions) s.Read ??= s.Socket.ReceiveAsync(s.Buffer.AsMemory(), SocketFlags.None, stop).AsTask();
                    var waits = new List<Task>(_sessions.Count + 2) { stopped };
                    if (accept is not null) waits.Add(accept);
                    waits.AddRange(_sessions.Select(s => s.Read!));
                    var done = await Task.WhenAny(waits);
                    if (done == stopped) break;
                    if (done == accept)
                    {
                        accept = null;
                        Open(await (Task<Socket>)done);
                        continue;
                    }
                    ready = _sessions.First(s => s.Read == done);
                    ready.Read = null;
                    var received = done.IsCompletedSuccessfully ? ((Task<int>)done).Result : 0;
                    // A client that closed an idle keep-alive connection: select() reports it, recv() gives 0, the session goes.
                    if (received == 0)
                    {
                        Close(ready);
                        continue;
                    }
                    ready.Count = received;
                }
                if (!await ServeOneAsync(ready, stop)) Close(ready);
            }
        }
        catch (Exception ex) when (stop.IsCancellationRequested && ex is OperationCanceledException or ObjectDisposedException or SocketException)
        {
        }
        finally
        {
            foreach (var s in _sessions.ToList()) Close(s);
        }
    }

    private void Open(Socket socket)
    {
        socket.NoDelay = true;
        _sessions.Add(new Session(socket));
        Interlocked.Increment(ref _openSockets);
    }

    private void Close(Session session)
    {
        if (!_sessions.Remove(session)) return;
        Interlocked.Decrement(ref _openSockets);
        session.Read?.ContinueWith(t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted);
        try
        {
            // Unread bytes would turn the close into a reset that can discard the answer just sent; the device's lwIP
            // does the same, but a test must see the answer, so what has arrived is read first.
            var sink = new byte[4096];
            while (session.Socket.Available > 0 && session.Socket.Receive(sink) > 0) { }
            session.Socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
        session.Socket.Dispose();
    }

    /// <summary>Reads one request, answers it; false when the session is to be closed (httpd_sess_process failed).</summary>
    private async Task<bool> ServeOneAsync(Session session, CancellationToken stop)
    {
        try
        {
            Request request;
            while (true)
            {
                var (verdict, parsed) = ParseHead(session.Buffer.AsSpan(0, session.Count));
                if (verdict == 0)
                {
                    request = parsed;
                    break;
                }
                if (verdict > 0) return await SendErrorAsync(session, verdict, stop);
                if (session.Count == session.Buffer.Length) return await SendErrorAsync(session, 431, stop);
                // httpd_parse.c read_block: each recv() waits up to recv_wait_timeout; on timeout the 408 handler
                // answers and the socket is closed. The one task waits all that time.
                using var wait = CancellationTokenSource.CreateLinkedTokenSource(stop);
                wait.CancelAfter(ReceiveTimeout);
                int n;
                try
                {
                    n = await session.Socket.ReceiveAsync(session.Buffer.AsMemory(session.Count), SocketFlags.None, wait.Token);
                }
                catch (OperationCanceledException) when (!stop.IsCancellationRequested)
                {
                    return await SendErrorAsync(session, 408, stop);
                }
                if (n == 0) return false;
                session.Count += n;
            }
            var keep = await RouteAsync(session, request, stop);
            Consume(session, request.HeadLength);
            // httpd_parse.c httpd_req_delete: whatever body the handler left unread is read and dropped.
            for (var left = request.BodyLength; keep && left > 0;)
            {
                var take = Math.Min(left, session.Count);
                Consume(session, take);
                left -= take;
                if (left == 0) break;
                var n = await session.Socket.ReceiveAsync(session.Buffer.AsMemory(), SocketFlags.None, stop);
                if (n == 0) return false;
                session.Count = n;
            }
            // Nothing here looks at Connection: close: esp_http_server keeps the socket until the client closes it.
            return keep;
        }
        catch (Exception ex) when (!stop.IsCancellationRequested && ex is SocketException or IOException or OperationCanceledException)
        {
            // A send past send_wait_timeout or to a client that left: httpd_send_all fails, the session is closed.
            return false;
        }
    }

    private static void Consume(Session session, int length)
    {
        length = Math.Min(length, session.Count);
        Buffer.BlockCopy(session.Buffer, length, session.Buffer, 0, session.Count - length);
        session.Count -= length;
    }

    private sealed record Limits(int Header, int RequestLine, bool Idf4Texts);

    /// <summary>
    /// esp-idf Kconfig HTTPD_MAX_REQ_HDR_LEN / HTTPD_MAX_URI_LEN and esp_httpd_priv.h HTTPD_SCRATCH_BUF
    /// (MAX(header, uri) up to 5.4; 5.5 reads the request line into max_uri_len, then headers into max_req_hdr_len).
    /// </summary>
    private Limits FirmwareLimits => Firmware switch
    {
        CameraFirmware.Idf44 => new(512, 512, true),
        CameraFirmware.Arduino2 => new(1024, 1024, true),
        CameraFirmware.Idf5 => new(512, 512, false),
        _ => new(1024, 512, false),
    };

    /// <summary>httpd_parse.c cb_url: a URI over HTTPD_MAX_URI_LEN is 414 whatever the scratch buffer.</summary>
    private const int MaxUriLength = 512;

    /// <summary>(0, request) when the head is complete, (-1, _) when more is needed, else the error status.</summary>
    private (int Verdict, Request Request) ParseHead(ReadOnlySpan<byte> data)
    {
        var limits = FirmwareLimits;
        var lineEnd = data.IndexOf("\r\n"u8);
        var line = lineEnd < 0 ? data : data[..lineEnd];
        var firstSpace = line.IndexOf((byte)' ');
        if (firstSpace >= 0)
        {
            var rest = line[(firstSpace + 1)..];
            var uriLength = rest.IndexOf((byte)' ') is var end and >= 0 ? end : rest.Length;
            if (uriLength > MaxUriLength) return (414, default);
        }
        // httpd_parse.c parse_block: the scratch buffer filled while still in the request line is 414, in the headers 431.
        if (lineEnd < 0) return (data.Length > limits.RequestLine ? 414 : -1, default);
        if (lineEnd + 2 > limits.RequestLine) return (414, default);
        var headers = data[(lineEnd + 2)..];
        var blank = lineEnd + 2 == data.Length ? -1 : data[lineEnd..].IndexOf("\r\n\r\n"u8);
        if (blank < 0) return (headers.Length > limits.Header ? 431 : -1, default);
        var headLength = lineEnd + blank + 4;
        if (headLength - (lineEnd + 2) > limits.Header) return (431, default);

        var parts = Encoding.ASCII.GetString(line).Split(' ');
        if (parts.Length != 3) return (400, default);
        // httpd_parse.c verify_url: HTTP/1.0 and HTTP/1.1 only.
        if (parts[2] is not ("HTTP/1.1" or "HTTP/1.0")) return (505, default);
        var target = parts[1];
        var question = target.IndexOf('?');
        var bodyLength = 0;
        foreach (var header in Encoding.ASCII.GetString(data[(lineEnd + 2)..headLength]).Split("\r\n"))
            if (header.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
                bodyLength = int.TryParse(header["Content-Length:".Length..].Trim(), out var length) ? length : 0;
        return (0, new Request(parts[0], question < 0 ? target : target[..question], question < 0 ? "" : target[(question + 1)..], headLength, bodyLength));
    }

    /// <summary>httpd_txrx.c httpd_resp_send_err with no custom handler: the status, a fixed text, then the socket is closed.</summary>
    private async Task<bool> SendErrorAsync(Session session, int status, CancellationToken stop)
    {
        await SendStatusAsync(session, status, stop);
        return false;
    }

    private Task SendStatusAsync(Session session, int status, CancellationToken stop)
    {
        var idf4 = FirmwareLimits.Idf4Texts;
        var (line, text) = status switch
        {
            400 => ("400 Bad Request", idf4 ? "Server unable to understand request due to invalid syntax" : "Bad request syntax"),
            404 => ("404 Not Found", idf4 ? "This URI does not exist" : "Nothing matches the given URI"),
            405 => ("405 Method Not Allowed", idf4 ? "Request method for this URI is not handled by server" : "Specified method is invalid for this resource"),
            408 => ("408 Request Timeout", "Server closed this connection"),
            414 => ("414 URI Too Long", idf4 ? "URI is too long for server to interpret" : "URI is too long"),
            431 => ("431 Request Header Fields Too Large", idf4 ? "Header fields are too long for server to interpret" : "Header fields are too long"),
            505 => ("505 Version Not Supported", "HTTP version not supported by server"),
            _ => ("500 Internal Server Error", "Server has encountered an unexpected error"),
        };
        // HTTPD_TYPE_TEXT is "text/html".
        return SendWholeAsync(session, line, "text/html", [], Encoding.ASCII.GetBytes(text), stop);
    }

    /// <summary>httpd_txrx.c httpd_resp_send: status line, Content-Type, Content-Length, then the handler's headers in order.</summary>
    private async Task SendWholeAsync(Session session, string status, string contentType, (string Name, string Value)[] headers,
        ReadOnlyMemory<byte> body, CancellationToken stop, int? announced = null)
    {
        var pacer = new Pacer(this);
        var head = new StringBuilder($"HTTP/1.1 {status}\r\nContent-Type: {contentType}\r\nContent-Length: {announced ?? body.Length}\r\n");
        foreach (var (name, value) in headers) head.Append(name).Append(": ").Append(value).Append("\r\n");
        head.Append("\r\n");
        await SendAsync(session, Encoding.ASCII.GetBytes(head.ToString()), pacer, stop);
        await SendAsync(session, body, pacer, stop);
    }

    /// <summary>httpd_txrx.c httpd_resp_send_chunk: the first call sends the head with Transfer-Encoding: chunked; each call one "%lx\r\n" chunk.</summary>
    private sealed class ChunkedAnswer(FakeCamera camera, Session session, string contentType, (string Name, string Value)[] headers)
    {
        private readonly Pacer _pacer = new(camera);
        private bool _headSent;

        public async Task SendChunkAsync(ReadOnlyMemory<byte> data, CancellationToken stop)
        {
            if (!_headSent)
            {
                var head = new StringBuilder($"HTTP/1.1 200 OK\r\nContent-Type: {contentType}\r\nTransfer-Encoding: chunked\r\n");
                foreach (var (name, value) in headers) head.Append(name).Append(": ").Append(value).Append("\r\n");
                head.Append("\r\n");
                await camera.SendAsync(session, Encoding.ASCII.GetBytes(head.ToString()), _pacer, stop);
                _headSent = true;
            }
            await camera.SendAsync(session, Encoding.ASCII.GetBytes($"{data.Length:x}\r\n"), _pacer, stop);
            await camera.SendAsync(session, data, _pacer, stop);
            await camera.SendAsync(session, "\r\n"u8.ToArray(), _pacer, stop);
        }
    }

    /// <summary>Spreads an answer over time at <see cref="LinkBitsPerSecond"/>, the Wi-Fi link's rate.</summary>
    private sealed class Pacer(FakeCamera camera)
    {
        private readonly long _started = Stopwatch.GetTimestamp();
        private long _sent;

        public int Slice(int remaining)
        {
            var rate = camera.LinkBitsPerSecond;
            // About 10 ms of the link per send, never below one TCP segment.
            return rate <= 0 ? remaining : (int)Math.Min(remaining, Math.Max(1460, rate / 8 / 100));
        }

        public async Task AfterAsync(int sent, CancellationToken stop)
        {
            _sent += sent;
            var rate = camera.LinkBitsPerSecond;
            if (rate <= 0) return;
            var due = TimeSpan.FromSeconds(_sent * 8.0 / rate) - Stopwatch.GetElapsedTime(_started);
            if (due > TimeSpan.Zero) await Task.Delay(due, stop);
        }
    }

    private async Task SendAsync(Session session, ReadOnlyMemory<byte> data, Pacer pacer, CancellationToken stop)
    {
        while (!data.IsEmpty)
        {
            var slice = pacer.Slice(data.Length);
            // SO_SNDTIMEO: a client that stops reading fails the send after send_wait_timeout.
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(stop);
            wait.CancelAfter(SendTimeout);
            var sent = await session.Socket.SendAsync(data[..slice], SocketFlags.None, wait.Token);
            data = data[sent..];
            await pacer.AfterAsync(sent, stop);
        }
    }

    /// <summary>Waits <paramref name="delay"/>; false as soon as the client closes its connection.</summary>
    private static async Task<bool> WaitUnlessClientLeavesAsync(Session session, TimeSpan delay, CancellationToken stop)
    {
        using var done = CancellationTokenSource.CreateLinkedTokenSource(stop);
        var timer = Task.Delay(delay, done.Token);
        var peek = session.Socket.ReceiveAsync(new byte[1], SocketFlags.Peek, done.Token).AsTask();
        var left = await Task.WhenAny(timer, peek) == peek && (!peek.IsCompletedSuccessfully || peek.Result == 0);
        // A peek that saw bytes is a client still there that sent more (a pipelined request): the timer still runs.
        if (!left && !timer.IsCompleted) await Task.WhenAny(timer);
        done.Cancel();
        await Task.WhenAll(timer, peek).ContinueWith(_ => { }, TaskScheduler.Default);
        stop.ThrowIfCancellationRequested();
        return !left;
    }
}
