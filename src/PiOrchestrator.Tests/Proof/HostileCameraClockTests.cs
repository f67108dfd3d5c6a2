using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using PiOrchestrator.Tests.Fixtures;
using Xunit.Abstractions;

namespace PiOrchestrator.Tests.Proof;

/// <summary>
/// The camera's clock (<c>X-Timestamp</c>) and its <c>/status</c> frame size steer the agent's stale-frame check and
/// its deadlines: hostile values of both, from a camera that answers by hand over TCP, against the agent as a process.
/// </summary>
[Trait("Agent", "Process")]
public sealed class HostileCameraClockTests(ITestOutputHelper output)
{
    /// <summary>Answers each connection once: <c>/status</c> with <paramref name="status"/>, <c>/capture</c> with a JPEG and the next header value.</summary>
    private sealed class HandMadeCamera : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _loop;
        private readonly System.Collections.Concurrent.ConcurrentQueue<string> _timestamps;
        private readonly string _status;
        private int _seed = 500;

        public HandMadeCamera(IEnumerable<string> timestamps, string status)
        {
            _timestamps = new System.Collections.Concurrent.ConcurrentQueue<string>(timestamps);
            _status = status;
            _listener.Start();
            _loop = Task.Run(LoopAsync);
        }

        public string Url => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

        public int Captures;

        private async Task LoopAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                using var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                try
                {
                    await AnswerAsync(client.GetStream());
                }
                catch (Exception ex) when (ex is IOException or SocketException)
                {
                    // The agent hung up mid-answer (it refuses a header block over its limit): serve the next one.
                }
            }
        }

        private async Task AnswerAsync(NetworkStream stream)
        {
            var request = new StringBuilder();
            var buffer = new byte[4096];
            while (!request.ToString().Contains("\r\n\r\n"))
            {
                var n = await stream.ReadAsync(buffer, _stop.Token);
                if (n == 0) return;
                request.Append(Encoding.ASCII.GetString(buffer, 0, n));
            }
            byte[] body;
            string headers;
            if (request.ToString().StartsWith("GET /status", StringComparison.Ordinal))
            {
                body = Encoding.UTF8.GetBytes(_status);
                headers = "Content-Type: application/json\r\n";
            }
            else
            {
                body = TestJpegs.Make(Interlocked.Increment(ref _seed));
                var timestamp = _timestamps.TryDequeue(out var next) ? next : "1.000000";
                headers = $"Content-Type: image/jpeg\r\nX-Timestamp: {timestamp}\r\n";
                Interlocked.Increment(ref Captures);
            }
            var head = $"HTTP/1.1 200 OK\r\n{headers}Content-Length: {body.Length}\r\nConnection: close\r\n\r\n";
            await stream.WriteAsync(Encoding.ASCII.GetBytes(head), _stop.Token);
            await stream.WriteAsync(body, _stop.Token);
        }

        public async ValueTask DisposeAsync()
        {
            _stop.Cancel();
            _listener.Stop();
            try { await _loop; } catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException) { }
        }
    }

    [Fact]
    public async Task Hostile_frame_times_and_frame_sizes_are_ignored_in_bounded_memory_and_cpu()
    {
        string[] timestamps =
        [
            new string('9', 31) + ".0", // past the firmware's 32-byte buffer: ignored
            "1e308", "-5.0", "NaN", "0x10", "12.5.6", "", "1000000000.0", // not the firmware's "%d.%06d": ignored
            "500.000000", "100.000000", // the clock going back: a reboot, no judgement
            "999999.000000", // a frame from the future of the last one
            new string('1', 20 * 1024), // over the agent's 16 KB header limit: that grab fails, the next is kept
            "501.000000",
        ];
        const string status = """{"framesize": 99999999999999999999, "nested": [[[[[[[[[[[[{"framesize": 15}]]]]]]]]]]]], "framesize": -3}""";
        await using var camera = new HandMadeCamera(timestamps, status);
        using var data = new TempDirectory();
        await using var agent = AgentProcess.Start(new Dictionary<string, string>
        {
            ["PIORCH_Storage__DataDirectory"] = data.Path,
            ["PIORCH_Mqtt__Enabled"] = "false",
            ["PIORCH_Capture__HealthIntervalSeconds"] = "1",
            ["PIORCH_Capture__ManualCapturesPerHour"] = "0",
            ["PIORCH_Containers__0__Id"] = "ctr-001",
            ["PIORCH_Containers__0__CameraId"] = "espcam-a1b2c3",
            ["PIORCH_Containers__0__CameraUrl"] = camera.Url,
        });
        await agent.WaitReadyAsync();
        var cpuBefore = ProcFs.CpuTime(agent.ProcessId);

        var reasons = new List<string?>();
        for (var i = 0; i < 8; i++)
        {
            using var response = await agent.Http.PostAsync("/api/v1/containers/ctr-001/captures", null);
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            var capture = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("data");
            reasons.Add(capture.GetProperty("status").GetString() == "captured" ? "captured" : capture.GetProperty("failure_reason").GetString());
        }
        // Let the status poll read the hostile /status a few times.
        await Eventually.UntilAsync(async () => (await agent.GetDataAsync("/api/v1/status")).GetProperty("containers")[0]
            .GetProperty("camera").GetProperty("state").GetString() == "online", TimeSpan.FromSeconds(30), "a status poll");

        var camera0 = (await agent.GetDataAsync("/api/v1/status")).GetProperty("containers")[0].GetProperty("camera");
        var peak = ProcFs.PeakRssBytes(agent.ProcessId);
        var cpu = ProcFs.CpuTime(agent.ProcessId) - cpuBefore;
        output.WriteLine($"captures: {string.Join(", ", reasons)}; frame size {camera0.GetProperty("frame_size")}; peak RSS {peak / 1024 / 1024} MB; CPU {cpu.TotalMilliseconds:F0} ms");

        // Bad frame times never fail a good frame: each capture stored one.
        Assert.Equal(8, reasons.Count(r => r == "captured"));
        // A frame size out of esp32-camera's table is not believed: deadlines stay those of the largest size.
        Assert.Equal("5MP", camera0.GetProperty("frame_size").GetString());
        Assert.True(peak < ProcFs.PeakRssLimitBytes, $"peak RSS {peak / 1024 / 1024} MB");
        Assert.True(cpu < TimeSpan.FromSeconds(20), $"CPU {cpu}");
        Assert.False(agent.HasExited);
    }
}
