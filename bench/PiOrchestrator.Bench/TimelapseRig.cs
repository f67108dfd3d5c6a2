using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using System.Threading.Channels;
using MQTTnet;
using MQTTnet.Protocol;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Bench;

/// <summary>One evidence message the agent published on <c>containers/{id}/evidence</c>, stamped when the bench read it.</summary>
internal sealed record Stored(string ContainerId, string SessionId, string Tag, string Status, int? Sequence, long Bytes, DateTimeOffset CapturedAt, long At);

/// <summary>Every evidence message of every container, in a queue per container.</summary>
internal sealed class EvidenceFeed : IAsyncDisposable
{
    private readonly IMqttClient _client;
    private readonly Dictionary<string, Channel<Stored>> _queues = [];

    private EvidenceFeed(IMqttClient client) => _client = client;

    public static async Task<EvidenceFeed> StartAsync(int brokerPort, IEnumerable<string> containers)
    {
        var client = await BenchTools.ConnectMqttAsync(brokerPort, "bench-evidence-" + Environment.ProcessId);
        var feed = new EvidenceFeed(client);
        foreach (var c in containers) feed._queues[c] = Channel.CreateUnbounded<Stored>();
        client.ApplicationMessageReceivedAsync += e =>
        {
            var at = Stopwatch.GetTimestamp();
            var json = JsonDocument.Parse(e.ApplicationMessage.Payload).RootElement;
            var container = e.ApplicationMessage.Topic.Split('/')[1];
            var stored = new Stored(container,
                json.TryGetProperty("session_id", out var s) ? s.GetString() ?? "" : "",
                json.GetProperty("capture_tag").GetString()!, json.GetProperty("status").GetString()!,
                json.TryGetProperty("sequence", out var q) ? q.GetInt32() : null,
                json.TryGetProperty("image_size_bytes", out var b) ? b.GetInt64() : 0,
                json.TryGetProperty("captured_at", out var c) ? c.GetDateTimeOffset() : DateTimeOffset.MinValue, at);
            if (feed._queues.TryGetValue(container, out var queue)) queue.Writer.TryWrite(stored);
            return Task.CompletedTask;
        };
        await client.SubscribeAsync("containers/+/evidence", MqttQualityOfServiceLevel.AtLeastOnce);
        return feed;
    }

    /// <summary>The container's next message with this tag; those before it (other tags) are handed to <paramref name="skipped"/>.</summary>
    public async Task<Stored> NextAsync(string container, string tag, List<Stored>? skipped = null)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (true)
        {
            var message = await _queues[container].Reader.ReadAsync(timeout.Token);
            if (message.Tag == tag) return message;
            skipped?.Add(message);
        }
    }

    /// <summary>Whatever the container's queue holds now.</summary>
    public List<Stored> Drain(string container)
    {
        var list = new List<Stored>();
        while (_queues[container].Reader.TryRead(out var m)) list.Add(m);
        return list;
    }

    public ValueTask DisposeAsync()
    {
        _client.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>A TCP relay that counts the bytes each way: what the agent's uploads cost on the wire, headers and all.</summary>
internal sealed class CountingProxy : IDisposable
{
    private readonly TcpListener _listener;
    private readonly int _target;
    private readonly CancellationTokenSource _stop = new();
    private long _up;
    private long _down;

    public CountingProxy(int target)
    {
        _target = target;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _ = AcceptAsync();
    }

    public int Port { get; }
    /// <summary>Agent → S3 and S3 → agent bytes so far.</summary>
    public (long Up, long Down) Bytes => (Interlocked.Read(ref _up), Interlocked.Read(ref _down));

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient inbound;
            try { inbound = await _listener.AcceptTcpClientAsync(_stop.Token); }
            catch (Exception) { return; }
            _ = RelayAsync(inbound);
        }
    }

    private async Task RelayAsync(TcpClient inbound)
    {
        using var _ = inbound;
        using var outbound = new TcpClient();
        try
        {
            await outbound.ConnectAsync(IPAddress.Loopback, _target);
            await Task.WhenAny(CopyAsync(inbound.GetStream(), outbound.GetStream(), up: true), CopyAsync(outbound.GetStream(), inbound.GetStream(), up: false));
        }
        catch (Exception) { }
    }

    private async Task CopyAsync(NetworkStream from, NetworkStream to, bool up)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            int n;
            while ((n = await from.ReadAsync(buffer, _stop.Token)) > 0)
            {
                await to.WriteAsync(buffer.AsMemory(0, n), _stop.Token);
                if (up) Interlocked.Add(ref _up, n);
                else Interlocked.Add(ref _down, n);
            }
        }
        catch (Exception) { }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
    }
}

internal static class TimelapseTools
{
    public static string Invariant(double value, string format = "0.##") => value.ToString(format, CultureInfo.InvariantCulture);

    /// <summary>Waits until the agent's upload queue is empty.</summary>
    public static async Task WaitUploadsDrainedAsync(int port)
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var status = await http.GetFromJsonAsync<JsonElement>("/api/v1/status");
            if (status.GetProperty("data").GetProperty("upload").GetProperty("queue_depth").GetInt64() == 0) return;
            if (deadline.Elapsed > TimeSpan.FromMinutes(3)) throw new TimeoutException("uploads not drained");
            await Task.Delay(200);
        }
    }

    /// <summary>
    /// Bytes of the agent's store in use (pages not on the free list, WAL content included), read through a read-only
    /// connection while the agent runs: the file itself grows in steps and keeps its WAL, so its size says little.
    /// </summary>
    public static long StoreBytesInUse(string dataDirectory)
    {
        using var db = Open(dataDirectory);
        return Scalar(db, "PRAGMA page_count") - Scalar(db, "PRAGMA freelist_count") is var pages ? pages * Scalar(db, "PRAGMA page_size") : 0;
    }

    /// <summary>Mean JPEG and thumbnail bytes of a session's DURING_OPEN frames, as stored.</summary>
    public static (double Jpeg, double Thumbnail) FrameBytesStored(string dataDirectory, string sessionId)
    {
        using var db = Open(dataDirectory);
        using var command = db.CreateCommand();
        command.CommandText = """
            SELECT avg(length(b.data)), avg(length(t.data)) FROM evidence e
            LEFT JOIN evidence_bytes b ON b.evidence_id = e.evidence_id LEFT JOIN thumbnails t ON t.evidence_id = e.evidence_id
            WHERE e.session_id = $s AND e.capture_tag = 'DURING_OPEN'
            """;
        command.Parameters.AddWithValue("$s", sessionId);
        using var reader = command.ExecuteReader();
        reader.Read();
        return (reader.IsDBNull(0) ? 0 : reader.GetDouble(0), reader.IsDBNull(1) ? 0 : reader.GetDouble(1));
    }

    private static Microsoft.Data.Sqlite.SqliteConnection Open(string dataDirectory)
    {
        var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(dataDirectory, "evidence.db")};Mode=ReadOnly;Pooling=False");
        db.Open();
        return db;
    }

    private static long Scalar(Microsoft.Data.Sqlite.SqliteConnection db, string sql)
    {
        using var command = db.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// One test camera per container at <paramref name="size"/> over an 8 Mbit/s link, each container taking a frame
    /// every its interval while open; the settings that say so are added to <paramref name="settings"/>.
    /// </summary>
    public static async Task<List<FakeCamera>> StartCamerasAsync(
        string[] containers, double[] intervals, FrameSize size, string cameraPrefix, Dictionary<string, string> settings)
    {
        var cameras = new List<FakeCamera>();
        for (var i = 0; i < containers.Length; i++)
        {
            var camera = await FakeCamera.StartAsync(seed: i + 1);
            camera.FrameSize = size;
            camera.LinkBitsPerSecond = 8_000_000;
            cameras.Add(camera);
            settings[$"PIORCH_Containers__{i}__Id"] = containers[i];
            settings[$"PIORCH_Containers__{i}__CameraId"] = $"{cameraPrefix}{i}";
            settings[$"PIORCH_Containers__{i}__CameraUrl"] = camera.Url;
            settings[$"PIORCH_Containers__{i}__FrameSize"] = size.ToString();
            settings[$"PIORCH_Containers__{i}__DuringOpenIntervalSeconds"] = intervals[i].ToString(CultureInfo.InvariantCulture);
        }
        return cameras;
    }

    public static string LoadAverage() => File.ReadAllText("/proc/loadavg").Split(' ').Take(3).Aggregate((a, b) => a + " " + b);
}
