using System.Diagnostics;
using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.Json;
using PiOrchestrator.Evidence;
using PiOrchestrator.Tests.Fixtures;
using Xunit.Abstractions;

namespace PiOrchestrator.Tests.Proof;

/// <summary>
/// Session exports as any LAN peer may ask for them (no key), against the agent as a process: a hundred at once stay
/// within a Pi's memory (peak RSS from /proc) while the ones past the cap are told when to come back, and with the
/// photos aged out of the Pi, S3 sends each object once however many exports want it (bytes counted on the wire).
/// </summary>
[Trait("Agent", "Process")]
public sealed class ExportFloodTests(ITestOutputHelper output)
{
    private const int Exports = 100;

    [Fact]
    public async Task A_hundred_concurrent_exports_of_a_10_MB_session_stream_in_bounded_memory_and_those_past_the_cap_get_503_with_retry_after()
    {
        using var data = new TempDirectory();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var camera = await LargeFrameCameraAsync();
        var environment = AgentProcess.OneContainerEnvironment(data.Path, broker, camera, clientIdPrefix: "piorch-export-flood");
        environment["PIORCH_Capture__FlushFrames"] = "0";
        environment["PIORCH_Capture__AfterCloseDelayMs"] = "50";
        await using var agent = AgentProcess.Start(environment);
        await agent.WaitReadyAsync();
        await agent.WaitForOutputAsync("MQTT connected");
        var (sessionId, sessionBytes) = await DoorCycleAsync(broker, agent);
        var path = $"/api/v1/sessions/{sessionId}/export";
        var peakBefore = ProcFs.PeakRssBytes(agent.ProcessId);

        // The cap, deterministically: exports whose reader stopped reading hold their slots (a 64 KB receive window
        // and the kernel's send buffer take far less than the 10 MB zip), and the next export is refused.
        using var slow = Client(agent, "127.0.0.2", receiveBuffer: 64 * 1024);
        var holding = new List<HttpResponseMessage>();
        for (var i = 0; i < ExportSlots.Concurrent; i++)
        {
            var response = await slow.GetAsync(path, HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            holding.Add(response);
        }
        using (var refused = await agent.Http.GetAsync(path))
            await AssertBusyAsync(refused);
        using (var scratch = new TempDirectory())
            foreach (var response in holding)
                using (response)
                    await SaveAndCheckAsync(response, scratch.Path);

        var cpuBefore = ProcFs.CpuTime(agent.ProcessId);
        var clock = Stopwatch.StartNew();
        using var flood = Client(agent, "127.0.0.3");
        using var zips = new TempDirectory();
        var answers = await Task.WhenAll(Enumerable.Range(0, Exports).Select(async i =>
        {
            using var response = await flood.GetAsync(path, HttpCompletionOption.ResponseHeadersRead);
            if (response.StatusCode == HttpStatusCode.OK) await SaveAndCheckAsync(response, zips.Path, $"export-{i}.zip");
            else await AssertBusyAsync(response);
            return response.StatusCode;
        }));
        var elapsed = clock.Elapsed;
        var cpu = ProcFs.CpuTime(agent.ProcessId) - cpuBefore;
        var peak = ProcFs.PeakRssBytes(agent.ProcessId);
        var served = answers.Count(s => s == HttpStatusCode.OK);
        output.WriteLine($"{Exports} concurrent exports of a {sessionBytes / 1e6:F1} MB session: {served} served (valid zips), " +
            $"{Exports - served} refused 503 with Retry-After, in {elapsed.TotalSeconds:F1} s; agent VmHWM {peakBefore / 1048576} MB before any export, " +
            $"{peak / 1048576} MB after; agent CPU time {cpu.TotalSeconds:F1} s");

        // The first ExportSlots.Concurrent to arrive always find a free slot.
        Assert.InRange(served, ExportSlots.Concurrent, Exports);
        Assert.True(peak < ProcFs.PeakRssLimitBytes, $"peak RSS {peak / 1048576} MB");
        // A zip built in memory costs several times the session per export; streamed, the running exports together
        // cost less than one session.
        Assert.True(peak - peakBefore < sessionBytes, $"peak RSS grew {(peak - peakBefore) / 1048576} MB during the exports");
    }

    [Fact]
    public async Task With_the_photos_aged_out_of_the_Pi_many_exports_and_verify_make_S3_send_each_object_once()
    {
        using var data = new TempDirectory();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var s3 = await S3Server.StartAsync();
        await using var wire = CountingTcpProxy.Start(s3.Port);
        await using var camera = await LargeFrameCameraAsync();
        var environment = AgentProcess.OneContainerEnvironment(data.Path, broker, camera, s3, "piorch-export-s3");
        environment["PIORCH_S3__Endpoint"] = wire.Url;
        environment["PIORCH_Capture__FlushFrames"] = "0";
        environment["PIORCH_Capture__AfterCloseDelayMs"] = "50";
        // Uploaded bytes leave the Pi after about 2 s.
        environment["PIORCH_Storage__ImageTtlHours"] = "0.0005";
        environment["PIORCH_Storage__RetentionIntervalMinutes"] = "0.01";
        await using var agent = AgentProcess.Start(environment);
        await agent.WaitReadyAsync();
        await agent.WaitForOutputAsync("MQTT connected");
        var (sessionId, sessionBytes) = await DoorCycleAsync(broker, agent);
        await Eventually.UntilAsync(async () =>
            (await agent.GetDataAsync("/api/v1/status")).GetProperty("upload").GetProperty("queue_depth").GetInt64() == 0,
            TimeSpan.FromSeconds(60), "both captures uploaded");
        await Eventually.UntilAsync(() => HeldImages(data.Path) == 0, TimeSpan.FromSeconds(60), "the photos to age out of the Pi");
        var path = $"/api/v1/sessions/{sessionId}/export";

        wire.ResetCount();
        var cpuBefore = ProcFs.CpuTime(agent.ProcessId);
        using var flood = Client(agent, "127.0.0.3");
        using var zips = new TempDirectory();
        var answers = await Task.WhenAll(Enumerable.Range(0, Exports).Select(async i =>
        {
            using var response = await flood.GetAsync(path, HttpCompletionOption.ResponseHeadersRead);
            if (response.StatusCode == HttpStatusCode.OK) await SaveAndCheckAsync(response, zips.Path, $"export-{i}.zip");
            else await AssertBusyAsync(response);
            return response.StatusCode;
        }));
        // And one after another, as a claims handler retrying would.
        for (var i = 0; i < 5; i++)
        {
            var response = await Eventually.UntilAsync(async () =>
            {
                var answer = await flood.GetAsync(path, HttpCompletionOption.ResponseHeadersRead);
                if (answer.StatusCode == HttpStatusCode.OK) return answer;
                answer.Dispose();
                return null;
            }, TimeSpan.FromSeconds(30), "a free export slot");
            using (response) await SaveAndCheckAsync(response, zips.Path, $"again-{i}.zip");
        }
        var afterExports = wire.BytesFromServer;
        var verify = await agent.GetDataAsync($"/api/v1/sessions/{sessionId}/verify");
        Assert.All(verify.GetProperty("captures").EnumerateArray(), c => Assert.Equal("ok", c.GetProperty("object").GetString()));
        var cpu = ProcFs.CpuTime(agent.ProcessId) - cpuBefore;
        var peak = ProcFs.PeakRssBytes(agent.ProcessId);
        var served = answers.Count(s => s == HttpStatusCode.OK) + 5;
        output.WriteLine($"{served} exports served from S3 ({Exports - served + 5} refused 503) and one /verify: S3 sent " +
            $"{afterExports / 1e6:F1} MB for {sessionBytes / 1e6:F1} MB of objects ({wire.BytesFromServer - afterExports} B more for verify); " +
            $"agent VmHWM {peak / 1048576} MB, CPU time {cpu.TotalSeconds:F1} s");

        // Each object crossed the wire once (plus HTTP headers); without the shared read-back, once per export.
        Assert.InRange(afterExports, sessionBytes, sessionBytes + 64 * 1024);
        Assert.True(wire.BytesFromServer - afterExports < 16 * 1024, "verify read the objects again");
        Assert.True(peak < ProcFs.PeakRssLimitBytes, $"peak RSS {peak / 1048576} MB");
    }

    /// <summary>A camera whose every frame is the same ~5 MB JPEG.</summary>
    private static async Task<FakeCamera> LargeFrameCameraAsync()
    {
        var camera = await FakeCamera.StartAsync();
        camera.Mode = CameraMode.Custom;
        camera.CustomFrame = TestJpegs.MakeLarge(1);
        return camera;
    }

    /// <summary>A door cycle with two ~5 MB photos: the session's id and the bytes of its two JPEGs.</summary>
    private static async Task<(string SessionId, long Bytes)> DoorCycleAsync(MosquittoBroker broker, AgentProcess agent)
    {
        await broker.PublishAsync("containers/ctr-001/door", "opened");
        await broker.PublishAsync("containers/ctr-001/door", "closed");
        var sessionId = await Eventually.UntilAsync(async () =>
            (await agent.GetDataAsync("/api/v1/sessions?status=complete")).GetProperty("sessions").EnumerateArray()
                .Select(s => s.GetProperty("id").GetString()).FirstOrDefault(),
            TimeSpan.FromSeconds(60), "a door cycle");
        var captures = (await agent.GetDataAsync($"/api/v1/sessions/{sessionId}/evidence?include_image=false")).GetProperty("captures")
            .EnumerateArray().Where(c => c.GetProperty("status").GetString() == "captured").ToList();
        Assert.Equal(2, captures.Count);
        var bytes = captures.Sum(c => c.GetProperty("image_size_bytes").GetInt64());
        Assert.True(bytes > 9_000_000, $"the session holds {bytes} B");
        return (sessionId!, bytes);
    }

    /// <summary>503 service_unavailable in the envelope, with a Retry-After.</summary>
    private static async Task AssertBusyAsync(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.True(response.Headers.RetryAfter?.Delta is { } wait && wait > TimeSpan.Zero, "no Retry-After");
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("service_unavailable", body.RootElement.GetProperty("error").GetProperty("code").GetString());
    }

    /// <summary>Streams the zip to a file and checks it: both JPEGs in it, each matching SHA256SUMS.</summary>
    private static async Task SaveAndCheckAsync(HttpResponseMessage response, string directory, string name = "export.zip")
    {
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var file = Path.Combine(directory, name);
        await using (var target = File.Create(file))
            await response.Content.CopyToAsync(target);
        using (var zip = ZipFile.OpenRead(file))
        {
            var sums = new StreamReader(zip.GetEntry("SHA256SUMS")!.Open()).ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(2, sums.Length);
            foreach (var line in sums)
            {
                var (sha, jpeg) = (line[..64], line[66..]);
                using var entry = zip.GetEntry(jpeg)!.Open();
                Assert.Equal(sha, Convert.ToHexStringLower(SHA256.HashData(entry)));
            }
            foreach (var required in new[] { "manifest.json", "device.pem", "VERIFY.txt" }) Assert.NotNull(zip.GetEntry(required));
        }
        File.Delete(file);
    }

    /// <summary>JPEGs still held in the agent's store (read from its SQLite file, as an operator could).</summary>
    private static long HeldImages(string dataDirectory)
    {
        using var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(dataDirectory, "evidence.db")};Mode=ReadOnly;Pooling=False");
        db.Open();
        using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT COUNT(*) FROM evidence_bytes";
        return (long)cmd.ExecuteScalar()!;
    }

    /// <summary>A client from its own loopback address (its own rate budget), optionally with a small receive window.</summary>
    private static HttpClient Client(AgentProcess agent, string sourceAddress, int? receiveBuffer = null) => new(new SocketsHttpHandler
    {
        ConnectCallback = async (context, ct) =>
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
            if (receiveBuffer is { } size) socket.ReceiveBufferSize = size;
            socket.Bind(new IPEndPoint(IPAddress.Parse(sourceAddress), 0));
            await socket.ConnectAsync(context.DnsEndPoint, ct);
            return new NetworkStream(socket, ownsSocket: true);
        },
    })
    {
        BaseAddress = agent.Http.BaseAddress,
        Timeout = TimeSpan.FromMinutes(5),
    };
}
