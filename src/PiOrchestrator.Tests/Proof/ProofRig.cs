using System.Security.Cryptography;
using Microsoft.Data.Sqlite;
using PiOrchestrator.Store;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Proof;

/// <summary>How big the proof runs are: short in CI, full with PROOF_SCALE=long (scripts/proof.sh --long).</summary>
public static class ProofScale
{
    public static bool Long => Environment.GetEnvironmentVariable("PROOF_SCALE") == "long";

    public static int Pick(int ci, int full) => Long ? full : ci;
}

/// <summary>
/// The built agent as a process with a real mosquitto, s3rver and a fake camera, driven by door cycles published
/// to the broker, and the integrity audit every fault test ends with.
/// </summary>
public sealed class ProofRig : IAsyncDisposable
{
    public const string Bucket = "proof-evidence";
    public const string Topic = "containers/ctr-001/door";

    private readonly TempDirectory _data = new();
    private readonly Dictionary<string, string> _extra;

    private readonly string? _dataDirectory;

    private ProofRig(MosquittoBroker broker, S3Server s3, FakeCamera camera, Dictionary<string, string> extra, string? dataDirectory) =>
        (Broker, S3, Camera, _extra, _dataDirectory) = (broker, s3, camera, extra, dataDirectory);

    public MosquittoBroker Broker { get; }
    public S3Server S3 { get; }
    public FakeCamera Camera { get; }
    public AgentProcess Agent { get; private set; } = null!;
    public string DataDirectory => _dataDirectory ?? _data.Path;
    public int Restarts { get; private set; }

    public static async Task<ProofRig> StartAsync(Dictionary<string, string>? extra = null, string? dataDirectory = null)
    {
        var rig = new ProofRig(await MosquittoBroker.StartAsync(), await S3Server.StartAsync(), await FakeCamera.StartAsync(), extra ?? [], dataDirectory);
        rig.Agent = rig.StartAgent();
        await rig.Agent.WaitReadyAsync();
        await rig.WaitMqttAsync();
        return rig;
    }

    private AgentProcess StartAgent()
    {
        var environment = new Dictionary<string, string>
        {
            ["PIORCH_Storage__DataDirectory"] = DataDirectory,
            ["PIORCH_Mqtt__Host"] = "127.0.0.1",
            ["PIORCH_Mqtt__Port"] = Broker.Port.ToString(),
            // Fixed: the broker keeps the session (and queues door events) while the agent is down.
            ["PIORCH_Mqtt__ClientId"] = "proof-agent-" + Path.GetFileName(_data.Path),
            ["PIORCH_Mqtt__ReconnectMaxSeconds"] = "2",
            ["PIORCH_Doors__MergeWindowMs"] = "0",
            ["PIORCH_Capture__AfterCloseDelayMs"] = "20",
            // The product's deadlines (derived from the camera's timings): the camera here is healthy unless a test
            // says otherwise, so a capture that fails is one a kill cut, never one a loaded machine made slow.
            ["PIORCH_S3__Endpoint"] = S3.Endpoint,
            ["PIORCH_S3__Bucket"] = Bucket,
            ["PIORCH_S3__AccessKey"] = S3Server.AccessKey,
            ["PIORCH_S3__SecretKey"] = S3Server.SecretKey,
            ["PIORCH_S3__RetryBaseDelayMs"] = "100",
            ["PIORCH_S3__BreakSeconds"] = "1",
            ["PIORCH_Containers__0__Id"] = "ctr-001",
            ["PIORCH_Containers__0__CameraId"] = "espcam-a1b2c3",
            ["PIORCH_Containers__0__CameraUrl"] = Camera.Url,
            ["PIORCH_Containers__0__FlushFrames"] = "0",
        };
        foreach (var (key, value) in _extra) environment[key] = value;
        return AgentProcess.Start(environment);
    }

    public async Task WaitMqttAsync() =>
        await Eventually.UntilAsync(async () => (await Agent.GetDataAsync("/api/v1/status")).GetProperty("mqtt").GetProperty("connected").GetBoolean(),
            TimeSpan.FromSeconds(30), "the agent to connect to the broker");

    /// <summary>kill -9, then start again on the same data directory (events published meanwhile wait in the broker).</summary>
    public async Task KillAndRestartAsync()
    {
        await Agent.KillAsync();
        await Agent.DisposeAsync();
        Restarts++;
        Agent = StartAgent();
        await Agent.WaitReadyAsync();
    }

    private readonly List<string> _published = [];
    private int _cycles;

    /// <summary>
    /// Publishes an opened/closed pair with event ids (audited later), runs the optional faults between or after
    /// the two events, then waits for the cycle's session to complete: a real door stays shut for longer than the
    /// AFTER_CLOSE delay, so the next cycle starts once this one is done.
    /// </summary>
    public async Task DoorCycleAsync(Func<Task>? betweenEvents = null, Func<Task>? afterEvents = null)
    {
        var cycle = ++_cycles;
        _cycleStart = (CountRows(), CountRows("upload_status = 'uploaded'"));
        await PublishEventAsync("opened", $"proof-{cycle}-opened");
        if (betweenEvents is not null) await betweenEvents();
        await PublishEventAsync("closed", $"proof-{cycle}-closed");
        if (afterEvents is not null) await afterEvents();
        try
        {
            await Eventually.UntilAsync(() => Task.FromResult(CountSessions("complete") >= cycle), TimeSpan.FromSeconds(60), $"door cycle {cycle} to complete");
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"{ex.Message}\n{Agent.Output[^Math.Min(6000, Agent.Output.Length)..]}\nbroker:\n{Broker.Log[^Math.Min(3000, Broker.Log.Length)..]}", ex);
        }
    }

    private (int Rows, int Uploaded) _cycleStart;

    /// <summary>
    /// Waits until the agent is at a chosen point of the cycle in progress, counted from its last published event:
    /// 0 at once, 1 that event received, 2 its capture stored, 3 that capture uploaded. A fault thrown in there
    /// lands mid-receive, mid-capture or mid-upload by construction, not by a guessed sleep.
    /// </summary>
    public Task ReachAsync(int moment)
    {
        var lastEvent = _published[^1];
        var captures = lastEvent.EndsWith("-closed", StringComparison.Ordinal) ? 2 : 1;
        // Moments 2 and 3 include 1: the agent remembers an event id just after it has started the capture (the
        // camera request comes first), so a fast capture can be stored before the id is. A kill in that gap leaves
        // the session, which holds the event, without the id the audit looks for.
        Func<bool> received = () => ReceivedEventIds().Contains(lastEvent);
        Func<bool> reached = moment switch
        {
            0 => () => true,
            1 => received,
            2 => () => CountRows() >= _cycleStart.Rows + captures && received(),
            _ => () => CountRows("upload_status = 'uploaded'") >= _cycleStart.Uploaded + captures && received(),
        };
        return Eventually.UntilAsync(() => Task.FromResult(reached()), TimeSpan.FromSeconds(30), $"moment {moment} after {lastEvent}");
    }

    private async Task PublishEventAsync(string kind, string eventId)
    {
        _published.Add(eventId);
        await Broker.PublishAsync(Topic, "{\"event\":\"" + kind + "\",\"event_id\":\"" + eventId + "\"}");
    }

    /// <summary>Event ids the agent recorded as received (its de-duplication table).</summary>
    public HashSet<string> ReceivedEventIds()
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT event_id FROM door_events";
        using var reader = command.ExecuteReader();
        var ids = new HashSet<string>();
        while (reader.Read()) ids.Add(reader.GetString(0));
        return ids;
    }

    /// <summary>Nothing waiting for upload.</summary>
    public Task WaitUploadedAsync() =>
        Eventually.UntilAsync(async () => (await Agent.GetDataAsync("/api/v1/status")).GetProperty("upload").GetProperty("queue_depth").GetInt64() == 0,
            TimeSpan.FromSeconds(30), "the upload queue to drain");

    /// <summary>Every cycle a complete session and nothing left to upload.</summary>
    public async Task WaitSettledAsync(int sessions, TimeSpan timeout)
    {
        var seen = "";
        try
        {
            await Eventually.UntilAsync(async () =>
            {
                var queue = (await Agent.GetDataAsync("/api/v1/status")).GetProperty("upload").GetProperty("queue_depth").GetInt64();
                var (complete, all) = (CountSessions("complete"), CountSessions(null));
                var unsettled = CountRows("status <> 'failed' AND upload_status <> 'uploaded'");
                seen = $"{complete} complete of {all} sessions, {CountRows()} rows, {unsettled} not uploaded, queue {queue}";
                return queue == 0 && complete >= sessions && all == complete && unsettled == 0;
            }, timeout, $"{sessions} complete sessions, all uploaded");
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"{ex.Message}; last seen: {seen}\n{Agent.Output[^Math.Min(4000, Agent.Output.Length)..]}", ex);
        }
    }

    public sealed record Row(string EvidenceId, string SessionId, string Tag, string Status, string? FailureReason, string? Sha256, string? ObjectKey, string UploadStatus, byte[]? Bytes);

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = Path.Combine(DataDirectory, "evidence.db"), Mode = SqliteOpenMode.ReadOnly, Pooling = false,
        }.ToString());
        connection.Open();
        return connection;
    }

    public int CountSessions(string? phase)
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = phase is null ? "SELECT count(*) FROM sessions" : "SELECT count(*) FROM sessions WHERE phase = $p";
        if (phase is not null) command.Parameters.AddWithValue("$p", phase);
        return Convert.ToInt32(command.ExecuteScalar());
    }

    /// <summary>Evidence rows, counted in SQL: polled often, it must not read every JPEG as <see cref="ReadRows"/> does.</summary>
    public int CountRows(string where = "1")
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT count(*) FROM evidence WHERE {where}";
        return Convert.ToInt32(command.ExecuteScalar());
    }

    public List<Row> ReadRows()
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT e.evidence_id, e.session_id, e.capture_tag, e.status, e.failure_reason, e.sha256, e.object_key, e.upload_status, b.data
            FROM evidence e LEFT JOIN evidence_bytes b ON b.evidence_id = e.evidence_id
            """;
        using var reader = command.ExecuteReader();
        var rows = new List<Row>();
        while (reader.Read())
            rows.Add(new Row(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3),
                reader.IsDBNull(4) ? null : reader.GetString(4), reader.IsDBNull(5) ? null : reader.GetString(5),
                reader.IsDBNull(6) ? null : reader.GetString(6), reader.GetString(7), reader.IsDBNull(8) ? null : (byte[])reader[8]));
        return rows;
    }

    /// <summary>
    /// The integrity audit: each session has exactly one row per tag; every captured row is a valid JPEG whose bytes
    /// are in S3 at its object_key with its sha256; every failed row says why; the bucket holds nothing else.
    /// </summary>
    public async Task<List<Row>> AuditAsync(int expectedSessions)
    {
        Assert.Equal(expectedSessions, CountSessions("complete"));
        Assert.Equal(expectedSessions, CountSessions(null));
        var received = ReceivedEventIds();
        Assert.DoesNotContain(_published, id => !received.Contains(id));
        var rows = ReadRows();
        foreach (var session in rows.GroupBy(r => r.SessionId))
        {
            Assert.Single(session, r => r.Tag == "BEFORE_OPEN");
            Assert.Single(session, r => r.Tag == "AFTER_CLOSE");
        }
        var objects = await S3.ListAsync(Bucket);
        var captured = rows.Where(r => r.Status == "captured").ToList();
        Assert.Equal(captured.Select(r => r.ObjectKey).Order(), objects.Select(o => o.Key).Order());
        foreach (var row in captured)
        {
            Assert.Equal("uploaded", row.UploadStatus);
            var stored = await S3.ReadAsync(Bucket, row.ObjectKey!);
            Assert.Equal(row.Sha256, Convert.ToHexStringLower(SHA256.HashData(stored)));
            Assert.True(PiOrchestrator.Jpeg.JpegCodec.Check(stored, out _).Ok, $"{row.ObjectKey} is not a whole JPEG");
            if (row.Bytes is not null) Assert.Equal(row.Sha256, Convert.ToHexStringLower(SHA256.HashData(row.Bytes)));
        }
        Assert.All(rows.Where(r => r.Status == "failed"), r => Assert.False(string.IsNullOrWhiteSpace(r.FailureReason)));
        return rows;
    }

    public async ValueTask DisposeAsync()
    {
        await Agent.DisposeAsync();
        await Camera.DisposeAsync();
        await S3.DisposeAsync();
        await Broker.DisposeAsync();
        _data.Dispose();
    }
}
