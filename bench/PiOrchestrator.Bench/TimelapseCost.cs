using System.Diagnostics;
using System.Globalization;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using PiOrchestrator.Tests.Fixtures;
using static PiOrchestrator.Bench.TimelapseTools;

namespace PiOrchestrator.Bench;

/// <summary>
/// What a timelapse costs a site: per frame size, one agent with a container per interval, each with its own test
/// ESP32-CAM (<see cref="FakeCamera"/>: esp32-camera-like frames of about one bit a pixel, paced over 8 Mbit/s); all doors
/// open together for the window, then close. Counted: the DURING_OPEN frames the agent published, the bytes of their
/// objects in s3rver (listed after the upload queue drained), and every byte between the agent and S3 through a
/// counting relay, so the per-object overhead (PUT and HEAD headers, answers) is measured too.
/// </summary>
internal static class TimelapseCost
{
    private static readonly FrameSize[] Sizes = [FrameSize.QVGA, FrameSize.SVGA, FrameSize.UXGA];

    public static async Task<int> RunAsync(string[] args)
    {
        var window = args.Length > 0 ? double.Parse(args[0], CultureInfo.InvariantCulture) : 60;
        var intervals = args.Length > 1 ? args[1].Split(',').Select(s => double.Parse(s, CultureInfo.InvariantCulture)).ToArray() : [1.0, 5.0, 15.0];
        Console.WriteLine($"timelapse cost: doors open {Invariant(window)} s, intervals {string.Join(", ", intervals.Select(i => Invariant(i)))} s, agent {BenchTools.AgentBuild}, load {LoadAverage()}");
        Console.WriteLine("| frame size | interval | frames in window (expected) | frames/min steady (expected) | frame: JPEG + thumbnail | frames in S3: objects / bytes | MB/min uploaded: payload / on the wire | MB/hour stored |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|");
        var failures = 0;
        foreach (var size in Sizes) failures += await RunSizeAsync(size, window, intervals);
        Console.WriteLine($"load after: {LoadAverage()}");
        return failures == 0 ? 0 : 1;
    }

    private static async Task<int> RunSizeAsync(FrameSize size, double window, double[] intervals)
    {
        var work = Directory.CreateTempSubdirectory("piorch-timelapse-cost-");
        var (broker, brokerPort) = await BenchTools.StartMosquittoAsync(work.FullName);
        var s3Port = BenchTools.FreePort();
        using var s3rver = await BenchTools.StartS3rverAsync(Path.Combine(work.FullName, "s3"), s3Port);
        using var proxy = new CountingProxy(s3Port);
        var cameras = new List<FakeCamera>();
        var containers = intervals.Select((_, i) => $"ctr-tl{i}").ToArray();
        var port = BenchTools.FreePort();
        var settings = new Dictionary<string, string>
        {
            ["PIORCH_Capture__AfterCloseDelayMs"] = "100",
            ["PIORCH_S3__Endpoint"] = $"http://127.0.0.1:{proxy.Port}",
            ["PIORCH_S3__Bucket"] = "evidence",
            ["PIORCH_S3__AccessKey"] = "S3RVER",
            ["PIORCH_S3__SecretKey"] = "S3RVER",
        };
        cameras.AddRange(await TimelapseTools.StartCamerasAsync(containers, intervals, size, "espcam-tl", settings));
        var agent = BenchTools.StartAgent(work.FullName, port, brokerPort, cameras[0].Url, settings);
        try
        {
            await CaptureLatency.WaitForAgentAsync(agent, port);
            await using var feed = await EvidenceFeed.StartAsync(brokerPort, containers);
            using var publisher = await BenchTools.ConnectMqttAsync(brokerPort, "bench-pub-" + Environment.ProcessId);

            // Warm-up: one short door cycle per container (the agent learns each camera), uploaded.
            foreach (var c in containers)
            {
                await BenchTools.PublishAsync(publisher, $"containers/{c}/door", "opened");
                await feed.NextAsync(c, "BEFORE_OPEN");
                await BenchTools.PublishAsync(publisher, $"containers/{c}/door", "closed");
                await feed.NextAsync(c, "AFTER_CLOSE");
            }
            await WaitUploadsDrainedAsync(port);
            var storeBefore = StoreBytesInUse(Path.Combine(work.FullName, "data"));

            var openedAt = new Dictionary<string, long>();
            foreach (var c in containers)
            {
                openedAt[c] = Stopwatch.GetTimestamp();
                await BenchTools.PublishAsync(publisher, $"containers/{c}/door", "opened");
            }
            await Task.Delay(TimeSpan.FromSeconds(window));
            foreach (var c in containers) await BenchTools.PublishAsync(publisher, $"containers/{c}/door", "closed");
            var messages = new Dictionary<string, List<Stored>>();
            foreach (var c in containers)
            {
                var list = new List<Stored>();
                list.Add(await feed.NextAsync(c, "AFTER_CLOSE", list));
                messages[c] = list;
            }
            await WaitUploadsDrainedAsync(port);
            var storeGrowth = StoreBytesInUse(Path.Combine(work.FullName, "data")) - storeBefore;

            var objects = await ListBucketAsync(s3Port);
            var (up, down) = proxy.Bytes;
            var overhead = (double)(up + down - objects.Values.Sum()) / objects.Count;
            var storedCaptures = messages.Values.Sum(l => l.Count(m => m.Status == "captured"));
            var storedPerCapture = (double)storeGrowth / storedCaptures;

            for (var i = 0; i < containers.Length; i++)
            {
                var list = messages[containers[i]];
                var before = list.First(m => m.Tag == "BEFORE_OPEN");
                var session = before.SessionId;
                // The first frame comes one interval after BEFORE_OPEN is stored; the window is counted from `opened`.
                var expectedInWindow = Math.Floor((window - Stopwatch.GetElapsedTime(openedAt[containers[i]], before.At).TotalSeconds) / intervals[i]);
                var frames = list.Where(m => m.Tag == "DURING_OPEN" && m.Status == "captured").OrderBy(m => m.Sequence).ToList();
                var prefix = $"evidence/{containers[i]}/{session}/DURING_OPEN_";
                var frameObjects = objects.Where(o => o.Key.StartsWith(prefix, StringComparison.Ordinal)).ToList();
                var expectedPerMinute = 60 / intervals[i];
                var steady = frames.Count >= 2
                    ? (frames.Count - 1) * 60 / (frames[^1].CapturedAt - frames[0].CapturedAt).TotalSeconds
                    : double.NaN;
                var meanBytes = frames.Count > 0 ? frames.Average(f => (double)f.Bytes) : 0;
                var payloadPerMinute = steady * meanBytes;
                var wirePerMinute = steady * (meanBytes + overhead);
                var (jpegStored, thumbStored) = FrameBytesStored(Path.Combine(work.FullName, "data"), session);
                var storedPerHour = steady * 60 * storedPerCapture;
                var (w, h) = FrameSizes.Of(size);
                Console.WriteLine($"| {size} {w}x{h} | {Invariant(intervals[i])} s | {frames.Count} ({expectedInWindow}) | " +
                    $"{steady:F1} ({Invariant(expectedPerMinute, "0.#")}) | {jpegStored / 1e3:F1} + {thumbStored / 1e3:F1} kB | {frameObjects.Count} / {frameObjects.Sum(o => o.Value) / 1e3:F0} kB | " +
                    $"{payloadPerMinute / 1e6:F2} / {wirePerMinute / 1e6:F2} | {storedPerHour / 1e6:F0} |");
                if (frameObjects.Count != frames.Count || frameObjects.Sum(o => o.Value) != frames.Sum(f => f.Bytes))
                    Console.WriteLine($"  MISMATCH {containers[i]}: {frames.Count} frames published, {frameObjects.Count} in S3");
            }
            Console.WriteLine($"  {size}: S3 traffic {up / 1e6:F2} MB up, {down / 1e6:F3} MB down for {objects.Count} objects of {objects.Values.Sum() / 1e6:F2} MB: " +
                $"{overhead / 1e3:F2} kB per object beyond its bytes; store pages in use grew {storeGrowth / 1e6:F2} MB for {storedCaptures} captures ({storedPerCapture / 1e3:F1} kB each: JPEG, thumbnail, row, indexes); load {LoadAverage()}");
            return 0;
        }
        finally
        {
            if (!agent.HasExited) agent.Kill();
            foreach (var camera in cameras) await camera.DisposeAsync();
            s3rver.Kill(entireProcessTree: true);
            broker.Kill();
            work.Delete(recursive: true);
        }
    }

    /// <summary>Every object in the bucket with its size.</summary>
    private static async Task<Dictionary<string, long>> ListBucketAsync(int s3Port)
    {
        using var client = new AmazonS3Client(new BasicAWSCredentials("S3RVER", "S3RVER"), new AmazonS3Config
        {
            ServiceURL = $"http://127.0.0.1:{s3Port}", ForcePathStyle = true, AuthenticationRegion = "us-east-1",
        });
        var stored = new Dictionary<string, long>();
        string? token = null;
        do
        {
            var page = await client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = "evidence", ContinuationToken = token });
            foreach (var o in page.S3Objects ?? []) stored[o.Key] = o.Size ?? 0;
            token = page.IsTruncated == true ? page.NextContinuationToken : null;
        } while (token is not null);
        return stored;
    }
}
