using System.Collections.Concurrent;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.EndToEnd;

/// <summary>What a real site hits sooner or later, against the agent as a process: it keeps running, and sessions stay right.</summary>
[Trait("Agent", "Process")]
public class AgentEdgeProcessTests
{
    private static Dictionary<string, string> Environment(string dataDirectory, int brokerPort, string cameraUrl) => new()
    {
        ["PIORCH_Storage__DataDirectory"] = dataDirectory,
        ["PIORCH_Mqtt__Host"] = "127.0.0.1",
        ["PIORCH_Mqtt__Port"] = brokerPort.ToString(),
        ["PIORCH_Mqtt__ClientId"] = "piorch-edge-" + Guid.NewGuid().ToString("N")[..8],
        ["PIORCH_Mqtt__ReconnectMaxSeconds"] = "2",
        ["PIORCH_Capture__AfterCloseDelayMs"] = "100",
        ["PIORCH_Containers__0__Id"] = "ctr-001",
        ["PIORCH_Containers__0__CameraId"] = "espcam-a1b2c3",
        ["PIORCH_Containers__0__CameraUrl"] = cameraUrl,
        ["PIORCH_Containers__0__FlushFrames"] = "0",
    };

    private static Task WaitCompleteAsync(AgentProcess agent, string sessionId) =>
        Eventually.UntilAsync(async () =>
        {
            using var response = await agent.Http.GetAsync($"/api/v1/sessions/{sessionId}/evidence/pair");
            if (!response.IsSuccessStatusCode) return false;
            return (await AgentApplication.Json(response)).GetProperty("data").GetProperty("pair_status").GetString() == "complete";
        }, TimeSpan.FromSeconds(30), $"session {sessionId} complete");

    [Fact]
    public async Task A_bucket_policy_denying_PutBucket_keeps_the_agent_running_and_uploads_go_on()
    {
        using var data = new TempDirectory();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        await using var s3 = await DenyingS3.StartAsync();
        var environment = Environment(data.Path, broker.Port, camera.Url);
        environment["PIORCH_S3__Endpoint"] = s3.Endpoint;
        environment["PIORCH_S3__Bucket"] = "evidence";
        environment["PIORCH_S3__AccessKey"] = "least-privilege";
        environment["PIORCH_S3__SecretKey"] = "secret";
        environment["PIORCH_S3__RetryBaseDelayMs"] = "100";
        await using var agent = AgentProcess.Start(environment);
        await agent.WaitReadyAsync();
        await agent.WaitForOutputAsync("MQTT connected");
        await Eventually.UntilAsync(() => s3.BucketCreationsRefused > 0, TimeSpan.FromSeconds(20), "the refused PutBucket");

        await broker.PublishAsync("containers/ctr-001/door", """{"event":"opened","event_id":"deny-1","session_id":"sess-deny-1"}""");
        await broker.PublishAsync("containers/ctr-001/door", """{"event":"closed","event_id":"deny-2"}""");
        await WaitCompleteAsync(agent, "sess-deny-1");
        await Eventually.UntilAsync(() => s3.Objects.Count == 2, TimeSpan.FromSeconds(30), "both captures in the bucket");

        var status = await agent.GetDataAsync("/api/v1/status");
        Assert.Contains("AccessDenied", status.GetProperty("upload").GetProperty("last_error").GetString());
        Assert.False(agent.HasExited, agent.Output);
    }

    [Fact]
    public async Task Killed_during_a_slow_test_capture_the_next_door_cycle_still_gets_its_own_session()
    {
        using var data = new TempDirectory();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        var environment = Environment(data.Path, broker.Port, camera.Url);
        environment["PIORCH_Capture__TimeoutMs"] = "60000";
        environment["PIORCH_Capture__AttemptTimeoutMs"] = "60000";
        var port = TestPorts.Free();
        await using (var first = AgentProcess.Start(environment, port))
        {
            await first.WaitReadyAsync();
            camera.SlowDelay = TimeSpan.FromSeconds(30);
            camera.Mode = CameraMode.Slow;
            var capture = first.Http.PostAsync("/api/v1/containers/ctr-001/captures", null);
            await Eventually.UntilAsync(() => camera.CaptureRequests > 0, TimeSpan.FromSeconds(20), "the test capture's camera request");
            await first.KillAsync();
            await Assert.ThrowsAnyAsync<Exception>(() => capture);
        }
        camera.Mode = CameraMode.Healthy;

        await using var second = AgentProcess.Start(environment, port);
        await second.WaitReadyAsync();
        await second.WaitForOutputAsync("MQTT connected");
        await broker.PublishAsync("containers/ctr-001/door", """{"event":"opened","event_id":"site-1","session_id":"sess-site-1"}""");
        await broker.PublishAsync("containers/ctr-001/door", """{"event":"closed","event_id":"site-2"}""");
        await WaitCompleteAsync(second, "sess-site-1");

        var sessions = (await second.GetDataAsync("/api/v1/sessions?container_id=ctr-001")).GetProperty("sessions").EnumerateArray().ToList();
        var manual = Assert.Single(sessions, s => s.GetProperty("id").GetString()!.StartsWith("manual-", StringComparison.Ordinal));
        Assert.Equal("complete", manual.GetProperty("status").GetString());
        var evidence = await second.GetDataAsync($"/api/v1/sessions/{manual.GetProperty("id").GetString()}/evidence?include_image=false");
        var row = Assert.Single(evidence.GetProperty("captures").EnumerateArray());
        Assert.Equal(("MANUAL", "interrupted"), (row.GetProperty("capture_tag").GetString(), row.GetProperty("failure_reason").GetString()));
    }

    /// <summary>
    /// An S3 server whose policy lets this user put and read objects but not create or even HEAD the bucket, as a
    /// least-privilege MinIO user gets: HEAD bucket 404, PUT bucket 403 AccessDenied, objects accepted.
    /// </summary>
    private sealed class DenyingS3 : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private int _refused;

        private DenyingS3(WebApplication app) => _app = app;

        public ConcurrentDictionary<string, byte[]> Objects { get; } = new();
        public int BucketCreationsRefused => Volatile.Read(ref _refused);
        public string Endpoint => _app.Urls.First();

        public static async Task<DenyingS3> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            var app = builder.Build();
            var s3 = new DenyingS3(app);
            app.MapMethods("/{bucket}", ["HEAD"], () => Results.StatusCode(404));
            app.MapPut("/{bucket}", () =>
            {
                Interlocked.Increment(ref s3._refused);
                return Results.Content("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code><Message>Access Denied.</Message></Error>",
                    "application/xml", statusCode: 403);
            });
            app.MapPut("/{bucket}/{**key}", async (string key, HttpRequest request, HttpResponse response) =>
            {
                using var body = new MemoryStream();
                await request.Body.CopyToAsync(body);
                s3.Objects[key] = body.ToArray();
                response.Headers.ETag = $"\"{Convert.ToHexStringLower(MD5.HashData(body.ToArray()))}\"";
            });
            app.MapMethods("/{bucket}/{**key}", ["HEAD"], (string key, HttpResponse response) =>
            {
                if (!s3.Objects.TryGetValue(key, out var bytes)) return Results.StatusCode(404);
                response.ContentLength = bytes.Length;
                response.ContentType = "image/jpeg";
                response.Headers.ETag = $"\"{Convert.ToHexStringLower(MD5.HashData(bytes))}\"";
                return Results.Empty;
            });
            await app.StartAsync();
            return s3;
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
