using System.Runtime.CompilerServices;

namespace PiOrchestrator.Net;

/// <summary>
/// A stream whose asynchronous reads and writes always return to their caller on the thread pool. With inline
/// socket completions (<see cref="SocketThreading"/>), a read that waited for the network completes on the socket
/// engine's thread, and without this the caller's code after the await (a JPEG check, an fsync, a SQLite write)
/// would run there too and stall every connection that thread serves. (The awaits here ignore any synchronization
/// context: the hop is to the thread pool, whoever the caller is.)
/// </summary>
public sealed class ThreadPoolResumingStream(Stream inner) : Stream
{
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = inner.ReadAsync(buffer, cancellationToken);
        // Finished without waiting: still on the caller's own thread.
        if (read.IsCompletedSuccessfully) return read.Result;
        try
        {
            return await read.ConfigureAwait(false);
        }
        finally
        {
            await ToThreadPool();
        }
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var write = inner.WriteAsync(buffer, cancellationToken);
        if (write.IsCompletedSuccessfully) return;
        try
        {
            await write.ConfigureAwait(false);
        }
        finally
        {
            await ToThreadPool();
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    // The stream under it is a socket's, which has nothing to flush: completes at once, on the caller's thread.
    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
    public override int Read(Span<byte> buffer) => inner.Read(buffer);
    public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);
    public override void Write(ReadOnlySpan<byte> buffer) => inner.Write(buffer);
    public override void Flush() => inner.Flush();
    public override bool CanRead => inner.CanRead;
    public override bool CanWrite => inner.CanWrite;
    public override bool CanSeek => false;
    public override bool CanTimeout => inner.CanTimeout;
    public override int ReadTimeout { get => inner.ReadTimeout; set => inner.ReadTimeout = value; }
    public override int WriteTimeout { get => inner.WriteTimeout; set => inner.WriteTimeout = value; }
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }

    /// <summary>Awaited, continues on a thread-pool thread if the current thread is not one (a socket thread).</summary>
    internal static ThreadPoolHop ToThreadPool() => default;

    internal readonly struct ThreadPoolHop : ICriticalNotifyCompletion
    {
        public ThreadPoolHop GetAwaiter() => this;
        public bool IsCompleted => Thread.CurrentThread.IsThreadPoolThread;
        public void GetResult() { }
        public void OnCompleted(Action continuation) => ThreadPool.QueueUserWorkItem(run => run(), continuation, preferLocal: false);
        public void UnsafeOnCompleted(Action continuation) => ThreadPool.UnsafeQueueUserWorkItem(run => run(), continuation, preferLocal: false);
    }
}
