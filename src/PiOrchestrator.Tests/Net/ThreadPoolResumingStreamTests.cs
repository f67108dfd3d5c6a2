using System.Net;
using System.Net.Sockets;
using PiOrchestrator.Net;

namespace PiOrchestrator.Tests.Net;

/// <summary>
/// Outgoing connections resume their callers on the thread pool. The agent runs socket completions inline on
/// .NET's socket threads; a test process does not, so the socket thread is simulated here by a dedicated thread
/// that completes the pending read or write (as the engine does, running continuations inline).
/// </summary>
public sealed class ThreadPoolResumingStreamTests
{
    /// <summary>A stream whose reads and writes wait until the test completes them from a thread of its own.</summary>
    private sealed class SocketThreadStream : Stream
    {
        private TaskCompletionSource<int>? _pending;

        /// <summary>Bytes a read finds already there (completes at once).</summary>
        public byte[]? Ready { get; set; }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (Ready is { } ready)
            {
                ready.CopyTo(buffer);
                return ValueTask.FromResult(ready.Length);
            }
            _pending = new TaskCompletionSource<int>();
            return new ValueTask<int>(_pending.Task);
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            _pending = new TaskCompletionSource<int>();
            return new ValueTask(_pending.Task);
        }

        /// <summary>Completes the pending operation on a new, non-pool thread and returns that thread's id.</summary>
        public int CompleteOnSocketThread(Action<TaskCompletionSource<int>> complete)
        {
            var pending = _pending ?? throw new InvalidOperationException("nothing pending");
            var thread = new Thread(() => complete(pending)) { Name = "simulated socket thread" };
            thread.Start();
            thread.Join();
            return thread.ManagedThreadId;
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override void Flush() { }
        public override bool CanRead => true;
        public override bool CanWrite => true;
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }

    private sealed record Continuation(bool OnThreadPool, int ThreadId, string? ThreadName);

    /// <summary>Where the caller's code after the await runs: registered before the operation completes.</summary>
    private static Task<Continuation> ContinuationOf(ValueTask pending) =>
        ContinuationOf(pending.IsCompleted, pending.ConfigureAwait(false).GetAwaiter().OnCompleted);

    private static Task<Continuation> ContinuationOf<T>(ValueTask<T> pending) =>
        ContinuationOf(pending.IsCompleted, pending.ConfigureAwait(false).GetAwaiter().OnCompleted);

    private static Task<Continuation> ContinuationOf(bool completed, Action<Action> onCompleted)
    {
        Assert.False(completed);
        var continued = new TaskCompletionSource<Continuation>(TaskCreationOptions.RunContinuationsAsynchronously);
        onCompleted(() => continued.SetResult(new Continuation(Thread.CurrentThread.IsThreadPoolThread, Environment.CurrentManagedThreadId, Thread.CurrentThread.Name)));
        return continued.Task;
    }

    /// <summary>Completes the pending operation on a socket thread; says where the caller's code then ran.</summary>
    private static async Task<(Continuation Ran, int SocketThread)> CompleteOnSocketThreadAsync(
        SocketThreadStream socket, Task<Continuation> continuation, Action<TaskCompletionSource<int>> complete)
    {
        var socketThread = socket.CompleteOnSocketThread(complete);
        return (await continuation.WaitAsync(TimeSpan.FromSeconds(10)), socketThread);
    }

    private static void AssertOnThreadPool((Continuation Ran, int SocketThread) after)
    {
        Assert.True(after.Ran.OnThreadPool, after.Ran.ToString());
        Assert.NotEqual(after.SocketThread, after.Ran.ThreadId);
    }

    [Fact]
    public async Task Without_it_the_code_after_a_read_runs_on_the_socket_thread()
    {
        // The hazard the stream exists for, shown with the same double.
        var socket = new SocketThreadStream();
        var read = socket.ReadAsync(new byte[4]);
        var (ran, socketThread) = await CompleteOnSocketThreadAsync(socket, ContinuationOf(read), pending => pending.SetResult(4));

        Assert.Equal(socketThread, ran.ThreadId);
        Assert.False(ran.OnThreadPool);
    }

    [Fact]
    public async Task A_read_that_waited_returns_to_its_caller_on_the_thread_pool()
    {
        var socket = new SocketThreadStream();
        var stream = new ThreadPoolResumingStream(socket);
        var read = stream.ReadAsync(new byte[4]);
        AssertOnThreadPool(await CompleteOnSocketThreadAsync(socket, ContinuationOf(read), pending => pending.SetResult(3)));
        Assert.Equal(3, await read);
    }

    [Fact]
    public async Task A_write_that_waited_returns_to_its_caller_on_the_thread_pool()
    {
        var socket = new SocketThreadStream();
        var stream = new ThreadPoolResumingStream(socket);
        var write = stream.WriteAsync(new byte[64 * 1024]);
        AssertOnThreadPool(await CompleteOnSocketThreadAsync(socket, ContinuationOf(write), pending => pending.SetResult(0)));
    }

    [Fact]
    public async Task A_read_that_fails_after_waiting_reports_the_failure_on_the_thread_pool()
    {
        var socket = new SocketThreadStream();
        var stream = new ThreadPoolResumingStream(socket);
        var read = stream.ReadAsync(new byte[4]);
        AssertOnThreadPool(await CompleteOnSocketThreadAsync(socket, ContinuationOf(read),
            pending => pending.SetException(new IOException("connection reset by peer"))));
        var failure = await Assert.ThrowsAsync<IOException>(async () => await read);
        Assert.Equal("connection reset by peer", failure.Message);
    }

    [Fact]
    public async Task A_read_whose_bytes_are_already_there_completes_at_once_without_a_hand_off()
    {
        var stream = new ThreadPoolResumingStream(new SocketThreadStream { Ready = "GET "u8.ToArray() });
        var buffer = new byte[8];

        var read = stream.ReadAsync(buffer);

        Assert.True(read.IsCompletedSuccessfully);
        Assert.Equal(4, await read);
        Assert.Equal("GET "u8.ToArray(), buffer[..4]);
    }

    [Fact]
    public async Task Connect_gives_a_working_tcp_stream_and_a_refused_port_is_a_socket_error()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var server = Task.Run(async () =>
        {
            using var accepted = await listener.AcceptTcpClientAsync();
            var peer = accepted.GetStream();
            var request = new byte[5];
            await peer.ReadExactlyAsync(request);
            await peer.WriteAsync("pong:"u8.ToArray().Concat(request).ToArray());
        });

        await using (var stream = await SocketThreading.ConnectAsync(new DnsEndPoint("localhost", port), CancellationToken.None))
        {
            await stream.WriteAsync("hello"u8.ToArray());
            var answer = new byte[10];
            await stream.ReadExactlyAsync(answer);
            Assert.Equal("pong:hello", System.Text.Encoding.ASCII.GetString(answer));
        }
        await server.WaitAsync(TimeSpan.FromSeconds(10));

        listener.Stop();
        var refused = await Assert.ThrowsAsync<SocketException>(async () =>
            await SocketThreading.ConnectAsync(new DnsEndPoint("127.0.0.1", port), CancellationToken.None));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
    }
}
