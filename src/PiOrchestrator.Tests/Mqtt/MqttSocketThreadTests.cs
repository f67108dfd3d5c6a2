using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using MQTTnet;
using MQTTnet.Diagnostics.PacketInspection;
using MQTTnet.Protocol;
using PiOrchestrator.Hosting;
using PiOrchestrator.Mqtt;
using PiOrchestrator.Net;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Mqtt;

/// <summary>
/// The agent runs socket completions inline on .NET's socket threads (Net/SocketThreading.cs), and MQTTnet reads a
/// managed socket: MQTT work must not run on those threads. A test process does not run completions inline, so the
/// socket thread is simulated under the agent's own connection path (a real socket to a real mosquitto whose every
/// read completes on one dedicated thread, continuations inline, as .NET's socket engine does). What runs past a read
/// is observed twice: where MQTTnet has a whole packet in hand (its packet inspector, just before decoding), and
/// where the door subscription gets the message (the hand-off to the session engine, whose loop does the SQLite).
/// </summary>
public sealed class MqttSocketThreadTests
{
    private const string SocketThreadName = "simulated .NET Sockets";

    /// <summary>A socket's stream whose reads complete on one thread of its own, running their continuations inline.</summary>
    private sealed class InlineCompletingSocketStream : Stream
    {
        private readonly Stream _socket;
        private readonly BlockingCollection<Action> _completions = new();

        public InlineCompletingSocketStream(Stream socket)
        {
            _socket = socket;
            new Thread(() =>
            {
                foreach (var complete in _completions.GetConsumingEnumerable()) complete();
            }) { IsBackground = true, Name = SocketThreadName }.Start();
        }

        public static int ReadsCompleted;

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            // Not RunContinuationsAsynchronously: whoever awaits this continues on the completing thread.
            var completion = new TaskCompletionSource<int>();
            _socket.ReadAsync(buffer, cancellationToken).AsTask().ContinueWith(read =>
            {
                void Complete()
                {
                    Interlocked.Increment(ref ReadsCompleted);
                    if (read.IsCompletedSuccessfully) completion.SetResult(read.Result);
                    else if (read.IsCanceled) completion.SetCanceled();
                    else completion.SetException(read.Exception!.InnerExceptions);
                }
                // A read that ends because the stream was closed still completes, on whatever thread is here.
                try
                {
                    _completions.Add(Complete);
                }
                catch (InvalidOperationException)
                {
                    Complete();
                }
            }, TaskScheduler.Default);
            return new ValueTask<int>(completion.Task);
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
            _socket.WriteAsync(buffer, cancellationToken);

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            _socket.WriteAsync(buffer, offset, count, cancellationToken);

        public override int Read(byte[] buffer, int offset, int count) => _socket.Read(buffer, offset, count);
        public override void Write(byte[] buffer, int offset, int count) => _socket.Write(buffer, offset, count);
        public override void Flush() => _socket.Flush();
        public override Task FlushAsync(CancellationToken cancellationToken) => _socket.FlushAsync(cancellationToken);
        public override bool CanRead => true;
        public override bool CanWrite => true;
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _socket.Dispose();
                _completions.CompleteAdding();
            }
            base.Dispose(disposing);
        }
    }

    private sealed record Ran(bool OnThreadPool, string? ThreadName)
    {
        public static Ran Here() => new(Thread.CurrentThread.IsThreadPoolThread, Thread.CurrentThread.Name);
    }

    /// <summary>Stands in for the door subscription: notes where it runs and acknowledges.</summary>
    private sealed class Probe(string filter) : IMqttSubscription
    {
        public ConcurrentQueue<Ran> Handled { get; } = new();
        public string TopicFilter => filter;

        public void Handle(MqttMessage message)
        {
            Handled.Enqueue(Ran.Here());
            message.Acknowledge();
        }
    }

    /// <summary>Runs the agent's MQTT connection over <paramref name="connectTcp"/>; returns where packets were read and handled.</summary>
    private static async Task<(List<Ran> Inbound, List<Ran> Handled)> RunAsync(MosquittoBroker broker, MqttOptions options,
        Func<DnsEndPoint, CancellationToken, ValueTask<Stream>> connectTcp)
    {
        var probe = new Probe("containers/+/door");
        var inbound = new ConcurrentQueue<Ran>();
        var connection = new MqttConnection(Options.Create(options), [probe], new LoopHeartbeats(TimeProvider.System), TimeProvider.System,
            NullLogger<MqttConnection>.Instance)
        {
            ConnectTcp = connectTcp,
            ClientCreated = client => client.InspectPacketAsync += e =>
            {
                if (e.Direction == MqttPacketFlowDirection.Inbound) inbound.Enqueue(Ran.Here());
                return Task.CompletedTask;
            },
        };
        await connection.StartAsync(CancellationToken.None);
        try
        {
            await Eventually.UntilAsync(() => connection.State == MqttState.Connected, TimeSpan.FromSeconds(20), "the connection");
            using var publisher = await broker.ConnectClientAsync("probe-pub-" + Guid.NewGuid().ToString("N")[..8]);
            for (var i = 0; i < 50; i++)
                await publisher.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("containers/ctr-001/door").WithPayload("opened")
                    .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
            await Eventually.UntilAsync(() => probe.Handled.Count == 50, TimeSpan.FromSeconds(20), "50 messages handled");
        }
        finally
        {
            await connection.StopAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(20));
            connection.Dispose();
        }
        return (inbound.ToList(), probe.Handled.ToList());
    }

    private static MqttOptions PlainOptions(MosquittoBroker broker) =>
        new() { Host = "127.0.0.1", Port = broker.Port, ClientId = "probe-" + Guid.NewGuid().ToString("N")[..8] };

    [Fact]
    public async Task Without_the_thread_pool_hop_mqtt_packets_are_worked_on_by_the_socket_thread()
    {
        // The hazard, shown with the same simulated socket thread: the agent's transport minus ThreadPoolResumingStream.
        await using var broker = await MosquittoBroker.StartAsync();
        var (inbound, _) = await RunAsync(broker, PlainOptions(broker), async (endPoint, ct) =>
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(endPoint, ct);
            return new InlineCompletingSocketStream(new NetworkStream(socket, ownsSocket: true));
        });
        Assert.Contains(inbound, r => r.ThreadName == SocketThreadName);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task With_inline_socket_completions_no_mqtt_work_runs_on_the_socket_thread(bool tls)
    {
        using var certificates = tls ? await TestCertificates.CreateAsync() : null;
        await using var broker = tls ? await MosquittoBroker.StartTlsAsync(certificates!, certificates!.ServerCert) : await MosquittoBroker.StartAsync();
        var options = PlainOptions(broker);
        if (tls)
        {
            options.Host = "localhost";
            options.Port = broker.TlsPort;
            options.Tls = new MqttTlsOptions { Enabled = true, CaFile = certificates!.CaFile };
        }
        var readsBefore = Volatile.Read(ref InlineCompletingSocketStream.ReadsCompleted);

        // The agent's own connection path (SocketThreading.ConnectAsync), with the simulated socket thread under it.
        var (inbound, handled) = await RunAsync(broker, options,
            (endPoint, ct) => SocketThreading.ConnectAsync(endPoint, socket => new InlineCompletingSocketStream(socket), ct));

        Assert.True(Volatile.Read(ref InlineCompletingSocketStream.ReadsCompleted) - readsBefore >= 10, "reads went through the simulated socket thread");
        Assert.True(inbound.Count >= 50, $"{inbound.Count} inbound packets seen");
        Assert.All(inbound, r => Assert.True(r.OnThreadPool && r.ThreadName != SocketThreadName, r.ToString()));
        Assert.Equal(50, handled.Count);
        Assert.All(handled, r => Assert.True(r.OnThreadPool && r.ThreadName != SocketThreadName, r.ToString()));
    }
}
